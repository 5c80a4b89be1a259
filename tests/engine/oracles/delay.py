"""Oracle for the delay kernel: the numpy delay the engine used before its loop was
compiled, its damping filter now scipy's lfilter (the same arithmetic, a plain
recursion, its memory kept as the last output, direct form I) instead of the
block-matrix filter that has left the product. The kernel
matches it to the bit (values below 1e-30, which the kernel flushes to 0, aside).

Feedback delay (echo) with damping in the loop, one line per channel, 100 % wet.

Use::

    echo = Delay(48000, delay_s=0.35, feedback=0.4, damping=0.3, channels=2)
    echo.process(dry, wet)            # wet[:frames] = echoes only; dry and wet distinct
    echo.set(delay_s=0.5)             # glides (tape-like) across the next block

Each echo is the previous one times ``feedback`` and passed once more through the
damping low-pass, so repeats get darker. Block-vectorised: the line is read a chunk at
a time, each chunk no longer than the delay, so a whole chunk of output is known before
it is fed back. Delays are clamped to 1 ms .. max_delay_s and feedback to +/-0.99, so
the loop is always stable. A constant whole-sample delay is exact to the sample;
other delays are read with linear interpolation.
"""

import math

import numpy as np

import scipy.signal as ss

MIN_DELAY_S = 0.001
MAX_FEEDBACK = 0.99
MAX_DAMPING_POLE = 0.95  # damping 1.0: a one-pole low-pass at about 400 Hz (48 kHz)


def damping_coeffs(damping):
    """One-pole low-pass with unity DC gain; damping 0..1 (0: no filtering)."""
    pole = MAX_DAMPING_POLE * min(max(float(damping), 0.0), 1.0)
    return (1.0 - pole, 0.0), (-pole,)


class OracleDelay:
    """Feedback delay (echo) with damping in the loop, per channel; 100 % wet."""

    def __init__(self, sample_rate, delay_s, feedback=0.3, damping=0.3, max_delay_s=2.0,
                 channels=2, max_frames=2048):
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.max_frames = int(max_frames)
        self.max_delay = max(float(max_delay_s), MIN_DELAY_S) * self.sample_rate
        self.cap = int(math.ceil(self.max_delay)) + self.max_frames + 4
        self.buf = np.zeros((self.cap, self.channels))
        self.pos = 0  # absolute frame count written
        self.y1 = np.zeros(self.channels)  # the damping's last output (direct form I)
        self.steps = np.arange(self.max_frames, dtype=np.float64)
        self.isteps = np.arange(self.max_frames, dtype=np.intp)
        self.read_at = np.zeros(self.max_frames)
        self.frac = np.zeros((self.max_frames, self.channels))
        self.idx = np.zeros(self.max_frames, dtype=np.intp)
        self.wet = np.zeros((self.max_frames, self.channels))
        self.wet2 = np.zeros((self.max_frames, self.channels))
        self.fb = np.zeros((self.max_frames, self.channels))
        self.steps_c = np.repeat(self.steps[:, None], self.channels, axis=1)
        self.x64 = np.zeros((self.max_frames, self.channels))
        self.delay = self.delay_tgt = self._clamp_delay(delay_s)
        self.feedback = self.feedback_tgt = self._clamp_fb(feedback)
        self.damping = min(max(float(damping), 0.0), 1.0)
        self.coeffs = damping_coeffs(self.damping)

    def _clamp_delay(self, delay_s):
        return min(max(float(delay_s) * self.sample_rate, MIN_DELAY_S * self.sample_rate),
                   self.max_delay)

    @staticmethod
    def _clamp_fb(feedback):
        return min(max(float(feedback), -MAX_FEEDBACK), MAX_FEEDBACK)

    def set(self, delay_s=None, feedback=None, damping=None):
        """New targets: delay and feedback glide across the next block; damping
        changes at the next block (its filter state carries over without a click)."""
        if delay_s is not None:
            self.delay_tgt = self._clamp_delay(delay_s)
        if feedback is not None:
            self.feedback_tgt = self._clamp_fb(feedback)
        if damping is not None:
            self.damping = min(max(float(damping), 0.0), 1.0)
            self.coeffs = damping_coeffs(self.damping)

    def reset(self):
        """Silence the line (clears all echoes)."""
        self.buf[:] = 0.0
        self.y1[:] = 0.0
        self.delay = self.delay_tgt
        self.feedback = self.feedback_tgt

    def process(self, x, out):
        """x (frames, channels) float32 -> out[:frames] = echoes only; returns out."""
        n = x.shape[0]
        if n == 0:
            return out
        if n > self.max_frames:
            raise ValueError(f"block of {n} frames exceeds max_frames={self.max_frames}")
        d0, d1 = self.delay, self.delay_tgt
        moving = d0 != d1
        exact = not moving and d0 == int(d0)
        # Feedback ramps to its target; (frames, channels) like the signal, because
        # numpy buffers (allocates) for broadcast operands.
        fb = self.fb[:n]
        dfb = (self.feedback_tgt - self.feedback) / n
        np.multiply(self.steps_c[:n], dfb, out=fb)
        fb += self.feedback + dfb
        # A chunk must not read what it is about to write.
        longest = max(1, int(math.floor(min(d0, d1))) - (0 if exact else 1))
        # Frame j of the block reads at pos + j - delay_j, the delay ramping to d1.
        slope = (d1 - d0) / n
        cap = self.cap
        start = 0
        while start < n:
            m = min(n - start, longest)
            wet = self.wet[:m]
            idx = self.idx[:m]
            if exact:
                np.add(self.isteps[start:start + m], self.pos - int(d0), out=idx)
                np.take(self.buf, idx, axis=0, mode="wrap", out=wet)
            else:
                at = self.read_at[:m]
                np.multiply(self.steps[start:start + m], 1.0 - slope, out=at)
                at += self.pos - d0 - slope
                frac = self.frac[:m, 0]
                np.floor(at, out=frac)
                idx[:] = frac
                np.subtract(at, frac, out=frac)
                np.take(self.buf, idx, axis=0, mode="wrap", out=wet)
                idx += 1
                w2 = self.wet2[:m]
                np.take(self.buf, idx, axis=0, mode="wrap", out=w2)
                w2 -= wet
                fr = self.frac[:m]
                for ch in range(1, self.channels):
                    fr[:, ch] = fr[:, 0]
                w2 *= fr
                wet += w2
            out[start:start + m] = wet
            # Feed back: damped echo times feedback plus the new input.
            # Direct form I: the memory is the last output, whatever the coefficients
            # (lfilter's own memory, -a1 * y1, is made from it for each call).
            (b0, b1), (a1,) = self.coeffs
            zi = (-a1 * self.y1)[None, :]
            wet[:], _ = ss.lfilter([b0, b1], [1.0, a1], wet, axis=0, zi=zi)
            self.y1[:] = wet[-1]
            wet *= self.fb[start:start + m]
            x64 = self.x64[:m]
            np.copyto(x64, x[start:start + m])
            wet += x64
            w = (self.pos + start) % cap
            first = min(m, cap - w)
            self.buf[w:w + first] = wet[:first]
            if first < m:
                self.buf[:m - first] = wet[first:]
            start += m
        self.pos = (self.pos + n) % (cap * 1024)  # keep it small; a multiple of cap
        self.delay = d1
        self.feedback = self.feedback_tgt
        return out
