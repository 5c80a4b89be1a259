"""Oracle for the hum kernel: the numpy Hum layer the engine used before its kernels
were compiled (a single-cycle table read by a uint32 phase, a float32 sine flicker)."""

import math

import numpy as np


class Hum:
    """Fluorescent-light hum: harmonics of twice the mains frequency, flickering.

    Partial n has amplitude 1/n before the layer gain. The whole hum is modulated by
    ``1 - flicker_depth * sin(2 pi flicker_hz t)``; mono (the same on every channel).
    The partials share one period, so they are summed once into a single-cycle table
    and played as one voice: a fraction of the cost of a bank of sines.
    """

    TABLE_BITS = 12

    def __init__(self, ctx, params):
        self.ctx = ctx
        self.params = params
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
        m = ctx.max_frames
        self._k32 = np.arange(m, dtype=np.uint32)
        self._kf = np.arange(m, dtype=np.float32)
        self._phase = np.zeros(m, np.uint32)
        self._idx = np.zeros(m, np.intp)  # take() wants intp (32-bit on armhf)
        self._frac = np.zeros(m, np.float32)
        self._mono = np.zeros(m, np.float32)
        self._slope = np.zeros(m, np.float32)
        self._flick = np.zeros(m, np.float32)
        self.reset()

    def reset(self):
        self.phase = np.uint32(0)
        self.flicker_phase = 0.0

    def process(self, out, frames, controls):
        p = self.params
        phase = self._phase[:frames]
        np.multiply(self._k32[:frames], self.inc, out=phase)
        phase += self.phase
        self.phase = np.uint32((int(self.phase) + int(self.inc) * frames) & 0xFFFFFFFF)
        idx = self._idx[:frames]
        np.right_shift(phase, self.frac_bits, out=idx)
        frac = self._frac[:frames]
        np.bitwise_and(phase, (1 << self.frac_bits) - 1, out=phase)
        np.multiply(phase, np.float32(2.0 ** -self.frac_bits), out=frac, casting="unsafe")
        mono = self._mono[:frames]
        slope = self._slope[:frames]
        np.take(self.table, idx, out=mono)
        np.take(self.slope, idx, out=slope)
        slope *= frac
        mono += slope
        depth = p["flicker_depth"]
        if depth > 0.0:
            inc = 2 * math.pi * p["flicker_hz"] / self.ctx.sample_rate
            f = self._flick[:frames]
            # float32 is precise enough here: the phase is wrapped every block
            np.multiply(self._kf[:frames], np.float32(inc), out=f)
            f += np.float32(self.flicker_phase)
            self.flicker_phase = (self.flicker_phase + inc * frames) % (2 * math.pi)
            np.sin(f, out=f)
            f *= np.float32(-depth)
            f += np.float32(1.0)
            mono *= f
        out[:frames] += mono[:, None]
