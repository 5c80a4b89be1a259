"""Polyphonic playback of precomputed one-shots, for the motif, rhythm and cue layers.

    bank = VoiceBank(channels=2, max_frames=2048, sample_rate=48000)
    k = bank.add_source(audio)              # float32 (frames, 1 or 2), e.g. from the cache
    bank.start(k, delay=120, gain=0.5, rate=1.0)   # at frame 120 of the next render
    bank.render(out, frames)                # adds into out[:frames]

How it stays cheap: a note is mixed into a ring buffer (as long as the longest source)
once, when it starts; each block then only reads the ring and clears what it read.
The cost is a few numpy calls per block whatever the polyphony, plus one pass over a
note's samples when it starts (under a millisecond for a 7 s note at 48 kHz).
Unlimited polyphony: notes simply add. ``rate`` (0.25 to 4) replays a source faster or
slower with linear interpolation. Mono sources go to every channel. Buffers are made
when sources are added (before rendering); rendering allocates nothing but views.
"""

import numpy as np

import severed.instruments  # noqa: F401  (registers the recipes the layers play)

CHUNK = 8192  # frames interpolated at a time when a note is replayed at another speed
MIN_RATE, MAX_RATE = 0.25, 4.0


def fetch(ctx, name, params):
    """The audio of recipe ``name`` with ``params`` from the layer's cache (rendered on
    a miss), or raise the cache's error. Called when a layer is built."""
    from severed.engine.layers.sampler import _fallback_cache
    from severed.precompute.recipes import Recipe

    cache = ctx.cache if ctx.cache is not None else _fallback_cache()
    return cache.get_or_render(Recipe(name, dict(params)), ctx.sample_rate)


class VoiceBank:
    def __init__(self, channels, max_frames, sample_rate=48000, max_stretch=2.0):
        """``max_stretch``: the ring holds a source replayed down to 1 / max_stretch of
        its speed (2: an octave down) in full; a slower note is cut short with a 5 ms
        fade."""
        self.channels = channels
        self.max_frames = max_frames
        self.sample_rate = sample_rate
        self.max_stretch = max(1.0, float(max_stretch))
        self.sources = []
        self.ring = np.zeros((max_frames, 1), np.float32)
        self.pending = []  # (frames to wait, source, gain, rate) for far-off starts
        self._idx = np.zeros(CHUNK, np.float64)
        self._i0 = np.zeros(CHUNK, np.int64)
        self._fr = np.zeros((CHUNK, 1), np.float32)
        self._k = np.arange(CHUNK, dtype=np.float64)
        self.reset()

    def add_source(self, audio):
        """Register a (frames, channels) float32 source; returns its index. Call before
        rendering: the ring grows to hold the longest source."""
        audio = np.ascontiguousarray(audio, np.float32)
        self.sources.append(audio)
        longest = max(len(s) for s in self.sources)
        chans = max(s.shape[1] for s in self.sources)
        need = int(longest * self.max_stretch) + 2 * self.max_frames
        if need > len(self.ring) or chans > self.ring.shape[1]:
            self.ring = np.zeros((need, chans), np.float32)
            self._scratch = np.zeros((int(longest * self.max_stretch) + 1, chans), np.float32)
            self._a = np.zeros((CHUNK, chans), np.float32)
            self._b = np.zeros((CHUNK, chans), np.float32)
            self.reset()
        return len(self.sources) - 1

    def reset(self):
        self.ring[:] = 0.0
        self.head = 0
        self.busy = 0  # frames from head until the ring holds nothing more
        self.pending = []

    @property
    def active(self):
        return self.busy > 0 or bool(self.pending)

    def start(self, source, delay=0, gain=1.0, rate=1.0):
        """Start ``source`` at frame ``delay`` of the next render (later ones included)."""
        delay = max(0, int(delay))
        if delay >= self.max_frames:
            self.pending.append((delay, source, gain, rate))
            return
        self._write(source, delay, gain, rate)

    def _write(self, source, delay, gain, rate):
        src = self.sources[source]
        rate = min(max(float(rate), MIN_RATE), MAX_RATE)
        ring_len = len(self.ring)
        room = ring_len - delay - self.max_frames
        if rate == 1.0:
            n = min(len(src), room)
            note = self._scratch[:n, :src.shape[1]]
            np.multiply(src[:n], np.float32(gain), out=note)
        else:
            n = min(int((len(src) - 1) / rate), room, len(self._scratch))
            note = self._scratch[:n, :src.shape[1]]
            self._resample(src, rate, gain, note)
        if n <= 0:
            return
        if n < len(src) / rate - 1:  # cut short by the ring: no click at the end
            fade = min(n, int(0.005 * self.sample_rate))
            note[n - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        start = (self.head + delay) % ring_len
        first = min(n, ring_len - start)
        self._add(self.ring[start:start + first], note[:first])
        if first < n:
            self._add(self.ring[:n - first], note[first:])
        self.busy = max(self.busy, delay + n)

    @staticmethod
    def _add(dest, note):
        if note.shape[1] == dest.shape[1]:
            dest += note
        else:  # a mono note in a stereo ring
            for c in range(dest.shape[1]):
                dest[:, c] += note[:, 0]

    def _resample(self, src, rate, gain, note):
        """note[k] = gain * src at k * rate, linearly interpolated, in chunks."""
        n = len(note)
        ch = src.shape[1]
        for s in range(0, n, CHUNK):
            m = min(CHUNK, n - s)
            pos = self._idx[:m]
            np.multiply(self._k[:m], rate, out=pos)
            pos += s * rate
            i0 = self._i0[:m]
            i0[:] = pos  # floor: positions are >= 0
            frac = self._fr[:m, 0]
            np.subtract(pos, i0, out=pos)
            frac[:] = pos
            a, b = self._a[:m, :ch], self._b[:m, :ch]
            np.take(src, i0, axis=0, out=a, mode="clip")
            i0 += 1
            np.take(src, i0, axis=0, out=b, mode="clip")
            b -= a
            for c in range(ch):
                b[:, c] *= frac
            a += b
            a *= np.float32(gain)
            note[s:s + m] = a

    def render(self, out, frames):
        if self.pending:
            keep = []
            for delay, source, gain, rate in self.pending:
                if delay < self.max_frames:  # delay counts from this block's start
                    self._write(source, delay, gain, rate)
                else:
                    keep.append((delay - frames, source, gain, rate))
            self.pending = keep
        if self.busy <= 0:
            return
        ring_len = len(self.ring)
        first = min(frames, ring_len - self.head)
        self._read(out[:first], self.ring[self.head:self.head + first])
        if first < frames:
            self._read(out[first:frames], self.ring[:frames - first])
        self.head = (self.head + frames) % ring_len
        self.busy = max(0, self.busy - frames)

    @staticmethod
    def _read(dest, part):
        if part.shape[1] == 1:
            for c in range(dest.shape[1]):
                dest[:, c] += part[:, 0]
        else:
            for c in range(min(dest.shape[1], part.shape[1])):
                dest[:, c] += part[:, c]
        part[:] = 0.0
