"""A picture of a render: spectrogram with the scene timeline and the events above it.

The spectrogram is gathered while rendering (a tap on the loop), one column per block
on a log-frequency axis, so a render of any length costs a few MB here rather than
holding the audio. matplotlib is an optional extra, imported only when drawing.
"""

import numpy as np

from severed.errors import SeveredError

F_LO, F_HI, BINS = 20.0, 20000.0, 160
FFT_SIZE = 4096


class SpectrogramTap:
    """Collects, for each block, the level (dBFS) of the mono mix in log-spaced bands."""

    def __init__(self, sample_rate):
        self.sample_rate = sample_rate
        self.columns = []
        self.times = []
        self.frames = 0
        self.freqs = np.fft.rfftfreq(FFT_SIZE, 1.0 / sample_rate)
        self.edges = np.geomspace(F_LO, min(F_HI, sample_rate / 2), BINS + 1)
        self.window = np.hanning(FFT_SIZE).astype(np.float32)
        self.norm = 2.0 / self.window.sum()
        self.bin_hz = sample_rate / FFT_SIZE

    def __call__(self, block):
        mono = block.mean(axis=1)
        n = min(len(mono), FFT_SIZE)
        buf = np.zeros(FFT_SIZE, np.float32)
        buf[:n] = mono[:n] * self.window[:n]
        power = (np.abs(np.fft.rfft(buf)) * self.norm) ** 2
        # Mean power in each log-spaced band: the integral of the spectrum, taken as
        # piecewise linear, between the band's edges. Low bands are narrower than an FFT
        # bin; integrating rather than picking bins keeps them from striping.
        integral = np.concatenate(([0.0], np.cumsum((power[1:] + power[:-1]) / 2 * self.bin_hz)))
        at_edges = np.interp(self.edges, self.freqs, integral)
        band = np.diff(at_edges) / np.diff(self.edges)
        self.columns.append((10 * np.log10(band + 1e-14)).astype(np.float32))
        self.times.append(self.frames / self.sample_rate)
        self.frames += len(block)


def draw(path, tap, records, title=""):
    """Write a PNG: the spectrogram, the scene timeline and the events above it."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SeveredError("drawing needs matplotlib: pip install 'severed[plot]'") from exc
    duration = tap.frames / tap.sample_rate
    fig, (ax_ev, ax_sc, ax_sp) = plt.subplots(
        3, 1, figsize=(12, 6), sharex=True, gridspec_kw={"height_ratios": [1.2, 0.5, 5]})
    spans = _scene_spans(records, duration)
    colours = {}
    for start, end, scene in spans:
        c = colours.setdefault(scene, plt.cm.tab10(len(colours) % 10))
        ax_sc.axvspan(start, end, color=c, alpha=0.8)
        if end - start > duration * 0.03:
            ax_sc.text((start + end) / 2, 0.5, scene, ha="center", va="center", fontsize=8)
    ax_sc.set_yticks([])
    ax_sc.set_ylabel("scene", rotation=0, ha="right", va="center")
    events = [r for r in records if r["type"] in ("sensor", "fault", "command", "overlay")]
    for i, r in enumerate(events):
        label = {"sensor": lambda r: f"{r['sensor']}.{r['state']}",
                 "fault": lambda r: f"{r['sensor']} fault",
                 "command": lambda r: r["command"],
                 "overlay": lambda r: f"{r['name']} {'on' if r['on'] else 'off'}"}[r["type"]](r)
        ax_ev.axvline(r["t"], color="0.4", lw=0.6)
        ax_ev.text(r["t"], 0.05 + 0.25 * (i % 4), label, fontsize=7, rotation=0)
    ax_ev.set_yticks([])
    ax_ev.set_ylim(0, 1.1)
    ax_ev.set_ylabel("events", rotation=0, ha="right", va="center")
    if tap.columns:
        data = np.array(tap.columns).T
        t = np.append(np.array(tap.times), duration)
        ax_sp.pcolormesh(t, tap.edges, data, vmin=-100, vmax=-10, cmap="magma", shading="flat")
    ax_sp.set_yscale("log")
    ax_sp.set_ylim(F_LO, tap.edges[-1])
    ax_sp.set_ylabel("Hz")
    ax_sp.set_xlabel("seconds")
    ax_sp.set_xlim(0, max(duration, 1e-3))
    if title:
        ax_ev.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _scene_spans(records, duration):
    spans, current, since = [], None, 0.0
    for r in records:
        if r["type"] == "start":
            current, since = r["scene"], r["t"]
        elif r["type"] == "scene":
            if current is not None:
                spans.append((since, r["t"], current))
            current, since = r["to"], r["t"]
    if current is not None:
        spans.append((since, duration, current))
    return spans
