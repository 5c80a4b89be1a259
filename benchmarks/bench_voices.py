"""Cost of the voice bank (motif, rhythm and cue layers) per 2048-frame block at 48 kHz,
against the previous algorithm, which mixed each note in full into a ring in the block
where it started.

Run: ``.venv/bin/python benchmarks/bench_voices.py [--rounds N]``

The case is a motif phrase at its heaviest: 8 felt-piano-length notes (7 s each) started
in one block, at rates between 0.5 and 2, into a stereo output, from stereo sources and
from mono ones (the felt piano is mono). Each round renders the phrase until it has died
away; printed are the slowest block and the median block of a round, in ms (the
median over the rounds of each), and the total of the phrase. Then the new bank's cost
per block at its limit, 64 notes in flight. Times are the thread's CPU time, so other
processes preempting it do not count (cache and core sharing still do). A Pi Zero 2 W core is
about ten times slower than a desktop core; a block lasts 42.7 ms.
"""

import argparse
import statistics
import time

import numpy as np

from severed.engine.layers.voices import VoiceBank

SAMPLE_RATE = 48000
FRAMES = 2048
NOTE_S = 7.0
RATES = [0.5, 0.63, 0.75, 0.89, 1.0, 1.19, 1.5, 2.0]
CHUNK = 8192
MIN_RATE, MAX_RATE = 0.25, 4.0


def note(channels, seed):
    """A 7 s decaying tone, like a felt-piano note from the cache."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(NOTE_S * SAMPLE_RATE)) / SAMPLE_RATE
    f = 110.0 * 2 ** (seed / 12)
    x = np.exp(-t * 0.8) * np.sin(2 * np.pi * f * t)
    chans = [x + 0.001 * rng.standard_normal(len(t)) for _ in range(channels)]
    return (0.3 * np.stack(chans, axis=1)).astype(np.float32)


def phrase(bank_cls, sources, rounds):
    """(slowest block ms, median block ms, phrase total ms), medians over rounds."""
    bank = bank_cls(2, FRAMES, SAMPLE_RATE, max_stretch=2.0)
    for s in sources:
        bank.add_source(s)
    out = np.zeros((FRAMES, 2), np.float32)
    worst, median, total = [], [], []
    for r in range(rounds + 1):
        bank.reset()
        times = []
        first = True
        while first or bank.active:
            t0 = time.thread_time()
            if first:
                for i, rate in enumerate(RATES):
                    bank.start(i % len(sources), delay=i * 200, gain=0.2, rate=rate)
                first = False
            bank.render(out, FRAMES)
            times.append(time.thread_time() - t0)
        if r == 0:
            continue  # warm-up: page in the sources
        worst.append(max(times) * 1e3)
        median.append(statistics.median(times) * 1e3)
        total.append(sum(times) * 1e3)
    return statistics.median(worst), statistics.median(median), statistics.median(total)


def at_the_limit(rounds, blocks=200):
    """New bank, 64 long notes in flight (mono sources): ms per block, best/median."""
    bank = VoiceBank(2, FRAMES, SAMPLE_RATE, max_stretch=2.0)
    srcs = [bank.add_source(note(1, s)) for s in range(8)]
    rng = np.random.default_rng(1)
    out = np.zeros((FRAMES, 2), np.float32)
    per = []
    for r in range(rounds):
        bank.reset()
        for v in range(64):
            bank.start(srcs[v % 8], delay=int(rng.integers(FRAMES)), gain=0.02,
                       rate=float(rng.uniform(0.5, 2.0)))
        bank.render(out, FRAMES)
        t0 = time.thread_time()
        for _ in range(blocks):
            bank.render(out, FRAMES)
        per.append((time.thread_time() - t0) / blocks * 1e3)
    return min(per), statistics.median(per)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"phrase of {len(RATES)} notes of {NOTE_S:g} s, rates {RATES[0]}-{RATES[-1]}, "
          f"{FRAMES}-frame blocks ({FRAMES / SAMPLE_RATE * 1e3:.1f} ms), stereo output")
    print(f"{'sources':8} {'bank':5} {'slowest block':>14} {'median block':>13} {'phrase total':>13}")
    for chans in (2, 1):
        sources = [note(chans, s) for s in range(len(RATES))]
        for name, cls in (("old", OldVoiceBank), ("new", VoiceBank)):
            worst, med, total = phrase(cls, sources, args.rounds)
            print(f"{'stereo' if chans == 2 else 'mono':8} {name:5} {worst:11.2f} ms "
                  f"{med:10.3f} ms {total:10.1f} ms")
    best, med = at_the_limit(args.rounds)
    print(f"new bank at its limit, 64 notes in flight (mono): {best:.2f} ms per block "
          f"(median round {med:.2f} ms)")


class OldVoiceBank:
    """The previous bank, kept to compare: each note is resampled in full into a ring
    when it starts."""

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


if __name__ == "__main__":
    main()
