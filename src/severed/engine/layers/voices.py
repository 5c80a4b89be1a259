"""Polyphonic playback of precomputed one-shots, for the motif, rhythm and cue layers.

    bank = VoiceBank(channels=2, max_frames=2048, max_voices=8)
    k = bank.add_source(audio)              # float32 (frames, 1 or 2), e.g. from the cache
    bank.start(k, delay=120, gain=0.5, rate=1.0)   # at frame 120 of the next render
    bank.render(out, frames)                # adds into out[:frames]

A voice plays its source once at a fixed speed ``rate`` (linear interpolation when it
is not 1), scaled by ``gain``; mono sources go to every channel. When every voice is
busy the oldest is stolen: it fades out over 5 ms instead of stopping dead. Nothing is
allocated while rendering beyond small views.
"""

import numpy as np

import severed.instruments  # noqa: F401  (registers the recipes the layers play)

STEAL_S = 0.005


def fetch(ctx, name, params):
    """The audio of recipe ``name`` with ``params`` from the layer's cache (rendered on
    a miss), or raise the cache's error. Called when a layer is built."""
    from severed.engine.layers.sampler import _fallback_cache
    from severed.precompute.recipes import Recipe

    cache = ctx.cache if ctx.cache is not None else _fallback_cache()
    return cache.get_or_render(Recipe(name, dict(params)), ctx.sample_rate)


class VoiceBank:
    def __init__(self, channels, max_frames, max_voices=8, sample_rate=48000):
        self.channels = channels
        self.max_frames = max_frames
        self.sources = []
        self.max_voices = max_voices
        n = 2 * max_voices  # room for stolen voices fading out
        self.src = np.full(n, -1, np.int64)  # source index; -1 idle
        self.pos = np.zeros(n, np.float64)
        self.rate = np.ones(n, np.float64)
        self.gain = np.zeros(n, np.float32)
        self.delay = np.zeros(n, np.int64)
        self.release = np.full(n, -1, np.int64)  # frames left of a steal fade; -1 none
        self.age = np.zeros(n, np.int64)
        self.steal_frames = max(1, int(STEAL_S * sample_rate))
        m = max_frames
        self._k = np.arange(m, dtype=np.float64)
        self._p = np.zeros(m, np.float64)
        self._i0 = np.zeros(m, np.int64)
        self._a = np.zeros((m, 2), np.float32)
        self._b = np.zeros((m, 2), np.float32)
        self._frac = np.zeros(m, np.float32)
        self._env = np.zeros(m, np.float32)

    def add_source(self, audio):
        """Register a (frames, channels) float32 source; returns its index."""
        self.sources.append(audio)
        return len(self.sources) - 1

    def reset(self):
        self.src[:] = -1
        self.release[:] = -1

    @property
    def active(self):
        return bool((self.src >= 0).any())

    def start(self, source, delay=0, gain=1.0, rate=1.0):
        """Start ``source`` at frame ``delay`` of the next render."""
        playing = (self.src >= 0) & (self.release < 0)
        if playing.sum() >= self.max_voices:
            # Steal the oldest: it fades out over 5 ms rather than stopping dead.
            oldest = int(np.argmax(np.where(playing, self.age, -1)))
            self.release[oldest] = self.steal_frames + int(delay)
        free = np.flatnonzero(self.src < 0)
        if len(free):
            v = int(free[0])
        else:  # every slot busy fading: reuse the one nearest its end
            v = int(np.argmin(np.where(self.release >= 0, self.release, 1 << 62)))
        self.src[v] = source
        self.pos[v] = 0.0
        self.delay[v] = int(delay)
        self.gain[v] = gain
        self.rate[v] = rate
        self.release[v] = -1
        self.age += 1
        self.age[v] = 0

    def render(self, out, frames):
        for v in np.flatnonzero(self.src >= 0):
            self._render_voice(int(v), out, frames)

    def _render_voice(self, v, out, frames):
        delay = int(self.delay[v])
        if delay >= frames:
            self.delay[v] -= frames
            return
        self.delay[v] = 0
        src = self.sources[self.src[v]]
        length = len(src)
        sc = src.shape[1]
        n = frames - delay
        rate = self.rate[v]
        pos = self.pos[v]
        if self.release[v] >= 0:
            n = min(n, max(1, int(self.release[v])))
        if rate == 1.0:
            p0 = int(pos)
            n = min(n, length - p0)
            a = self._a[:n, :sc]
            if n > 0:
                np.multiply(src[p0:p0 + n], self.gain[v], out=a)
            self.pos[v] = pos + n
            done = p0 + n >= length
        else:
            p = self._p[:n]
            np.multiply(self._k[:n], rate, out=p)
            p += pos
            last = length - 1
            if n and p[n - 1] >= last:
                n = int(np.searchsorted(p, last))
                p = p[:n]
                done = True
            else:
                done = False
            i0 = self._i0[:n]
            np.floor(p, out=p)
            i0[:] = p
            np.multiply(self._k[:n], rate, out=self._p[:n])
            self._p[:n] += pos
            self._frac[:n] = self._p[:n] - i0  # float64 into a float32 buffer: exact enough
            a, b = self._a[:n, :sc], self._b[:n, :sc]
            np.take(src, i0, axis=0, out=a, mode="clip")
            i0 += 1
            np.take(src, i0, axis=0, out=b, mode="clip")
            b -= a
            for c in range(sc):
                b[:, c] *= self._frac[:n]
            a += b
            a *= self.gain[v]
            self.pos[v] = pos + rate * (frames - delay)
        if self.release[v] >= 0 and n > 0:
            env = self._env[:n]
            np.subtract(float(self.release[v]), self._k[:n], out=self._p[:n])
            self._p[:n] *= 1.0 / self.steal_frames
            np.clip(self._p[:n], 0.0, 1.0, out=self._p[:n])
            env[:] = self._p[:n]
            for c in range(sc):
                a[:, c] *= env
            self.release[v] -= n
            if self.release[v] <= 0:
                done = True
        dest = out[delay:delay + n]
        if sc == 1:
            for c in range(out.shape[1]):
                dest[:, c] += a[:, 0]
        else:
            for c in range(min(sc, out.shape[1])):
                dest[:, c] += a[:, c]
        if done:
            self.src[v] = -1
            self.release[v] = -1
