"""Soft saturation: tanh-style clipping that leaves quiet signals untouched.

``soft_clip(x, drive)`` is ``tanh(drive * x) / drive``: unity gain for small signals at
any drive, rounding peaks off smoothly; with drive >= 1 the output is strictly within
(-1, 1), so it can be the last stage before the DAC. ``Saturator`` adds a wet/dry mix and
ramps changes of drive and mix across the block, so turning it never clicks.

Use::

    y = soft_clip(block, drive=2.0, out=block)     # in place, any shape

    sat = Saturator(drive_db=6.0, mix=0.5, sample_rate=48000)
    sat.process(block, block)       # block is (frames,) or (frames, channels)
    sat.drive_db = 12.0             # reached over the next ramp_s
"""

import numpy as np

from severed.engine.dsp.modulation import Smoother

# float32 tanh is exactly +/-1 beyond |x| ~ 9: scaling by the largest float32 below 1
# keeps the bound strict at the cost of a gain error of 6e-8, with no extra pass.
_BELOW_ONE = 1.0 - 2.0 ** -24


def soft_clip(x, drive=1.0, out=None):
    """tanh(drive * x) / drive, clamped strictly inside (-1, 1); drive must be >= 1.

    ``out`` may be ``x`` itself; without it a new float32 array is returned."""
    if drive < 1.0:
        raise ValueError(f"soft_clip drive must be 1 or more, not {drive}")
    if out is None:
        out = np.empty(np.shape(x), np.float32)
    if drive == 1.0:
        np.tanh(x, out=out)
        np.multiply(out, _BELOW_ONE, out=out)
    else:
        np.multiply(x, np.float32(drive), out=out)
        np.tanh(out, out=out)
        np.multiply(out, np.float32(_BELOW_ONE / drive), out=out)
    return out


class Saturator:
    """Soft saturation with wet/dry ``mix`` (0 dry .. 1 wet) and ``drive_db`` (>= 0).

    ``process(x, out)`` handles (frames,) or (frames, channels) float32 blocks of up to
    ``max_frames`` frames; ``out`` may be ``x``. Drive and mix changes are ramped
    over ``ramp_s`` (per sample; drive linearly in dB), so there is no step in the output.
    """

    def __init__(self, drive_db=0.0, mix=1.0, sample_rate=48000, max_frames=2048,
                 ramp_s=0.05):
        self.max_frames = int(max_frames)
        # Drive is ramped in dB: a linear ramp of the gain would do most of its audible
        # change in the first few milliseconds.
        self._gain(drive_db)
        self._drive = Smoother(float(drive_db), ramp_s, sample_rate)
        self._mix = Smoother(self._check_mix(mix), ramp_s, sample_rate)
        self._drive_db = float(drive_db)
        self._ramp = np.zeros(self.max_frames, np.float32)
        self._ramp2 = np.zeros(self.max_frames, np.float32)
        self._wet = {}  # scratch per block shape (frames, channels), made on first use

    @staticmethod
    def _gain(drive_db):
        if drive_db < 0:
            raise ValueError(f"Saturator drive_db must be 0 or more, not {drive_db}")
        return 10.0 ** (drive_db / 20.0)

    @staticmethod
    def _check_mix(mix):
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"Saturator mix must be within 0..1, not {mix}")
        return float(mix)

    @property
    def drive_db(self):
        return self._drive_db

    @drive_db.setter
    def drive_db(self, value):
        self._gain(value)
        self._drive.set(float(value))
        self._drive_db = float(value)

    @property
    def mix(self):
        return self._mix.target

    @mix.setter
    def mix(self, value):
        self._mix.set(self._check_mix(value))

    def reset(self):
        """Jump to the targets (no state otherwise)."""
        self._drive.jump(self._drive.target)
        self._mix.jump(self._mix.target)

    def _scratch(self, shape):
        wet = self._wet.get(shape[1:])
        if wet is None:
            wet = self._wet[shape[1:]] = np.zeros((self.max_frames,) + tuple(shape[1:]),
                                                  np.float32)
        return wet[:shape[0]]

    def process(self, x, out):
        """Write the saturated block into ``out`` (same shape as ``x``) and return it."""
        frames = x.shape[0]
        wet = self._scratch(x.shape)
        if self._drive.settled and self._mix.settled:
            drive, mix = self._gain(self._drive.value), self._mix.value
            if mix == 0.0:
                np.copyto(out, x)
                return out
            soft_clip(x, drive, out=wet)
            if mix == 1.0:
                np.copyto(out, wet)
                return out
            # out = x + mix * (wet - x)
            np.subtract(wet, x, out=wet)
            np.multiply(wet, np.float32(mix), out=wet)
            np.add(x, wet, out=out)
            return out
        # Ramping: per-sample drive g and mix m; wet = tanh(g x) / g.
        g = self._drive.ramp(self._ramp, frames)
        np.multiply(g, np.float32(np.log(10.0) / 20.0), out=g)
        np.exp(g, out=g)  # per-sample drive gain
        m = self._mix.ramp(self._ramp2, frames)
        if x.ndim > 1:
            g = g.reshape((frames,) + (1,) * (x.ndim - 1))
            m = m.reshape(g.shape)
        np.multiply(x, g, out=wet)
        np.tanh(wet, out=wet)
        np.divide(wet, g, out=wet)
        np.subtract(wet, x, out=wet)
        np.multiply(wet, m, out=wet)
        np.add(x, wet, out=out)
        return out
