"""Unpitched layers: filtered noise beds and click trains."""

import numpy as np

from severed.engine.compiled import kernels
from severed.engine.dsp.filters import Biquad
from severed.engine.dsp.noise import Noise
from severed.engine.layers.base import Layer, register
from severed.engine.params import Controls, Param

_REST = Controls()  # controls at rest (t = 0, no tension), for initial settings

FILTERS = ("none", "lowpass", "highpass", "bandpass")


@register
class NoiseBed(Layer):
    """Coloured noise through an optional filter, independent on each channel: wind,
    snow, room tone, air conditioning."""

    TYPE = "noise"
    DOC = "filtered noise bed (white, pink or brown), independent per channel"
    PARAMS = (
        Param("color", "pink", choices=("white", "pink", "brown"), kind=str, automatable=False),
        Param("filter", "none", choices=FILTERS, kind=str, automatable=False),
        Param("cutoff_hz", 1000.0, min=20.0, max=20000.0, doc="filter frequency"),
        Param("q", 0.7071, min=0.1, max=20.0, doc="filter Q"),
    )

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.noise = Noise(self.params["color"], ctx.rng, channels=ctx.channels,
                           max_frames=ctx.max_frames)
        kind = self.params["filter"]
        self.filter = None if kind == "none" else Biquad(
            ctx.sample_rate, kind, self._cutoff(), q=self.params["q"].value(_REST),
            channels=ctx.channels, max_frames=ctx.max_frames)
        self._buf = np.zeros((ctx.max_frames, ctx.channels), np.float32)

    def _cutoff(self, controls=None):
        return self.params["cutoff_hz"].value(controls or _REST)

    def reset(self):
        self.noise.reset()
        if self.filter is not None:
            self.filter.reset()

    def process(self, out, frames, controls):
        buf = self._buf[:frames]
        self.noise.render(buf, frames)
        if self.filter is not None:
            self.filter.set(freq_hz=self._cutoff(controls), q=self.params["q"].value(controls))
            self.filter.process(buf, buf)
        out[:frames] += buf


@register
class Clicks(Layer):
    """A train of short noise clicks through a band-pass: printers, relays, ticking.

    Each click is a ``click_ms`` burst of white noise with an exponential decay
    (``decay_ms`` time constant), band-passed at ``tone_hz``; peak about 1 before the
    layer gain. ``rate_hz`` may follow tension; ``jitter`` (0..1) moves each click by up
    to that share of the interval. Mono.
    """

    TYPE = "clicks"
    DOC = "click train (noise bursts through a band-pass) whose rate can follow tension"
    PARAMS = (
        Param("rate_hz", 4.0, min=0.0, max=100.0),
        Param("jitter", 0.0, min=0.0, max=1.0, automatable=False),
        Param("click_ms", 5.0, min=0.1, max=100.0, automatable=False),
        Param("decay_ms", 1.0, min=0.05, max=100.0, automatable=False),
        Param("tone_hz", 3000.0, min=100.0, max=16000.0),
        Param("q", 4.0, min=0.3, max=30.0, automatable=False),
    )

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        sr = ctx.sample_rate
        p = self.params
        self.rng = ctx.rng
        n = max(1, int(round(p["click_ms"] * sr / 1000.0)))
        # Envelope of one click; a fresh noise burst is drawn for each click.
        self.env = np.exp(-np.arange(n) / (p["decay_ms"] * sr / 1000.0)).astype(np.float32)
        # A band-pass with 0 dB peak loses the noise outside its band: make up for it
        # so that the click peaks near 1 (noise power in the band is ~ bandwidth / Nyquist).
        bandwidth = p["tone_hz"].value(_REST) / p["q"]
        self.makeup = np.float32(min(8.0, np.sqrt((sr / 2) / bandwidth)))
        self.filter = Biquad(sr, "bandpass", p["tone_hz"].value(_REST), q=p["q"],
                             channels=1, max_frames=ctx.max_frames)
        self._exc = np.zeros((ctx.max_frames + n, 1), np.float32)
        self.phase = 0.0  # cycles since the last click, in [0, 1)
        self.pending = 0  # frames of excitation spilling into the next block
        self._last_frames = 0

    def reset(self):
        self.filter.reset()
        self._exc[:] = 0.0
        self.phase = 0.0
        self.pending = 0

    def _onsets(self, frames, rate):
        """Frame offsets of the clicks that start in this block."""
        inc = rate / self.ctx.sample_rate
        if inc <= 0.0:
            return ()
        first = (1.0 - self.phase) / inc  # frames until the phase next reaches 1
        count = int(np.floor((frames - 1 - first) / (1.0 / inc))) + 1 if first <= frames - 1 else 0
        self.phase = (self.phase + frames * inc) % 1.0
        if count <= 0:
            return ()
        at = first + np.arange(count) / inc
        jitter = self.params["jitter"]
        if jitter > 0.0:
            at = at + self.rng.uniform(0.0, jitter / inc, count)
        return np.minimum(at.astype(np.intp), frames - 1)

    def process(self, out, frames, controls):
        p = self.params
        exc = self._exc
        n = len(self.env)
        # Carry the tail of a click that started near the end of the last block.
        if self.pending:
            exc[:self.pending] = exc[self._last_frames:self._last_frames + self.pending]
        exc[self.pending:frames + n] = 0.0
        for at in self._onsets(frames, p["rate_hz"].value(controls)):
            exc[at:at + n, 0] += self.rng.uniform(-1.0, 1.0, n).astype(np.float32) * self.env
        self.pending = n
        self._last_frames = frames
        self.filter.set(freq_hz=p["tone_hz"].value(controls))
        y = exc[:frames]
        self.filter.process(y, y)
        kernels.add_mono(out, y, frames, self.makeup)
