"""A test tone for technicians: a sine on the left, right or both channels.

``severed test-tone`` uses it to check wiring and speaker polarity from a laptop. The
tone fades in and out over 20 ms (no clicks) and plays at -20 dBFS, loud enough to hear
and far from the limiter.
"""

import math

import numpy as np

LEVEL = 0.1  # -20 dBFS
FADE_S = 0.02


class TestTone:
    __test__ = False  # not a pytest test class

    def __init__(self, sample_rate, channels=2, max_frames=2048):
        self.sample_rate = sample_rate
        self.channels = channels
        self.remaining = 0  # frames left to play
        self.freq_hz = 440.0
        self.mask = np.zeros(channels, np.float32)
        self.phase = 0.0
        self._k = np.arange(max_frames, dtype=np.float64)
        self._buf = np.zeros(max_frames, np.float64)
        self._env = np.zeros(max_frames, np.float64)
        self.total = 0

    @property
    def active(self):
        return self.remaining > 0

    def start(self, channel="both", freq_hz=440.0, seconds=5.0):
        self.mask[:] = 0.0
        if channel in ("left", "both"):
            self.mask[0] = LEVEL
        if channel in ("right", "both"):
            self.mask[min(1, self.channels - 1)] = LEVEL
        self.freq_hz = float(freq_hz)
        self.total = self.remaining = max(1, int(seconds * self.sample_rate))

    def stop(self):
        # Jump to the start of the fade-out rather than cutting.
        fade = int(FADE_S * self.sample_rate)
        self.remaining = min(self.remaining, fade)

    def render(self, out, frames):
        if not self.active:
            return
        inc = 2 * math.pi * self.freq_hz / self.sample_rate
        x = self._buf[:frames]
        np.multiply(self._k[:frames], inc, out=x)
        x += self.phase
        self.phase = (self.phase + inc * frames) % (2 * math.pi)
        np.sin(x, out=x)
        # Envelope: distance to the nearest end of the tone, capped at the fade length.
        fade = FADE_S * self.sample_rate
        done = self.total - self.remaining
        env = self._env[:frames]
        np.add(self._k[:frames], done, out=env)
        np.minimum(env, self.total - env, out=env)
        env /= fade
        np.clip(env, 0.0, 1.0, out=env)
        x *= env
        out[:frames] += x[:, None].astype(np.float32) * self.mask
        self.remaining = max(0, self.remaining - frames)
