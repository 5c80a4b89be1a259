"""The ``drone`` layer: sub-bass you feel rather than hear, and slow glides.

A few sine (or triangle, or saw) voices around ``freq_hz``, detuned by ``detune_cents`` so
they beat slowly against each other, each drifting at random by up to
``drift_cents``; ``bend`` (semitones, automatable) moves them all, for the elevator's
falling or rising glide. ``drive`` >= 1 saturates softly (tanh), adding the odd
harmonics that let a small speaker suggest a fundamental it cannot play (tanh is odd:
it adds no difference tones below the voices). Every voice is clamped at or above
25 Hz, and the master's 20 Hz high-pass removes anything lower, to spare small
speakers; mono, the same on every channel, peak about 1 before the layer gain.

    [scenes.descent.layers.sub]
    type = "drone"
    freq_hz = 38
    bend = { from = 0, to = -5, over_s = 9 }
    gain_db = { from = -40, to = -14, over_s = 8 }
"""

import numpy as np

from severed.engine.compiled import kernels
from severed.engine.dsp.modulation import Drift
from severed.engine.dsp.oscillators import Oscillator
from severed.engine.dsp.saturation import soft_clip
from severed.engine.layers.base import Layer, register
from severed.engine.params import Param

FLOOR_HZ = 25.0


@register
class Drone(Layer):
    TYPE = "drone"
    DOC = "sub-bass drone: detuned sines drifting slowly, bendable, never below 25 Hz"
    PARAMS = (
        Param("freq_hz", 36.0, min=0.0, max=2000.0,
              doc="centre frequency; 0: twice the site's mains frequency (a ballast buzz)"),
        Param("bend", 0.0, min=-48.0, max=48.0, doc="semitones added to every voice"),
        Param("voices", 3, min=1, max=8, kind=int, automatable=False),
        Param("detune_cents", 6.0, min=0.0, max=100.0, automatable=False,
              doc="voices spread evenly over +- this"),
        Param("drift_cents", 4.0, min=0.0, max=100.0, automatable=False,
              doc="largest random drift of a voice"),
        Param("drift_hz", 0.05, min=0.001, max=5.0, automatable=False),
        Param("shape", "sine", choices=("sine", "triangle", "saw"), kind=str,
              automatable=False,
              doc="triangle at the mains with a strong drive: a ballast's buzz"),
        Param("drive", 1.0, min=1.0, max=8.0, automatable=False,
              doc="soft saturation; 1 leaves the sines clean"),
        Param("stop_after_s", 0.0, min=0.0, max=86400.0, automatable=False,
              doc="fall silent (and cost nothing) this long after the scene is entered, "
                  "for a bleed that has faded out; 0: never"),
    )

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        p = self.params
        n = p["voices"]
        spread = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
        self.detune = (spread * p["detune_cents"]).tolist()
        self._still = [0.0] * n
        self.osc = Oscillator(ctx.sample_rate, p["shape"], voices=n, max_frames=ctx.max_frames,
                              phase=ctx.rng.random(n))
        self.drift = Drift(n, p["drift_cents"], p["drift_hz"], ctx.rng) \
            if p["drift_cents"] > 0 else None
        self.weights = np.full((n, 1), 1.0 / n, np.float32)  # voices -> one mono bus
        self._mono = np.zeros((ctx.max_frames, 1), np.float32)

    def reset(self):
        self.osc.reset()

    def process(self, out, frames, controls):
        p = self.params
        if 0.0 < p["stop_after_s"] < controls.scene_s:
            return
        t = controls.t + frames / self.ctx.sample_rate
        bend = 100.0 * p["bend"].value(controls)
        drift = self.drift.value(t) if self.drift is not None else self._still
        f0 = p["freq_hz"].value(controls) or 2.0 * self.ctx.mains_hz
        # A few voices at control rate: plain floats cost less than numpy calls.
        freqs = [max(f0 * 2.0 ** ((d + bend + w) / 1200.0), FLOOR_HZ)
                 for d, w in zip(self.detune, drift)]
        mono = self.osc.render_mix(self._mono, frames, freqs, self.weights)
        if p["drive"] > 1.0:
            soft_clip(mono, p["drive"], out=mono)
        kernels.add_mono(out, mono, frames, 1.0)
