"""Feedback delay (echo) with damping in the loop, one line per channel, 100 % wet.

Use::

    echo = Delay(48000, delay_s=0.35, feedback=0.4, damping=0.3, channels=2)
    echo.process(dry, wet)            # wet[:frames] = echoes only; dry and wet distinct
    echo.set(delay_s=0.5)             # glides (tape-like) across the next block

Each echo is the previous one times ``feedback`` and passed once more through the
damping low-pass, so repeats get darker. The loop is compiled (``kernels.delay``,
src/severed/engine/kernels/delay.c); this class keeps the parameters and the line. Delays are clamped to 1 ms .. max_delay_s and feedback to +/-0.99, so
the loop is always stable. A constant whole-sample delay is exact to the sample;
other delays are read with linear interpolation.
"""

import math

import numpy as np

from severed.engine.compiled import kernels

MIN_DELAY_S = 0.001
MAX_FEEDBACK = 0.99
MAX_DAMPING_POLE = 0.95  # damping 1.0: a one-pole low-pass at about 400 Hz (48 kHz)


def damping_pole(damping):
    """The damping's one-pole low-pass (unity DC gain) pole; damping 0..1 (0: none)."""
    return MAX_DAMPING_POLE * min(max(float(damping), 0.0), 1.0)


class Delay:
    """Feedback delay (echo) with damping in the loop, per channel; 100 % wet."""

    def __init__(self, sample_rate, delay_s, feedback=0.3, damping=0.3, max_delay_s=2.0,
                 channels=2, max_frames=2048):
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.max_frames = int(max_frames)
        self.max_delay = max(float(max_delay_s), MIN_DELAY_S) * self.sample_rate
        self.cap = int(math.ceil(self.max_delay)) + self.max_frames + 4
        self.buf = np.zeros((self.cap, self.channels))
        self.state = np.zeros(self.channels)  # the damping's last output
        self.pos = 0  # absolute frame count written, modulo a multiple of cap
        self.delay = self.delay_tgt = self._clamp_delay(delay_s)
        self.feedback = self.feedback_tgt = self._clamp_fb(feedback)
        self.damping = min(max(float(damping), 0.0), 1.0)

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

    def reset(self):
        """Silence the line (clears all echoes)."""
        self.buf[:] = 0.0
        self.state[:] = 0.0
        self.delay = self.delay_tgt
        self.feedback = self.feedback_tgt

    def process(self, x, out):
        """x (frames, channels) float32 -> out[:frames] = echoes only; returns out."""
        n = x.shape[0]
        if n == 0:
            return out
        if n > self.max_frames:
            raise ValueError(f"block of {n} frames exceeds max_frames={self.max_frames}")
        kernels.delay(x, out, self.buf, self.state, self.pos, self.delay, self.delay_tgt,
                      self.feedback, self.feedback_tgt, damping_pole(self.damping))
        self.pos = (self.pos + n) % (self.cap * 1024)
        self.delay = self.delay_tgt
        self.feedback = self.feedback_tgt
        return out
