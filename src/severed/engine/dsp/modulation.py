"""Control signals: linear ramps and slow random drift.

- :func:`linear_ramp` writes one block of a linear ramp: the master's gain comes from it.
- :class:`Drift` is the "analog" wander of a bank of voices: a slow, bounded random walk.

Use::

    drift = Drift(voices=8, depth=10.0, rate_hz=0.2, rng=np.random.default_rng(7))
    cents = drift.value(t)            # 8 floats, within +/-10, call with rising t

Drift depends only on its seed (and t): the same seed gives the same values. (Automated
layer parameters, LFOs included, are engine/params.py; per-sample ramps of a layer's
mix happen in the compiled mixing kernel.)
"""

import math

import numpy as np

_COUNT = np.arange(1, 1, dtype=np.float32)  # 1..n, grown on demand, shared


def _count(n):
    """float32 array 1..n (a shared, read-only view; grows only the first time n is seen)."""
    global _COUNT
    if len(_COUNT) < n:
        _COUNT = np.arange(1, max(n, 4096) + 1, dtype=np.float32)
    return _COUNT[:n]


def linear_ramp(out, start, step):
    """Write ``start + step * k`` for k = 1..len(out) into ``out`` (float32, 1-D) and
    return it: the next block of a ramp whose last sample handed out was ``start``, so
    consecutive blocks join without a step. No allocation. In float32 (a third of the
    float64 cost; ample for gains): callers keep their running value in a Python float,
    so rounding never accumulates from block to block."""
    np.multiply(_count(len(out)), np.float32(step), out=out)
    out += np.float32(start)
    return out


def _hash_unit(seed, k):
    """Deterministic value in [-1, 1) for integer k under ``seed`` (splitmix64)."""
    z = (seed + 0x9E3779B97F4A7C15 * (k + 1)) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z ^= z >> 31
    return (z >> 11) * (2.0 / (1 << 53)) - 1.0


class Drift:
    """Slow random pitch/parameter drift for ``voices`` voices: a smoothed random walk,
    bounded to +/- depth, moving at most at about rate_hz, independent per voice;
    deterministic per rng.

    Each voice walks through random points spaced 1/rate_hz apart (each a step of up
    to 0.6 * depth from the last, reflected at +/-depth) and glides between them along
    a half cosine, so the curve is smooth and its spectrum sits below about rate_hz.
    Voices' points are staggered in time so that they never turn together.
    ``value(t)`` expects t not to decrease (engine time); it returns a new list of
    floats, one per voice (control rate: plain floats are cheaper than numpy here).
    """

    STEP = 0.6  # largest step between points, as a share of depth

    def __init__(self, voices, depth, rate_hz, rng):
        if depth < 0 or rate_hz <= 0:
            raise ValueError(f"Drift needs depth >= 0 and rate_hz > 0 "
                             f"(got depth={depth}, rate_hz={rate_hz})")
        self.voices = int(voices)
        self.depth = float(depth)
        self.rate_hz = float(rate_hz)
        # One hash seed per voice: a voice's path depends on its seed and t only, not on
        # how often or in which steps value() is called.
        self._seeds = [int(s) for s in rng.integers(0, 2 ** 63, self.voices)]
        self._offset = rng.random(self.voices).tolist()  # stagger, in intervals
        self._k = [0] * self.voices  # interval each voice is in
        self._prev = [0.5 * self.depth * _hash_unit(s, -1) for s in self._seeds]
        self._next = [self._walk(v, p, 0) for v, p in enumerate(self._prev)]

    def _walk(self, v, frm, k):
        d = self.depth
        x = frm + self.STEP * d * _hash_unit(self._seeds[v], k)
        # Reflect at the bounds so the walk neither sticks to them nor leaves them.
        if x > d:
            x = 2 * d - x
        elif x < -d:
            x = -2 * d - x
        return x

    def value(self, t):
        # Plain Python: for a handful of voices it is cheaper than a string of numpy calls.
        pos = t * self.rate_hz
        out = []
        for v, offset in enumerate(self._offset):
            x = offset + pos
            k = math.floor(x)
            while k > self._k[v]:  # passed a point: move on to the next one
                self._k[v] += 1
                self._prev[v] = self._next[v]
                self._next[v] = self._walk(v, self._next[v], self._k[v])
            prev = self._prev[v]
            w = 0.5 - 0.5 * math.cos(math.pi * (x - k))
            out.append(prev + (self._next[v] - prev) * w)
        return out
