"""The voice bank measured against the algorithm it replaces (each note mixed in full
into a ring when it starts): same samples to 1e-6 at any rate, delay and block size;
mono and stereo; reset; many overlapping notes; the in-flight limit's fade; no
allocation while rendering."""

import tracemalloc

import numpy as np
import pytest

from severed.engine.layers.voices import MAX_VOICES, VoiceBank

SR = 48000


class RingBank:
    """The previous VoiceBank, trimmed to its arithmetic: each note is resampled in full
    into a ring (as long as the longest source replayed at 1 / max_stretch) when it
    starts; each render reads and clears the ring."""

    def __init__(self, channels, max_frames, sample_rate=SR, max_stretch=2.0):
        self.max_frames = max_frames
        self.sample_rate = sample_rate
        self.max_stretch = max(1.0, float(max_stretch))
        self.sources = []
        self.ring = np.zeros((max_frames, 1), np.float32)
        self.head = self.busy = 0
        self.pending = []

    def add_source(self, audio):
        audio = np.ascontiguousarray(audio, np.float32)
        self.sources.append(audio)
        longest = max(len(s) for s in self.sources)
        chans = max(s.shape[1] for s in self.sources)
        self.ring = np.zeros((int(longest * self.max_stretch) + 2 * self.max_frames, chans),
                             np.float32)
        self.scratch_len = int(longest * self.max_stretch) + 1
        return len(self.sources) - 1

    def start(self, source, delay=0, gain=1.0, rate=1.0):
        delay = max(0, int(delay))
        if delay >= self.max_frames:
            self.pending.append((delay, source, gain, rate))
        else:
            self._write(source, delay, gain, rate)

    def _write(self, source, delay, gain, rate):
        src = self.sources[source]
        rate = min(max(float(rate), 0.25), 4.0)
        room = len(self.ring) - delay - self.max_frames
        if rate == 1.0:
            n = min(len(src), room)
            note = src[:n] * np.float32(gain)
        else:
            n = min(int((len(src) - 1) / rate), room, self.scratch_len)
            pos = np.arange(n, dtype=np.float64) * rate
            i0 = pos.astype(np.intp)  # take() wants intp (32-bit on armhf)
            frac = (pos - i0).astype(np.float32)[:, None]
            a = np.take(src, i0, axis=0, mode="clip")
            b = np.take(src, i0 + 1, axis=0, mode="clip")
            note = (a + (b - a) * frac) * np.float32(gain)
        if n <= 0:
            return
        if n < len(src) / rate - 1:
            fade = min(n, int(0.005 * self.sample_rate))
            note[n - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        idx = (self.head + delay + np.arange(n)) % len(self.ring)
        self.ring[idx] += note  # a mono note broadcasts to every ring channel
        self.busy = max(self.busy, delay + n)

    def render(self, out, frames):
        keep = []
        for delay, source, gain, rate in self.pending:
            if delay < self.max_frames:
                self._write(source, delay, gain, rate)
            else:
                keep.append((delay - frames, source, gain, rate))
        self.pending = keep
        if self.busy <= 0:
            return
        idx = (self.head + np.arange(frames)) % len(self.ring)
        part = self.ring[idx]
        if part.shape[1] == 1:
            out[:frames] += part
        else:
            c = min(out.shape[1], part.shape[1])
            out[:frames, :c] += part[:, :c]
        self.ring[idx] = 0.0
        self.head = (self.head + frames) % len(self.ring)
        self.busy = max(0, self.busy - frames)


def tone(seconds, channels=1, seed=0, freq_hz=440.0):
    """A decaying partial-rich tone with a little noise, like a struck note."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = np.exp(-t * 3.0) * (np.sin(2 * np.pi * freq_hz * t) + 0.3 * np.sin(2 * np.pi * 3.1 * freq_hz * t))
    chans = [x + 0.05 * rng.standard_normal(len(t)) for _ in range(channels)]
    return (0.5 * np.stack(chans, axis=1)).astype(np.float32)


def play(bank_cls, sources, starts, blocks, out_channels=2, max_frames=None, **kw):
    """Render ``blocks`` (a list of block sizes) through a bank; ``starts`` maps a block
    index to the (source, delay, gain, rate) calls made before that block renders."""
    max_frames = max_frames or max(blocks)
    bank = bank_cls(out_channels, max_frames, SR, **kw)
    for s in sources:
        bank.add_source(s)
    out = np.zeros((sum(blocks), out_channels), np.float32)
    at = 0
    for i, f in enumerate(blocks):
        for call in starts.get(i, ()):
            bank.start(*call)
        bank.render(out[at:at + f], f)
        at += f
    return out, bank


def assert_same(sources, starts, blocks, **kw):
    new, bank = play(VoiceBank, sources, starts, blocks, **kw)
    old, _ = play(RingBank, sources, starts, blocks, **kw)
    assert np.abs(old).max() > 0.05  # the comparison is about sound, not silence
    np.testing.assert_allclose(new, old, rtol=0, atol=1e-6)
    return new, bank


RATES = [0.25, 0.5, 0.6299605, 0.943874, 1.0, 1.0594631, 1.4983071, 2.0, 3.3, 4.0]


@pytest.mark.parametrize("block", [64, 333, 1024, 2048])
def test_notes_at_many_rates_and_delays_match_the_ring_algorithm(block):
    sources = [tone(0.6, seed=1, freq_hz=300), tone(0.25, seed=2, freq_hz=1200)]
    rng = np.random.default_rng(block)
    n_blocks = int(3.2 * SR / block)
    starts = {}
    for j, rate in enumerate(RATES):
        # delays inside the block, beyond it, and several blocks ahead
        delay = int(rng.choice([0, rng.integers(block), block + 7, 5 * block + 3,
                                rng.integers(20 * block)]))
        starts.setdefault(int(rng.integers(n_blocks // 3)), []).append(
            (j % 2, delay, float(rng.uniform(0.2, 0.6)), rate))
    out, bank = assert_same(sources, starts, [block] * n_blocks)
    assert not bank.active  # every note (the longest: 0.6 s cut at 1.2 s) has ended


def test_uneven_block_sizes_and_renders_larger_than_max_frames():
    sources = [tone(0.4, seed=3)]
    blocks = [256, 100, 17, 256, 1, 200, 256] * 40
    starts = {0: [(0, 5, 0.5, 0.7)], 3: [(0, 300, 0.5, 1.3)], 9: [(0, 0, 0.4, 1.0)],
              30: [(0, 2000, 0.5, 0.25)]}
    assert_same(sources, starts, blocks, max_frames=256)
    # a render larger than max_frames is mixed in pieces, the samples unchanged
    first = {0: [(0, 5, 0.5, 0.7), (0, 1300, 0.5, 1.0), (0, 3000, 0.4, 0.25)]}
    whole, _ = play(VoiceBank, sources, first, [1024] * 30, max_frames=256)
    parts, _ = play(VoiceBank, sources, first, [256] * 120)
    assert np.abs(whole).max() > 0.1
    np.testing.assert_array_equal(whole, parts)


def test_a_note_starts_on_its_exact_frame_blocks_ahead():
    click = np.zeros((500, 1), np.float32)
    click[0] = 1.0
    bank = VoiceBank(2, 256, SR)
    k = bank.add_source(click)
    out = np.zeros((256 * 20, 2), np.float32)
    bank.start(k, delay=3, gain=0.5)
    bank.start(k, delay=256 * 7 + 101, gain=1.0)
    for i in range(20):
        bank.render(out[i * 256:(i + 1) * 256], 256)
    assert list(np.flatnonzero(out[:, 0])) == [3, 256 * 7 + 101]
    assert out[3, 1] == 0.5 and out[256 * 7 + 101, 1] == 1.0


def test_mono_and_stereo_sources_in_mono_and_stereo_banks():
    mono, stereo = tone(0.3, 1, seed=4), tone(0.3, 2, seed=5)
    starts = {0: [(0, 10, 0.5, 1.0), (1, 900, 0.5, 0.8)], 2: [(0, 0, 0.3, 1.7)]}
    # stereo bank: the mono source on both channels, the stereo one channel to channel
    out, _ = assert_same([mono, stereo], starts, [512] * 60)
    only_mono, _ = play(VoiceBank, [mono, stereo],
                        {0: [(0, 10, 0.5, 1.0)], 2: [(0, 0, 0.3, 1.7)]}, [512] * 60)
    np.testing.assert_array_equal(only_mono[:, 0], only_mono[:, 1])
    assert np.abs(out[:, 0] - out[:, 1]).max() > 0.01  # the stereo note differs per side
    # mono sources only, mono and stereo outputs
    assert_same([mono], {0: [(0, 10, 0.5, 1.3)]}, [512] * 40, out_channels=1)
    assert_same([mono], {0: [(0, 10, 0.5, 1.3)]}, [512] * 40, out_channels=2)
    # a stereo bank rendered into a mono output keeps its left channel
    assert_same([stereo], {0: [(0, 10, 0.5, 0.9)]}, [512] * 40, out_channels=1)


def test_reset_silences_everything_and_starts_afresh():
    src = tone(0.5, seed=6)
    bank = VoiceBank(2, 512, SR)
    bank.add_source(src)
    bank.start(0, delay=100, gain=0.5, rate=0.7)
    bank.start(0, delay=5000, gain=0.5, rate=1.2)  # still waiting
    out = np.zeros((512, 2), np.float32)
    bank.render(out, 512)
    assert bank.active and np.abs(out).max() > 0.0
    bank.reset()
    assert not bank.active
    after = np.zeros((512 * 40, 2), np.float32)
    for i in range(40):
        bank.render(after[i * 512:(i + 1) * 512], 512)
    assert np.abs(after).max() == 0.0
    # after a reset the bank plays like a new one
    bank.start(0, delay=33, gain=0.5, rate=1.5)
    again = np.zeros((512 * 40, 2), np.float32)
    for i in range(40):
        bank.render(again[i * 512:(i + 1) * 512], 512)
    fresh, _ = play(VoiceBank, [src], {0: [(0, 33, 0.5, 1.5)]}, [512] * 40)
    np.testing.assert_array_equal(again, fresh)


def test_many_overlapping_notes_match_the_ring_algorithm():
    sources = [tone(1.0, seed=s, freq_hz=200 * (s + 1)) for s in range(5)]
    rng = np.random.default_rng(7)
    starts = {}
    for j in range(MAX_VOICES):  # the limit reached, not passed: 64 notes at once
        starts.setdefault(int(rng.integers(3)), []).append(
            (j % 5, int(rng.integers(3000)), 0.05, float(rng.uniform(0.5, 2.0))))
    assert_same(sources, starts, [1024] * 100)
    _, bank = play(VoiceBank, sources, starts, [1024] * 6)
    assert len(bank.notes) == MAX_VOICES  # all in flight at once


def test_beyond_the_limit_the_oldest_note_fades_out_in_5_ms():
    dc = np.ones((SR, 1), np.float32)
    silent = np.zeros((SR, 1), np.float32)
    bank = VoiceBank(1, 256, SR)
    k_dc, k_silent = bank.add_source(dc), bank.add_source(silent)
    out = np.zeros((256 * 8, 1), np.float32)
    bank.start(k_dc, delay=0, gain=0.5)
    for _ in range(MAX_VOICES - 1):
        bank.start(k_silent, delay=10)
    bank.render(out[:256], 256)
    bank.render(out[256:512], 256)
    assert len(bank.notes) == MAX_VOICES
    bank.start(k_silent, delay=0)  # one too many: the DC note, the oldest, goes
    assert len(bank.notes) == MAX_VOICES
    for i in range(2, 8):
        bank.render(out[i * 256:(i + 1) * 256], 256)
    fade = int(0.005 * SR)
    np.testing.assert_allclose(out[:512, 0], 0.5)
    np.testing.assert_allclose(out[512:512 + fade, 0],
                               0.5 * np.linspace(1.0, 0.0, fade), atol=1e-6)
    assert np.abs(out[512 + fade:]).max() == 0.0
    assert np.abs(np.diff(out[:, 0])).max() < 0.5 / fade * 1.01  # no step: no click


def test_rendering_allocates_nothing():
    bank = VoiceBank(2, 2048, SR)
    for s in range(4):
        bank.add_source(tone(2.0, 1 + s % 2, seed=s))
    out = np.zeros((2048, 2), np.float32)
    for s in range(12):  # two groups of notes, mono and stereo, some rates != 1
        bank.start(s % 4, delay=s * 100, gain=0.1, rate=1.0 if s % 3 == 0 else 0.8 + 0.1 * s)
    bank.start(0, delay=0, gain=0.1, rate=0.25)  # cut short by max_stretch: an end fade
    bank.render(out, 2048)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(60):
            if i == 30:  # one note over the limit: a fade-out into the tail ring
                for _ in range(MAX_VOICES - len(bank.notes) + 1):
                    bank.start(1, delay=3000, gain=0.0)
                full = len(bank.notes)
            bank.render(out, 2048)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert full == MAX_VOICES
    assert peak < 4096 + MAX_VOICES * 200  # (the notes' records); a block would be 16 KiB


# -- against the oracle (the numpy bank the kernel replaced) -------------------------

@pytest.mark.parametrize("sr", [44100, 48000])
@pytest.mark.parametrize("block", [64, 333, 2048])
def test_kernel_matches_the_numpy_bank_it_replaced(sr, block):
    # The numpy bank summed notes in groups of eight before adding them to the block,
    # the kernel adds each note in turn: float32 rounding of the sums, under 1e-6 of
    # full scale. Many rates, delays, stereo and mono notes, end fades (notes slowed
    # past max_stretch) and drops (more notes than max_voices).
    from tests.engine.oracles.voices import OracleVoiceBank

    sources = [tone(0.4, 1, seed=1, freq_hz=300), tone(0.2, 2, seed=2, freq_hz=900),
               tone(0.05, 1, seed=3, freq_hz=2000)]
    rng = np.random.default_rng(block)
    n_blocks = int(1.5 * sr / block)
    starts = {}
    for j in range(40):
        starts.setdefault(int(rng.integers(n_blocks // 2)), []).append(
            (j % 3, int(rng.integers(4 * block)), float(rng.uniform(0.1, 0.4)),
             float(rng.choice(RATES))))
    outs = []
    for cls in (VoiceBank, OracleVoiceBank):
        bank = cls(2, block, sr, max_voices=12)
        for s in sources:
            bank.add_source(s)
        out = np.zeros((n_blocks * block, 2), np.float32)
        for i in range(n_blocks):
            for call in starts.get(i, ()):
                bank.start(*call)
            bank.render(out[i * block:(i + 1) * block], block)
        outs.append(out)
    assert np.abs(outs[1]).max() > 0.2
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-6)


def test_kernel_checks_its_buffers():
    from severed.engine.compiled import kernels

    src = tone(0.1)
    with pytest.raises(TypeError, match="voice: out must be float32"):
        kernels.voice(np.zeros((64, 2)), src, 0, 1.0, 1.0, len(src), 0, 0)
    with pytest.raises(ValueError, match="voice: rate"):
        kernels.voice(np.zeros((64, 2), np.float32), src, 0, 0.0, 1.0, len(src), 0, 0)
    with pytest.raises(ValueError, match="a voice source must be"):
        VoiceBank(2, 64, SR).add_source(np.zeros((10, 3), np.float32))
