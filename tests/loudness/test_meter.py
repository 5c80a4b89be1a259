"""The BS.1770-4 meter against the reference signals of EBU Tech 3341 (generated
here: 1 kHz sines at stated levels and sequences of them) and, where it is installed
(the dev environment), against pyloudnorm."""

import math

import numpy as np
import pytest

from severed.loudness.meter import (LiveMeter, integrated_loudness, k_weighting,
                                    momentary_loudness, short_term_loudness)

SR = 48000


def sine(dbfs, seconds, sr=SR, channels=2, freq_hz=1000.0):
    """A sine whose peak is ``dbfs`` in every channel (how Tech 3341 states levels)."""
    t = np.arange(int(round(seconds * sr))) / sr
    x = 10.0 ** (dbfs / 20.0) * np.sin(2 * np.pi * freq_hz * t)
    return np.repeat(x[:, None], channels, axis=1)


def sequence(*parts, sr=SR):
    return np.concatenate([sine(db, s, sr) for db, s in parts])


def test_coefficients_at_48k_are_those_printed_in_bs1770():
    (b1, a1), (b2, a2) = k_weighting(48000)
    np.testing.assert_allclose(b1, [1.53512485958697, -2.69169618940638, 1.19839281085285],
                               rtol=1e-9)
    np.testing.assert_allclose(a1, [-1.69065929318241, 0.73248077421585], rtol=1e-9)
    np.testing.assert_allclose(b2, [1.0, -2.0, 1.0])
    np.testing.assert_allclose(a2, [-1.99004745483398, 0.99007225036621], rtol=1e-9)


# EBU Tech 3341, table 1, cases 1-5 (stereo), expected -23.0 +- 0.1 LUFS except case 2.
CASES = {
    "1: -23 dBFS, 20 s": ([(-23.0, 20.0)], -23.0),
    "2: -33 dBFS, 20 s": ([(-33.0, 20.0)], -33.0),
    "3: -36/-23/-36 dBFS, 10/60/10 s": ([(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)], -23.0),
    "4: -72/-36/-23/-36/-72 dBFS": ([(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0),
                                     (-36.0, 10.0), (-72.0, 10.0)], -23.0),
    "5: -26/-20/-26 dBFS, 20/20.1/20 s": ([(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)],
                                          -23.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tech_3341_integrated_cases(case):
    parts, expected = CASES[case]
    assert integrated_loudness(sequence(*parts), SR) == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_the_same_reading_at_other_sample_rates(sr):
    assert integrated_loudness(sine(-23.0, 20.0, sr), sr) == pytest.approx(-23.0, abs=0.1)


def test_case_6_five_channels_with_surround_weights():
    # L, R -28 dBFS; C -24; Ls, Rs -30 (weighted 1.41): -23.0
    levels = [-28.0, -28.0, -24.0, -30.0, -30.0]
    x = np.concatenate([sine(db, 20.0, channels=1) for db in levels], axis=1)
    assert integrated_loudness(x, SR) == pytest.approx(-23.0, abs=0.1)


def test_a_full_scale_sine_in_one_channel_reads_minus_3_01():
    assert integrated_loudness(sine(0.0, 10.0, channels=1), SR) == pytest.approx(-3.01,
                                                                                  abs=0.05)


def test_short_term_case_9_reads_steady():
    """Tech 3341 case 9: 1.34 s at -20 dBFS and 1.66 s at -30 dBFS, repeated: every
    3 s window holds one of each, -23.0 +- 0.1 LUFS."""
    x = sequence(*[(-20.0, 1.34), (-30.0, 1.66)] * 8)
    st = short_term_loudness(x, SR)
    assert len(st) > 100
    assert np.all(np.abs(st - (-23.0)) <= 0.1), (st.min(), st.max())


def test_momentary_follows_a_step_within_its_window():
    x = sequence((-40.0, 2.0), (-20.0, 2.0))
    m = momentary_loudness(x, SR)  # a value every 100 ms for 400 ms windows
    assert m[5] == pytest.approx(-40.0, abs=0.1) and m[-1] == pytest.approx(-20.0, abs=0.1)
    assert len(m) == int((4.0 - 0.4) / 0.1) + 1


def test_silence_and_short_signals_are_minus_infinity():
    assert integrated_loudness(np.zeros((SR * 2, 2)), SR) == -math.inf
    assert integrated_loudness(sine(-20.0, 0.3), SR) == -math.inf  # shorter than a block
    assert integrated_loudness(sine(-75.0, 5.0), SR) == -math.inf  # under the -70 gate


@pytest.mark.parametrize("sr", [44100, 48000])
def test_agrees_with_pyloudnorm_on_noise_and_music_like_signals(sr):
    pyloudnorm = pytest.importorskip("pyloudnorm")
    rng = np.random.default_rng(5)
    # pink-ish noise with bursts and quiet passages, and a bass-heavy mix
    white = rng.standard_normal((30 * sr, 2))
    pink = np.cumsum(white, axis=0)
    pink -= np.convolve(pink[:, 0], np.ones(512) / 512, "same")[:, None]
    pink *= 0.01 / pink.std()
    pink[5 * sr:9 * sr] *= 0.05
    t = np.arange(30 * sr) / sr
    bass = 0.3 * np.sin(2 * np.pi * 45 * t)[:, None] + 0.02 * white
    meter = pyloudnorm.Meter(sr)
    for x in (pink, bass, white * 0.05):
        # pyloudnorm's filters are a fixed approximation of K-weighting at any rate:
        # the two agree within 0.1 LU
        assert integrated_loudness(x, sr) == pytest.approx(meter.integrated_loudness(x),
                                                           abs=0.1)


def test_the_live_meter_follows_short_term_loudness_block_by_block():
    x = sequence((-30.0, 4.0), (-20.0, 4.0)).astype(np.float32)
    meter = LiveMeter(SR, 2, max_frames=2048)
    seen = []
    for pos in range(0, len(x), 2048):
        meter.process(x[pos:pos + 2048])
        seen.append((pos + 2048, meter.lufs))
    assert seen[0][1] == -math.inf  # under 3 s heard: nothing to tell yet
    at = {round(end / SR, 1): lufs for end, lufs in seen}
    assert at[3.5] == pytest.approx(-30.0, abs=0.1)
    assert meter.lufs == pytest.approx(-20.0, abs=0.1)
    # the same figure as the offline meter over the last 3 s
    assert meter.lufs == pytest.approx(short_term_loudness(x[-3 * SR:], SR)[-1], abs=0.1)


def test_the_live_meter_allocates_nothing_per_block():
    import tracemalloc

    x = sine(-20.0, 0.05).astype(np.float32)[:2048].copy()
    meter = LiveMeter(SR, 2, max_frames=2048)
    for _ in range(3):
        meter.process(x)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(50):
            meter.process(x)
        grown = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert grown < 4096  # a block is 16 KiB: no scratch buffer
