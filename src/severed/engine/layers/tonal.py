"""Pitched layers: oscillator voices, detuned pads, mains hum."""

import math

import numpy as np

from severed.engine.compiled import kernels
from severed.engine.dsp.filters import Biquad
from severed.engine.dsp.modulation import Drift
from severed.engine.dsp.oscillators import Oscillator
from severed.engine.layers.base import Layer, register
from severed.engine.params import Param

SHAPES = ("sine", "saw", "square", "triangle")


def _spread_matrix(voices, channels, spread):
    """Voice -> channel gains: voices alternate left/right by ``spread`` (0 centre, 1
    hard), with the constant-power pan law (-3 dB each side at the centre, 0 dB on the
    side a voice is panned hard to)."""
    m = np.zeros((voices, channels), np.float32)
    if channels == 1:
        m[:, 0] = 1.0
        return m
    for v in range(voices):
        side = -1.0 if v % 2 == 0 else 1.0  # voice 1 (index 0) left, voice 2 right, ...
        pan = 0.5 + 0.5 * side * spread  # 0 left .. 1 right
        m[v, 0] = math.cos(pan * math.pi / 2)
        m[v, 1] = math.sin(pan * math.pi / 2)
    return m


@register
class Pad(Layer):
    """Detuned oscillator voices drifting out of tune, through a resonant low-pass.

    Each voice plays at amplitude 1 before the layer gain; voices alternate left and
    right by ``spread``. The drift is a slow random walk per voice of at most
    ``drift_cents``, changing at about ``drift_hz``.
    """

    TYPE = "pad"
    DOC = "detuned analog-style pad: band-limited voices, random pitch drift, resonant low-pass"
    PARAMS = (
        Param("freqs_hz", [110.0, 110.6, 164.8], kind=list, automatable=False,
              doc="base frequency of each voice"),
        Param("shape", "saw", choices=SHAPES, kind=str, automatable=False),
        Param("transpose", 0.0, min=-48.0, max=48.0, doc="semitones, for all voices"),
        Param("drift_cents", 10.0, min=0.0, max=100.0, automatable=False),
        Param("drift_hz", 0.1, min=0.001, max=5.0, automatable=False),
        Param("spread", 1.0, min=0.0, max=1.0, automatable=False,
              doc="0: voices centred; 1: alternate hard left/right"),
        Param("cutoff_hz", 1200.0, min=20.0, max=20000.0),
        Param("resonance", 0.7071, min=0.1, max=20.0, doc="Q of the low-pass"),
    )

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.base = [float(f) for f in self.params["freqs_hz"]]
        n = len(self.base)
        self.osc = Oscillator(ctx.sample_rate, self.params["shape"], voices=n,
                              max_frames=ctx.max_frames,
                              phase=ctx.rng.random(n))
        self.drift = Drift(n, self.params["drift_cents"], self.params["drift_hz"], ctx.rng)
        self.mix = _spread_matrix(n, ctx.channels, self.params["spread"])
        self.filter = Biquad(ctx.sample_rate, "lowpass", 1000.0, q=0.7071,
                             channels=ctx.channels, max_frames=ctx.max_frames)
        self._mixed = np.zeros((ctx.max_frames, ctx.channels), np.float32)
        self._started = False

    def reset(self):
        self.osc.reset()
        self.filter.reset()
        self._started = False

    def process(self, out, frames, controls):
        p = self.params
        t = controls.t + frames / self.ctx.sample_rate  # pitch reached at the block end
        shift = 100.0 * p["transpose"].value(controls)
        freqs = [f * 2.0 ** ((d + shift) / 1200.0)
                 for f, d in zip(self.base, self.drift.value(t))]
        mixed = self.osc.render_mix(self._mixed, frames, freqs, self.mix)
        self.filter.set(freq_hz=p["cutoff_hz"].value(controls), q=p["resonance"].value(controls))
        if not self._started:  # no sweep from the constructor's cutoff on the first block
            self.filter.reset()
            self._started = True
        self.filter.process(mixed, mixed)
        out[:frames] += mixed


@register
class Tone(Layer):
    """One oscillator: a plain tone for tests, calibration and simple shows."""

    TYPE = "tone"
    DOC = "a single band-limited oscillator"
    PARAMS = (
        Param("shape", "sine", choices=SHAPES, kind=str, automatable=False),
        Param("freq_hz", 440.0, min=1.0, max=20000.0),
    )

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.osc = Oscillator(ctx.sample_rate, self.params["shape"], voices=1,
                              max_frames=ctx.max_frames)
        self._buf = np.zeros((1, ctx.max_frames), np.float32)

    def reset(self):
        self.osc.reset()

    def process(self, out, frames, controls):
        self.osc.render(self._buf, frames, self.params["freq_hz"].value(controls))
        out[:frames] += self._buf[0, :frames, None]


@register
class Hum(Layer):
    """Fluorescent-light hum: harmonics of twice the mains frequency, flickering.

    Partial n has amplitude 1/n before the layer gain. The whole hum is modulated by
    ``1 - flicker_depth * sin(2 pi flicker_hz t)``; mono (the same on every channel).
    The partials share one period, so they are summed once into a single-cycle table
    and played as one voice (the compiled kernel ``hum``): a fraction of the cost of a
    bank of sines.
    """

    TYPE = "hum"
    DOC = "mains hum: harmonics of 2x the site's mains frequency with flicker"
    PARAMS = (
        Param("freq_hz", 0.0, min=0.0, max=2000.0, automatable=False,
              doc="fundamental; 0 means twice the site's mains frequency"),
        Param("partials", 8, min=1, max=32, kind=int, automatable=False),
        Param("flicker_hz", 7.0, min=0.0, max=50.0),
        Param("flicker_depth", 0.3, min=0.0, max=1.0),
    )

    TABLE_BITS = 12

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        sr = ctx.sample_rate
        self.f0 = self.params["freq_hz"] or 2.0 * ctx.mains_hz
        n = np.arange(1, self.params["partials"] + 1)
        n = n[n * self.f0 < 0.45 * sr]
        size = 1 << self.TABLE_BITS
        x = np.arange(size + 1) / size
        table = (np.sin(2 * np.pi * np.outer(x, n)) / n).sum(axis=1)
        self.table = table[:-1].astype(np.float32)
        self.slope = np.diff(table).astype(np.float32)
        self.inc = np.uint32(round(self.f0 / sr * 2.0 ** 32))  # phase step, 32-bit turns
        self.frac_bits = 32 - self.TABLE_BITS
        self._state = np.zeros(2)  # table phase (2**32 = one cycle), flicker phase
        self.reset()

    def reset(self):
        self._state[:] = 0.0

    def process(self, out, frames, controls):
        p = self.params
        depth = p["flicker_depth"].value(controls)
        inc = 2 * math.pi * p["flicker_hz"].value(controls) / self.ctx.sample_rate
        kernels.hum(out, frames, self.table, self.slope, self._state, int(self.inc),
                    self.frac_bits, inc, depth)
