"""Oracle for the limiter kernel: the numpy Limiter the engine used before its kernels
were compiled (vectorised over the block: sliding minimum, cumulative-minimum release,
moving average by cumsum)."""

import numpy as np

FLOOR_DB = -60.0  # deepest gain reduction; keeps the dB arithmetic finite


class Limiter:
    def __init__(self, sample_rate, channels=2, max_frames=2048, ceiling_db=-1.0,
                 lookahead_ms=5.0, release_db_per_s=30.0):
        self.ceiling_db = float(ceiling_db)
        self.ceiling = np.float32(10.0 ** (ceiling_db / 20.0))
        self.lookahead = max(1, int(round(sample_rate * lookahead_ms / 1000.0)))
        self.release_per_frame = release_db_per_s / sample_rate
        L = self.lookahead
        # Input frames not yet output (the delay line), then the new block.
        self._x = np.zeros((L + max_frames, channels), np.float32)
        # Required gain (dB) of the frames in _x, and the released gain history:
        # the L frames before the first frame whose gain is being computed.
        self._req = np.zeros(L + max_frames, np.float64)
        self._hist = np.zeros(L + max_frames, np.float64)
        self._last = 0.0  # a'[k-1] for the release recursion
        self._resting = True  # gain at 0 dB and no reduction left in the history
        self._idx = np.arange(1, L + max_frames + 1, dtype=np.float64)
        self._peak = np.zeros(L + max_frames, np.float32)
        self.reduction_db = 0.0  # deepest reduction in the last block, for meters

    def reset(self):
        self._x[:] = 0
        self._req[:] = 0
        self._hist[:] = 0
        self._last = 0.0
        self._resting = True
        self.reduction_db = 0.0

    def process(self, block, frames):
        """Limit ``block[:frames]`` in place (the output is delayed by the look-ahead)."""
        L = self.lookahead
        x = self._x
        new = x[L:L + frames]
        new[:] = block[:frames]
        # One cheap test decides the common case: nothing near the ceiling, gain at rest.
        loud = max(new.max(), -new.min()) > self.ceiling
        # (The engine's numpy limiter had `self._resting is False` here, never true for
        # the numpy bool it holds: a release's last fraction of a dB ended in a step.)
        busy = loud or self._last < 0.0 or not self._resting
        if not busy:
            block[:frames] = x[:frames]
            self.reduction_db = 0.0
            self._resting = True
        else:
            if self._resting:  # leaving rest: the history is all 0 dB
                self._req[:L] = 0.0
                self._hist[:L] = 0.0
            peak = self._peak[L:L + frames]
            np.maximum(np.abs(new[:, 0]), np.abs(new[:, -1]), out=peak)
            for c in range(1, new.shape[1] - 1):
                np.maximum(peak, np.abs(new[:, c]), out=peak)
            self._limit(block, frames)
            self._resting = self._last >= 0.0 and self._hist[frames:frames + L].min() >= 0.0
        # Keep the last L frames of input (and, while limiting, of required and released
        # gain) for the next block.
        x[:L] = x[frames:frames + L]
        if not self._resting:
            self._req[:L] = self._req[frames:frames + L]
            self._hist[:L] = self._hist[frames:frames + L]

    def _limit(self, block, frames):
        L = self.lookahead
        n = L + frames
        req = self._req
        with np.errstate(divide="ignore"):
            r = self.ceiling_db - 20.0 * np.log10(self._peak[L:n].astype(np.float64))
        np.clip(r, FLOOR_DB, 0.0, out=req[L:n])
        # 1. Sliding minimum over [k, k+L] for the frames whose whole window is known:
        # output frames 0..frames-1 need a' at positions L..n-1 of the history buffer,
        # i.e. a at input positions 0..frames-1 of this call, whose windows end by n-1.
        a = _sliding_min(req[:n], L + 1)  # len frames
        # 2. Release as a cumulative minimum, continuing from the previous block.
        rel = self.release_per_frame
        idx = self._idx[:frames]
        released = np.minimum.accumulate(a - rel * idx) + rel * idx
        np.minimum(released, self._last + rel * idx, out=released)
        self._last = float(released[-1])
        hist = self._hist
        hist[L:n] = released
        # 3. Moving average over L+1 values of the released gain.
        c = np.cumsum(hist[:n])
        g_db = np.empty(frames)
        g_db[0] = c[L]
        g_db[1:] = c[L + 1:n] - c[:frames - 1]
        g_db /= (L + 1)
        self.reduction_db = float(g_db.min())
        gain = np.power(10.0, g_db / 20.0).astype(np.float32)
        np.multiply(self._x[:frames], gain[:, None], out=block[:frames])
        np.clip(block[:frames], -self.ceiling, self.ceiling, out=block[:frames])


def _sliding_min(x, w):
    """min(x[k:k+w]) for k in 0..len(x)-w, in O(len) (van Herk / Gil-Werman)."""
    n = len(x)
    out_len = n - w + 1
    nb = -(-n // w)
    pad = np.full(nb * w, np.inf)
    pad[:n] = x
    rows = pad.reshape(nb, w)
    prefix = np.minimum.accumulate(rows, axis=1).ravel()
    suffix = np.minimum.accumulate(rows[:, ::-1], axis=1)[:, ::-1].ravel()
    k = np.arange(out_len)
    return np.minimum(suffix[k], prefix[k + w - 1])
