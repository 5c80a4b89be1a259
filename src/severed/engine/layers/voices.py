"""Polyphonic playback of precomputed one-shots, for the motif, rhythm and cue layers.

    bank = VoiceBank(channels=2, max_frames=2048, sample_rate=48000)
    k = bank.add_source(audio)              # float32 (frames, 1 or 2), e.g. from the cache
    bank.start(k, delay=120, gain=0.5, rate=1.0)   # at frame 120 of the next render
    bank.render(out, frames)                # adds into out[:frames]

A started note is a record (start frame, length, rate, gain, source); each ``render``
mixes only the frames of every sounding note that fall in that block, so a note costs
the same small amount in every block it sounds in and nothing extra where it starts
(a block where a phrase of eight 7 s piano notes starts is no slower than the ones
after it). A note's frames are read, interpolated, weighted and added by one call of
the compiled ``kernels.voice`` (src/severed/engine/kernels/voices.c); per block the
cost grows with the notes sounding (``benchmarks/bench_voices.py``; a Pi Zero 2 W core
is about ten times slower than a desktop core).

Behaviour:

- Starts are sample-exact, ``delay`` counted from the start of the next render, however
  many blocks ahead.
- ``rate`` (clamped to 0.25..4) replays a source faster or slower with linear
  interpolation; a note lasts ``len / rate`` frames, but at most ``max_stretch`` times
  the longest source, cut short there with a 5 ms fade (notes slowed down end with
  that fade too).
- Mono sources go to every output channel; stereo ones channel to channel.
- At most ``max_voices`` (64) notes are in flight, started or waiting to start. Starting
  one more drops the note with the earliest start: it fades out over 5 ms from the next
  render on (mixed at once into a small tail buffer), so no click.
- Sources are not copied (memory-mapped cache entries stay on disk); buffers are made
  when the bank and its sources are made; rendering allocates nothing but views.
"""

import numpy as np

import severed.instruments  # noqa: F401  (registers the recipes the layers play)
from severed.engine.compiled import kernels

MIN_RATE, MAX_RATE = 0.25, 4.0
MAX_VOICES = 64
FADE_S = 0.005  # fade of a note cut short by max_stretch or dropped for a newer one


def fetch(ctx, name, params):
    """The audio of recipe ``name`` with ``params`` from the layer's cache (rendered on
    a miss), or raise the cache's error. Called when a layer is built."""
    from severed.engine.layers.sampler import _fallback_cache
    from severed.precompute.recipes import Recipe

    cache = ctx.cache if ctx.cache is not None else _fallback_cache()
    return cache.get_or_render(Recipe(name, dict(params)), ctx.sample_rate)


class VoiceBank:
    def __init__(self, channels, max_frames, sample_rate=48000, max_stretch=2.0,
                 max_voices=MAX_VOICES):
        """``channels``: of the output; ``max_frames``: the largest block ``render`` is
        asked for (larger ones are mixed in pieces). ``max_stretch``: a note replayed
        slower than 1 / max_stretch of its speed is cut short with a 5 ms fade at
        max_stretch times the longest source. ``max_voices``: notes in flight at most."""
        self.channels = channels
        self.max_frames = int(max_frames)
        self.sample_rate = sample_rate
        self.max_stretch = max(1.0, float(max_stretch))
        self.max_voices = max(1, int(max_voices))
        self.fade_frames = max(1, int(FADE_S * sample_rate))
        self.sources = []
        self.longest = 0
        # Dropped notes' fade-outs, indexed by absolute frame modulo its length, and
        # the scratch a fade-out is mixed into before it goes there.
        self._tail = np.zeros((self.fade_frames + self.max_frames, channels), np.float32)
        self._drop = np.zeros((self.fade_frames, channels), np.float32)
        self.reset()

    def add_source(self, audio):
        """Register a (frames, channels) float32 source; returns its index. Call before
        rendering. The array is kept, not copied."""
        audio = np.ascontiguousarray(audio, np.float32)
        if audio.ndim != 2 or len(audio) == 0 or audio.shape[1] > 2:
            raise ValueError(f"a voice source must be (frames, 1 or 2 channels) audio, "
                             f"got shape {audio.shape}")
        self.sources.append(audio)
        self.longest = max(self.longest, len(audio))
        return len(self.sources) - 1

    def reset(self):
        """Silence: forget every note, sounding or waiting."""
        self.notes = []  # [start frame, length, rate, gain, source index, end fade frames]
        self.now = 0  # absolute frame of the next render's first frame
        self._tail[:] = 0.0
        self._tail_busy = 0

    @property
    def active(self):
        return bool(self.notes) or self._tail_busy > 0

    def start(self, source, delay=0, gain=1.0, rate=1.0):
        """Start ``source`` at frame ``delay`` of the next render (later ones included)."""
        src = self.sources[source]
        rate = min(max(float(rate), MIN_RATE), MAX_RATE)
        if rate == 1.0:
            n = len(src)
        else:  # the last position k * rate must have a sample after it to interpolate
            n = min(int((len(src) - 1) / rate), int(self.longest * self.max_stretch) + 1)
        if n <= 0:
            return
        fade = min(n, self.fade_frames) if n < len(src) / rate - 1 else 0
        if len(self.notes) >= self.max_voices:
            self._drop_oldest()
        self.notes.append([self.now + max(0, int(delay)), n, rate, float(gain), source,
                           fade])

    def render(self, out, frames):
        """Add the bank's next ``frames`` frames into ``out[:frames]``."""
        done = 0
        while done < frames:
            f = min(self.max_frames, frames - done)
            self._block(out[done:done + f], f)
            done += f

    def _block(self, out, frames):
        t0, t1 = self.now, self.now + frames
        ended = False
        sources = self.sources
        for start, n, rate, gain, source, fade in self.notes:
            if start >= t1:
                continue  # waiting for a later block
            kernels.voice(out, sources[source], t0 - start, rate, gain, n, fade, 0)
            ended = ended or start + n <= t1
        if ended:
            self.notes = [n for n in self.notes if n[0] + n[1] > t1]
        if self._tail_busy > 0:
            for lo, hi, at in _ring_parts(t0, frames, len(self._tail)):
                part = self._tail[lo:hi]
                out[at:at + hi - lo] += part
                part[:] = 0.0
            self._tail_busy = max(0, self._tail_busy - frames)
        self.now = t1

    def _drop_oldest(self):
        """Make room: the note that starts first leaves with a 5 ms fade from the next
        render on, mixed now into the tail ring."""
        oldest = min(range(len(self.notes)), key=lambda i: self.notes[i][0])
        start, n, rate, gain, source, fade = self.notes.pop(oldest)
        frames = self.fade_frames
        if start >= self.now + frames:
            return  # not sounding before the fade would end: nothing to hear
        acc = self._drop
        acc[:] = 0.0
        kernels.voice(acc, self.sources[source], self.now - start, rate, gain, n, fade,
                      frames)
        for lo, hi, at in _ring_parts(self.now, frames, len(self._tail)):
            self._tail[lo:hi] += acc[at:at + hi - lo]
        self._tail_busy = max(self._tail_busy, frames)


def _ring_parts(frame, count, length):
    """(lo, hi, at): the ring slices [lo, hi) holding frames ``frame + at`` on of a run
    of ``count`` frames in a ring of ``length``; two when the run wraps."""
    lo = frame % length
    first = min(count, length - lo)
    yield lo, lo + first, 0
    if first < count:
        yield 0, count - first, first
