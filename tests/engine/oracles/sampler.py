"""Oracle for the sampler kernel: the sampler layer with the numpy playback it had
before its per-frame loop was compiled (``_play`` and its helpers, kept as they were).
The kernel does the same float32 and float64 arithmetic in the same order, so the two
layers' outputs match to the bit where the compiler adds nothing of its own (no fused
multiply-adds: the build turns them off).
"""

import math

import numpy as np

from severed.engine.layers.sampler import Sampler


class OracleSampler(Sampler):
    """A Sampler whose playback is the numpy code the kernel replaced."""

    def _build_buffers(self, ctx):
        super()._build_buffers(ctx)
        n, sc = ctx.max_frames, self.src_channels
        self._k = np.arange(n, dtype=np.float64)
        self._k1 = np.arange(1, n + 1, dtype=np.float64)
        self._pos = np.zeros(n, np.float64)
        self._fl = np.zeros(n, np.float64)
        self._steps = np.zeros(n, np.float64)
        self._i0 = np.zeros(n, np.intp)
        self._i1 = np.zeros(n, np.intp)
        self._iw = np.zeros(n, np.intp)
        self._frac = np.zeros((n, 1), np.float32)
        self._a = np.zeros((n, sc), np.float32)
        self._b = np.zeros((n, sc), np.float32)
        self._c = np.zeros((n, sc), np.float32)
        self._env = np.zeros((n, 1), np.float32)
        self._mask = np.zeros(n, bool)
        self._mask2 = np.zeros(n, bool)

    def _play(self, out, at, pos, r0, r1, n, loop, release=-1):
        """Add n frames read from source position ``pos`` (speed going from r0 to r1)
        into out[at:at+n]; return (next position, whether a oneshot ran out)."""
        positions = self._pos[:n]
        if r0 == r1:
            np.multiply(self._k[:n], r1, out=positions)
            advance = r1 * n
        else:
            steps = self._steps[:n]
            np.multiply(self._k1[:n], (r1 - r0) / n, out=steps)
            steps += r0
            positions[0] = 0.0
            if n > 1:
                np.cumsum(steps[:n - 1], out=positions[1:])
            advance = float(positions[n - 1] + steps[n - 1])
        positions += pos
        ended = False
        if not loop:
            last = self.length - 1  # interpolation needs a frame after the position
            if positions[n - 1] >= last:
                n_ok = int(np.searchsorted(positions, last))
                ended = True
                if n_ok == 0:
                    return pos + advance, True
                n = n_ok
                positions = positions[:n]
        fl = self._fl[:n]
        np.floor(positions, out=fl)
        # Casting inside a ufunc (float64 -> float32 out) allocates a buffer; a plain
        # assignment does not.
        np.subtract(positions, fl, out=positions)
        self._frac[:n, 0] = positions
        i0, i1 = self._i0[:n], self._i1[:n]
        i0[:] = fl
        np.add(i0, 1, out=i1)
        a, b = self._a[:n], self._b[:n]
        if loop:
            self._gather_loop(i0, a)
            self._gather_loop(i1, b)
        else:
            np.take(self.src, i0, axis=0, out=a, mode="clip")
            np.take(self.src, i1, axis=0, out=b, mode="clip")
        np.subtract(b, a, out=b)
        frac = self._frac[:n, 0]
        for c in range(self.src_channels):  # 1-D: no broadcasting temporaries
            b[:, c] *= frac
        a += b
        if release >= 0:
            ramp = self._fl[:n]  # free again: the read positions are in i0/i1 now
            np.subtract(float(release), self._k[:n], out=ramp)
            ramp *= 1.0 / self.steal_frames
            np.clip(ramp, 0.0, 1.0, out=ramp)
            env = self._env[:n, 0]
            env[:] = ramp
            for c in range(self.src_channels):
                a[:, c] *= env
        self._mix(out, at, a, n)
        new_pos = pos + advance
        if loop and new_pos >= self.period:
            # Stay in [P, 2P): past the first pass, reads below C come from the head.
            new_pos = self.period + math.fmod(new_pos - self.period, self.period)
        return new_pos, ended

    def _gather_loop(self, idx_abs, dest):
        """dest = the looped region at absolute read positions ``idx_abs``: position i
        plays A[i] on the first pass, then A[i mod P], its first C frames replaced by
        the crossfaded head."""
        n = len(idx_abs)
        iw = self._iw[:n]
        np.remainder(idx_abs, self.period, out=iw)
        np.take(self.src, iw, axis=0, out=dest, mode="clip")
        if self.xfade == 0:
            return
        mask, later = self._mask[:n], self._mask2[:n]
        np.less(iw, self.xfade, out=mask)
        np.greater_equal(idx_abs, self.period, out=later)
        mask &= later
        if mask.any():
            tmp = self._c[:n]
            np.take(self.head, iw, axis=0, out=tmp, mode="clip")
            np.copyto(dest, tmp, where=mask[:, None])

    def _mix(self, out, at, a, n):
        # Channel by channel: an in-place add that broadcasts a (n, 1) array makes a
        # block-sized temporary in numpy; 1-D adds do not.
        dest = out[at:at + n]
        sc, oc = self.src_channels, out.shape[1]
        if sc == 1:
            for c in range(oc):
                dest[:, c] += a[:, 0]
        elif oc == 1:
            mono = self._env[:n, 0]
            np.add(a[:, 0], a[:, 1], out=mono)
            mono *= np.float32(0.5)
            dest[:, 0] += mono
        else:
            for c in range(min(sc, oc)):
                dest[:, c] += a[:, c]
