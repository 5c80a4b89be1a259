"""The master stage: trim, sub-sonic high-pass, limiter.

Everything the show makes passes here last, in this order:

- gain: master trim (site calibration) + volume (technician) + mute and opening-hours
  fades, always ramped so that no change is a step;
- a 2nd-order Butterworth high-pass at 20 Hz, so that sub-bass drones never push small
  speakers below what they can play (-12 dB at 10 Hz; 30-45 Hz pass within 0.8 dB).
  One section rather than two: it runs on every block, and 12 dB/octave is enough
  below a drone that sits at 30 Hz or above;
- the cut of the scene, when one scene alone is heard (see ``process``);
- the look-ahead limiter holding every sample at or below the ceiling (-1 dBFS).
"""

import math

import numpy as np

from severed.engine.compiled import kernels

from severed.engine.dsp.filters import Biquad
from severed.engine.dsp.modulation import linear_ramp
from severed.engine.limiter import Limiter

SUBSONIC_HZ = 20.0


def db_to_gain(db):
    return 0.0 if db <= -120.0 else 10.0 ** (db / 20.0)


class GainRamp:
    """A gain that moves linearly to its target over a set time, sample by sample."""

    def __init__(self, sample_rate, gain=1.0, max_frames=2048):
        self.sample_rate = sample_rate
        self.value = float(gain)
        self.target = float(gain)
        self.step = 0.0  # change per frame while moving
        self._ramp = np.empty(max_frames, np.float32)

    def set(self, gain, ramp_s):
        self.target = float(gain)
        frames = max(1.0, ramp_s * self.sample_rate)
        self.step = (self.target - self.value) / frames

    @property
    def settled(self):
        return self.value == self.target

    def apply(self, block, frames):
        """Multiply block[:frames] (frames, channels) by the gain, ramping if moving."""
        if self.settled:
            if self.value != 1.0:
                np.multiply(block[:frames], np.float32(self.value), out=block[:frames])
            return
        ramp = linear_ramp(self._ramp[:frames], self.value, self.step)
        lo, hi = sorted((self.value, self.target))
        np.clip(ramp, lo, hi, out=ramp)
        self.value = float(ramp[-1])
        if abs(self.value - self.target) < 1e-7:
            self.value = self.target
        np.multiply(block[:frames], ramp[:, None], out=block[:frames])


class Master:
    def __init__(self, sample_rate, channels=2, max_frames=2048, trim_db=0.0, ceiling_db=-1.0):
        self.trim_db = trim_db
        self.volume_db = 0.0
        self.muted = False
        self.closed = False  # outside opening hours
        self.gain = GainRamp(sample_rate, db_to_gain(trim_db), max_frames)
        self.highpass = Biquad(sample_rate, "highpass", SUBSONIC_HZ, q=0.7071,
                               channels=channels, max_frames=max_frames)
        self.limiter = Limiter(sample_rate, channels, max_frames, ceiling_db=ceiling_db)

    def target_gain(self):
        if self.muted or self.closed:
            return 0.0
        return db_to_gain(self.trim_db + self.volume_db)

    def update(self, ramp_s, *, volume_db=None, muted=None, closed=None, trim_db=None):
        if volume_db is not None:
            self.volume_db = volume_db
        if muted is not None:
            self.muted = muted
        if closed is not None:
            self.closed = closed
        if trim_db is not None:
            self.trim_db = trim_db
        self.gain.set(self.target_gain(), ramp_s)

    def process(self, block, frames, cut=None):
        """Gain, high-pass and limit block[:frames] in place. ``cut``: the SceneCut of
        the only scene heard in the block, applied after the high-pass: a cut made
        before it would set the filter ringing, letting go of the lowest frequencies
        it was holding back (a thump of up to -30 dBFS after a sub-bass drone)."""
        if not math.isfinite(kernels.levels(block, frames)[1]):
            # Last line of defence (layers are checked one by one): never let a NaN
            # into the high-pass, whose state would keep it for ever.
            np.nan_to_num(block[:frames], copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            self.reset()
        self.gain.apply(block, frames)
        self.highpass.process(block[:frames], block[:frames])
        if cut is not None:
            cut.apply(block, frames)
        self.limiter.process(block, frames)

    def reset(self):
        self.highpass.reset()
        self.limiter.reset()
