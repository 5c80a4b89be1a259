"""Control signals: ramped parameter values, LFOs and slow random drift.

- :class:`Smoother` turns a parameter that jumps into one that ramps, per sample
  (``ramp``) or per block (``next_block``), so no change of gain, cutoff or drive is a step.
- :func:`linear_ramp` writes one block of a linear ramp: the per-sample gain of the
  smoother, the master's gain and a scene's layer mix all come from it.
- :class:`Lfo` is a control-rate low-frequency oscillator read at engine time ``t``.
- :class:`Drift` is the "analog" wander of a bank of voices: a slow, bounded random walk.

Use::

    gain = Smoother(0.0, time_s=0.05, sample_rate=48000)
    gain.set(0.5)
    gain.ramp(buf, frames)            # per-sample values for this block
    start, end = gain.next_block(frames)   # or just the block's end points

    drift = Drift(voices=8, depth=10.0, rate_hz=0.2, rng=np.random.default_rng(7))
    cents = drift.value(t)            # 8 floats, within +/-10, call with rising t

Lfo and Drift depend only on their seed (and t): the same seed gives the same values.
"""

import math

import numpy as np

LFO_SHAPES = ("sine", "triangle", "square", "saw", "random")

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


class Smoother:
    """Ramps a control value to its target so that no change is a step.

    ``set(target)`` starts a linear ramp from the current value that reaches the target
    after ``time_s``; ``ramp(out, frames)`` writes the per-sample values of the next
    block, ``next_block(frames)`` returns only its (start, end) values. Both advance.
    While settled both are a few attribute reads (no numpy work beyond a fill).
    """

    def __init__(self, value, time_s=0.05, sample_rate=48000):
        self._value = float(value)
        self._target = self._value
        self.time_s = float(time_s)
        self.sample_rate = float(sample_rate)
        self._step = 0.0  # change per sample while ramping
        self._left = 0  # samples until the target is reached

    @property
    def value(self):
        """The current value (the last sample handed out)."""
        return self._value

    @property
    def target(self):
        return self._target

    @property
    def settled(self):
        """True when the value is at its target."""
        return self._left == 0

    def set(self, target):
        """Aim at ``target``, reached linearly over ``time_s`` from the current value."""
        target = float(target)
        if target == self._target:
            return
        self._target = target
        samples = round(self.time_s * self.sample_rate)
        if samples <= 0 or target == self._value:
            self._value, self._left, self._step = target, 0, 0.0
        else:
            self._left = samples
            self._step = (target - self._value) / samples

    def jump(self, value):
        """Go to ``value`` at once (for set-up and reset, not while audio plays)."""
        self._value = self._target = float(value)
        self._left, self._step = 0, 0.0

    def ramp(self, out, frames):
        """Write the per-sample values of the next ``frames`` samples into ``out[:frames]``
        (float32, 1-D) and return that view. The first sample is one step on from the
        last value handed out, so consecutive blocks join without a step."""
        view = out[:frames]
        if self._left == 0:
            view.fill(self._value)
            return view
        n = min(frames, self._left)
        linear_ramp(view[:n], self._value, self._step)
        self._advance(n)
        if n < frames:
            view[n:].fill(self._value)
        return view

    def next_block(self, frames):
        """(value at the start, value at the end) of the next ``frames`` samples; advances.

        A caller that interpolates linearly between them moves by at most one ramp step
        per sample. When settled both are the held value."""
        start = self._value
        if self._left == 0:
            return start, start
        self._advance(min(frames, self._left))
        return start, self._value

    def _advance(self, n):
        self._left -= n
        if self._left == 0:
            self._value = self._target  # land exactly, whatever the rounding on the way
        else:
            self._value += self._step * n


def _hash_unit(seed, k):
    """Deterministic value in [-1, 1) for integer k under ``seed`` (splitmix64)."""
    z = (seed + 0x9E3779B97F4A7C15 * (k + 1)) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z ^= z >> 31
    return (z >> 11) * (2.0 / (1 << 53)) - 1.0


class Lfo:
    """Control-rate low-frequency oscillator: shape sine|triangle|square|saw|random
    (smooth random: cosine-interpolated random points at rate_hz), seeded by an rng.

    ``value(t)`` is in [-1, 1] at engine time ``t`` seconds and depends only on t (and
    the seed), so it may be read at any time in any order. ``phase`` is in cycles.
    Every periodic shape starts at 0 and rises (square: starts high).
    """

    def __init__(self, shape, rate_hz, rng=None, phase=0.0):
        if shape not in LFO_SHAPES:
            raise ValueError(f"unknown LFO shape {shape!r} "
                             f"(expected one of {', '.join(LFO_SHAPES)})")
        if rate_hz < 0:
            raise ValueError(f"LFO rate_hz must be 0 or more, not {rate_hz}")
        self.shape = shape
        self.rate_hz = float(rate_hz)
        self.phase = float(phase)
        rng = rng if rng is not None else np.random.default_rng(0)
        self._seed = int(rng.integers(0, 2 ** 63))

    def value(self, t):
        x = self.rate_hz * t + self.phase
        shape = self.shape
        if shape == "random":
            k = math.floor(x)
            a, b = _hash_unit(self._seed, k), _hash_unit(self._seed, k + 1)
            w = 0.5 - 0.5 * math.cos(math.pi * (x - k))
            return a + (b - a) * w
        x -= math.floor(x)
        if shape == "sine":
            return math.sin(2.0 * math.pi * x)
        if shape == "triangle":
            return 4.0 * abs((x - 0.25) % 1.0 - 0.5) - 1.0
        if shape == "square":
            return 1.0 if x < 0.5 else -1.0
        return 2.0 * ((x + 0.5) % 1.0) - 1.0  # saw


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
