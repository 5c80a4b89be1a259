"""Offline helpers for instrument recipes: the render-time DSP kit applied to whole
signals (no real-time constraints here; allocation is fine)."""

import numpy as np

from severed.engine.dsp.filters import Biquad
from severed.engine.dsp.reverb import Reverb

BLOCK = 4096


def filtered(x, sample_rate, kind, freq_hz, q=0.7071, gain_db=0.0):
    """``x`` (frames,) or (frames, channels) through one constant biquad; a new array."""
    a = np.ascontiguousarray(x, np.float32)
    flat = a.ndim == 1
    if flat:
        a = a[:, None]
    f = Biquad(sample_rate, kind, freq_hz, q=q, gain_db=gain_db, channels=a.shape[1],
               max_frames=BLOCK)
    out = np.empty_like(a)
    for i in range(0, len(a), BLOCK):
        f.process(a[i:i + BLOCK], out[i:i + BLOCK])
    return out[:, 0] if flat else out


def swept(x, sample_rate, kind, freqs_hz, q=0.7071):
    """``x`` (frames,) through a biquad whose frequency follows ``freqs_hz``, one value
    per block of BLOCK frames (the filter glides between them)."""
    a = np.ascontiguousarray(x, np.float32)[:, None]
    f = Biquad(sample_rate, kind, float(freqs_hz[0]), q=q, channels=1, max_frames=BLOCK)
    out = np.empty_like(a)
    for k, i in enumerate(range(0, len(a), BLOCK)):
        f.set(freq_hz=float(freqs_hz[min(k, len(freqs_hz) - 1)]))
        f.process(a[i:i + BLOCK], out[i:i + BLOCK])
    return out[:, 0]


def reverb(x, sample_rate, decay_s, damping=0.5, predelay_ms=20.0, mix=0.3):
    """Mono ``x`` plus a stereo tail of the project's reverb: (frames, 2), the input
    extended by 1.5 decay times so the tail is not cut."""
    tail = int(1.5 * decay_s * sample_rate)
    src = np.zeros((len(x) + tail, 2), np.float32)
    src[:len(x), 0] = x
    src[:len(x), 1] = x
    verb = Reverb(sample_rate, decay_s=decay_s, damping=damping, predelay_ms=predelay_ms,
                  channels=2, max_frames=BLOCK)
    wet = np.empty_like(src)
    for i in range(0, len(src), BLOCK):
        verb.process(src[i:i + BLOCK], wet[i:i + BLOCK])
    return (1.0 - mix) * src + mix * wet


def normalise(x, peak):
    """Scale to the given peak (linear); silence stays silence."""
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return (x * (peak / m)).astype(np.float32) if m > 0.0 else x.astype(np.float32)


def fade_tail(x, sample_rate, fade_s=0.05):
    """A short cosine fade at the end, so a one-shot never stops on a step."""
    n = min(len(x), max(1, int(fade_s * sample_rate)))
    ramp = 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n))
    x[-n:] *= ramp[:, None] if x.ndim == 2 else ramp
    return x


def raised_attack(n_total, sample_rate, attack_s):
    """An envelope rising along half a cosine over attack_s, then 1."""
    env = np.ones(n_total)
    n = min(n_total, max(1, int(attack_s * sample_rate)))
    env[:n] = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))
    return env
