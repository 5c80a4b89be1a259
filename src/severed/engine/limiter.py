"""A look-ahead peak limiter: the master's promise that no sample exceeds the ceiling.

The ceiling is a promise to the DAC and the speakers: no output sample ever exceeds it.
The gain is computed in dB for each frame (the loudest channel decides, so the stereo
image does not shift):

1. ``a[k] = min(required[k .. k+L])``: a sliding minimum over the look-ahead window
   ``L``, so the gain is already down when a peak arrives;
2. release: the gain may rise at most ``release_db_per_s``:
   ``a'[k] = min(a[k], a'[k-1] + r)``;
3. ``g[k] = mean(a'[k-L .. k])``: a moving average, so every gain change is a smooth
   ramp of ``L + 1`` samples. Each term of the mean is at or below ``required[k]``
   (its window covers ``k``), so the mean is too: the ceiling holds exactly.

The output is delayed by ``L`` samples. A final clip at the ceiling catches rounding.
When nothing near the ceiling is in the window and the gain is at rest, a block costs
one copy. The per-frame work is the compiled kernel ``limit`` (kernels/limiter.c); this
class owns its buffers.
"""

import numpy as np

from severed.engine.compiled import kernels


class Limiter:
    def __init__(self, sample_rate, channels=2, max_frames=2048, ceiling_db=-1.0,
                 lookahead_ms=5.0, release_db_per_s=30.0):
        self.ceiling_db = float(ceiling_db)
        self.ceiling = np.float32(10.0 ** (ceiling_db / 20.0))
        self.lookahead = max(1, int(round(sample_rate * lookahead_ms / 1000.0)))
        self.release_per_frame = release_db_per_s / sample_rate
        size = self.lookahead + max_frames
        # Input frames not yet output (the delay line), then the new block.
        self._x = np.zeros((size, channels), np.float32)
        # Required and released gain (dB) of the last L frames, then of the block.
        self._req = np.zeros(size)
        self._hist = np.zeros(size)
        self._pre = np.zeros(2 * size)  # scratch of the sliding minimum
        self._suf = np.zeros(2 * size)
        # The last released gain a'[k-1], at rest (0/1), the block's deepest reduction.
        self._scalars = np.array([0.0, 1.0, 0.0])

    @property
    def reduction_db(self):
        """Deepest gain reduction in the last block (dB, <= 0), for meters."""
        return float(self._scalars[2])

    def reset(self):
        self._x[:] = 0
        self._req[:] = 0
        self._hist[:] = 0
        self._scalars[:] = (0.0, 1.0, 0.0)

    def process(self, block, frames):
        """Limit ``block[:frames]`` in place (the output is delayed by the look-ahead)."""
        kernels.limit(block, frames, self._x, self._req, self._hist, self._pre, self._suf,
                      self._scalars, self.lookahead, self.ceiling_db,
                      self.release_per_frame)
