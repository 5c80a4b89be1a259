"""Oracle for the voice kernel: the numpy voice bank the engine used before its note
mixing was compiled, kept as it was apart from this paragraph and its name. It sums a
group of notes before adding them to the block, the kernel adds each note in turn, so
the two agree to float32 rounding (tests/engine/test_voices.py states how closely).

Polyphonic playback of precomputed one-shots, for the motif, rhythm and cue layers.

    bank = VoiceBank(channels=2, max_frames=2048, sample_rate=48000)
    k = bank.add_source(audio)              # float32 (frames, 1 or 2), e.g. from the cache
    bank.start(k, delay=120, gain=0.5, rate=1.0)   # at frame 120 of the next render
    bank.render(out, frames)                # adds into out[:frames]

A started note is a record (start frame, length, rate, gain, source); each ``render``
mixes only the frames of every sounding note that fall in that block, so a note costs
the same small amount in every block it sounds in and nothing extra where it starts
(a block where a phrase of eight 7 s piano notes starts is no slower than the ones
after it). Per block the cost grows with the notes sounding: on a desktop core
about 15 us per mono note in a 2048-frame block (twice that for a stereo source), 1 to
1.5 ms with all 64 notes in flight; a Pi Zero 2 W core is about ten times slower
(``benchmarks/bench_voices.py``). Notes are mixed eight at a time, so the fixed Python
cost is a few numpy calls per eight notes plus a few per note.

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

MIN_RATE, MAX_RATE = 0.25, 4.0
MAX_VOICES = 64
GROUP = 8  # notes mixed together by one set of numpy calls
FADE_S = 0.005  # fade of a note cut short by max_stretch or dropped for a newer one


class OracleVoiceBank:
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
        self._span = max(self.max_frames, self.fade_frames)  # frames mixed at a time
        self._k = np.arange(self._span, dtype=np.float64)
        self._group_sources = [None] * GROUP  # the source of each row being mixed
        self._alloc(1)
        self.reset()

    def _alloc(self, chans):
        """Scratch for mixing GROUP notes over up to _span frames, and the tail ring."""
        n = GROUP * self._span
        self.chans = chans
        self._pos = np.zeros(n, np.float64)
        self._whole = np.zeros(n, np.float64)
        self._i0 = np.zeros(n, np.intp)
        self._frac = np.zeros(n, np.float32)
        self._w = np.zeros(n, np.float32)
        self._a = np.zeros(n * chans, np.float32)
        self._b = np.zeros(n * chans, np.float32)
        self._mono = np.zeros((self._span, 1), np.float32)  # a mono source in a stereo bank
        self._acc = np.zeros((self._span, chans), np.float32)
        self._ramp = np.zeros(self._span, np.float64)
        # Dropped notes' fade-outs, indexed by absolute frame modulo its length.
        self._tail = np.zeros((self.fade_frames + self.max_frames, chans), np.float32)
        self._tail_busy = 0

    def add_source(self, audio):
        """Register a (frames, channels) float32 source; returns its index. Call before
        rendering. The array is kept, not copied."""
        audio = np.ascontiguousarray(audio, np.float32)
        if audio.ndim != 2 or len(audio) == 0:
            raise ValueError(f"a voice source must be (frames, channels) audio, got shape "
                             f"{audio.shape}")
        self.sources.append(audio)
        self.longest = max(self.longest, len(audio))
        if audio.shape[1] > self.chans:
            self._alloc(audio.shape[1])
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
        self.notes.append([self.now + max(0, int(delay)), n, rate, np.float32(gain),
                           source, fade])

    def render(self, out, frames):
        """Add the bank's next ``frames`` frames into ``out[:frames]``."""
        done = 0
        while done < frames:
            f = min(self.max_frames, frames - done)
            self._block(out[done:done + f], f)
            done += f

    def _block(self, out, frames):
        t0, t1 = self.now, self.now + frames
        rows, ended = 0, False
        for note in self.notes:
            if note[0] >= t1:
                continue  # waiting for a later block
            self._row(rows, note, t0, frames)
            rows += 1
            ended = ended or note[0] + note[1] <= t1
            if rows == GROUP:
                self._mix(rows, frames)
                _add_out(out, self._acc[:frames])
                rows = 0
        if rows:
            self._mix(rows, frames)
            _add_out(out, self._acc[:frames])
        if ended:
            self.notes = [n for n in self.notes if n[0] + n[1] > t1]
        if self._tail_busy > 0:
            for lo, hi, at in _ring_parts(t0, frames, len(self._tail)):
                part = self._tail[lo:hi]
                _add_out(out[at:at + hi - lo], part)
                part[:] = 0.0
            self._tail_busy = max(0, self._tail_busy - frames)
        self.now = t1

    def _row(self, r, note, t0, frames):
        """Set row ``r`` of the group for ``note`` over [t0, t0 + frames): its position
        and its weight per frame (gain, zero outside the note, the end fade)."""
        start, n, rate, gain, source, fade = note
        rel = t0 - start  # note frame at the block's first frame (negative: not yet)
        pos = self._pos[r * frames:(r + 1) * frames]
        np.add(self._k[:frames], rel, out=pos)  # row by row: broadcasting would buffer
        pos *= rate
        self._group_sources[r] = self.sources[source]
        w = self._w[r * frames:(r + 1) * frames]
        lo, hi = max(0, -rel), min(frames, n - rel)
        if lo > 0:
            w[:lo] = 0.0
        w[lo:hi] = gain
        if hi < frames:
            w[hi:] = 0.0
        if fade:
            x = max(lo, n - fade - rel)  # the fade is linspace(1, 0, fade) over its end
            if x < hi:
                w[x:hi] *= self._ramp_part(x + rel - (n - fade), hi - x, fade)

    def _ramp_part(self, first, count, length):
        """Values ``first`` .. ``first + count`` of a linear ramp from 1 to 0 over
        ``length`` frames."""
        r = self._ramp[:count]
        if length > 1:
            np.multiply(self._k[first:first + count], -1.0 / (length - 1), out=r)
            r += 1.0
        else:
            r.fill(1.0)
        return r

    def _mix(self, rows, frames):
        """self._acc[:frames] = the sum of the group's first ``rows`` notes."""
        m = rows * frames
        ch = self.chans
        pos = self._pos[:m].reshape(rows, frames)
        whole = self._whole[:m].reshape(rows, frames)
        np.floor(pos, out=whole)
        i0 = self._i0[:m].reshape(rows, frames)
        np.copyto(i0, whole, casting="unsafe")
        pos -= whole  # in float64: subtracting i0 would cast through a buffer
        frac = self._frac[:m].reshape(rows, frames)
        np.copyto(frac, pos, casting="same_kind")
        w = self._w[:m].reshape(rows, frames)
        a = self._a[:m * ch].reshape(rows, frames, ch)
        b = self._b[:m * ch].reshape(rows, frames, ch)
        sources = self._group_sources
        for side, dest in ((0, a), (1, b)):
            if side:
                i0 += 1
            for r in range(rows):
                src = sources[r]
                if src.shape[1] == ch:
                    np.take(src, i0[r], axis=0, out=dest[r], mode="clip")
                else:  # mono source, stereo bank
                    mono = self._mono[:frames]
                    np.take(src, i0[r], axis=0, out=mono, mode="clip")
                    dest[r] = mono
        for c in range(ch):  # channel by channel: broadcasting frac would buffer
            ac, bc = a[:, :, c], b[:, :, c]
            bc -= ac
            bc *= frac
            ac += bc
            ac *= w
        np.add.reduce(a, axis=0, out=self._acc[:frames])

    def _drop_oldest(self):
        """Make room: the note that starts first leaves with a 5 ms fade from the next
        render on, mixed now into the tail ring."""
        oldest = min(range(len(self.notes)), key=lambda i: self.notes[i][0])
        note = self.notes.pop(oldest)
        fade = self.fade_frames
        if note[0] >= self.now + fade:
            return  # not sounding before the fade would end: nothing to hear
        self._row(0, note, self.now, fade)
        self._w[:fade] *= self._ramp_part(0, fade, fade)
        self._mix(1, fade)
        acc = self._acc[:fade]
        for lo, hi, at in _ring_parts(self.now, fade, len(self._tail)):
            self._tail[lo:hi] += acc[at:at + hi - lo]
        self._tail_busy = max(self._tail_busy, fade)


def _ring_parts(frame, count, length):
    """(lo, hi, at): the ring slices [lo, hi) holding frames ``frame + at`` on of a run
    of ``count`` frames in a ring of ``length``; two when the run wraps."""
    lo = frame % length
    first = min(count, length - lo)
    yield lo, lo + first, 0
    if first < count:
        yield 0, count - first, first


def _add_out(dest, part):
    """dest += part: a mono part to every channel, a stereo one channel to channel."""
    if part.shape[1] == 1:
        for c in range(dest.shape[1]):
            dest[:, c] += part[:, 0]
    elif part.shape[1] == dest.shape[1]:
        dest += part
    else:
        for c in range(min(dest.shape[1], part.shape[1])):
            dest[:, c] += part[:, c]
