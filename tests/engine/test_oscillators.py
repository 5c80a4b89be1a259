"""Oscillator bank: alias rejection, level, pitch accuracy, phase continuity, glides."""

import numpy as np
import pytest
from scipy.signal import windows

from severed.engine.dsp.oscillators import SHAPES, Oscillator

RATES = (44100, 48000)
# Spread over 20 Hz - 5 kHz, with values just under the top of mip-map octaves
# (fs * 2**-k), where the highest kept harmonic sits closest to 0.45 * fs.
FREQS = (20.0, 27.5, 46.8, 55.0, 93.7, 110.7, 187.4, 233.0, 374.9, 440.0, 749.5,
         1000.0, 1499.0, 1760.0, 2999.0, 3001.0, 4999.0)
N_FFT = 1 << 16


def render(osc, total, freq, block=2048):
    out = np.zeros((osc.voices, total), np.float32)
    pos = 0
    sizes = block if isinstance(block, (list, tuple)) else [block]
    i = 0
    while pos < total:
        n = min(sizes[i % len(sizes)], total - pos)
        osc.render(out[:, pos:], n, freq)
        pos += n
        i += 1
    return out


def alias_db(x, fs, f0):
    """Power not at multiples of f0, relative to the fundamental, in dB."""
    n = len(x)
    spec = np.abs(np.fft.rfft(x * windows.blackmanharris(n))) ** 2
    f = np.fft.rfftfreq(n, 1.0 / fs)
    guard = 8 * fs / n  # the window's main lobe and a little more
    near_harmonic = np.abs(f - f0 * np.round(f / f0)) <= guard
    fundamental = spec[np.abs(f - f0) <= guard].sum()
    return 10 * np.log10(spec[~near_harmonic].sum() / fundamental)


def naive_saw(fs, f0, n):
    return (2.0 * ((np.arange(n) * f0 / fs + 0.5) % 1.0) - 1.0).astype(np.float32)


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("shape", ["saw", "square", "triangle", "sine"])
def test_aliased_energy_is_60_db_below_the_fundamental(fs, shape):
    osc = Oscillator(fs, shape, voices=len(FREQS), max_frames=4096)
    out = render(osc, N_FFT, np.array(FREQS), block=4096)
    worst = max(alias_db(out[v].astype(np.float64), fs, f0) for v, f0 in enumerate(FREQS))
    assert worst < -60.0, f"{shape} at {fs} Hz: aliased energy {worst:.1f} dB"


def test_alias_measure_catches_a_naive_saw():
    # The measure above must be able to fail: a naive saw aliases badly.
    assert alias_db(naive_saw(48000, 1499.0, N_FFT), 48000, 1499.0) > -40.0
    assert alias_db(naive_saw(48000, 110.7, N_FFT), 48000, 110.7) > -60.0


@pytest.mark.parametrize("shape, rms", [("sine", 0.7071), ("saw", 0.577 / 1.179),
                                        ("square", 1.0 / 1.179), ("triangle", 0.577)])
def test_level_peak_about_one_and_rms_of_the_shape(shape, rms):
    osc = Oscillator(48000, shape, voices=3)
    out = render(osc, 48000, np.array([41.0, 110.0, 261.6]))
    for row in out:
        assert 0.95 <= np.abs(row).max() <= 1.0 + 1e-6
        assert np.sqrt(np.mean(row.astype(np.float64) ** 2)) == pytest.approx(rms, rel=0.03)


@pytest.mark.parametrize("shape", ["saw", "square", "triangle"])
def test_peak_stays_near_one_up_to_high_notes(shape):
    freqs = np.array([20.0, 1000.0, 2999.0, 5000.0, 9000.0, 15000.0])
    osc = Oscillator(48000, shape, voices=len(freqs))
    out = render(osc, 48000, freqs)
    peaks = np.abs(out).max(axis=1)
    assert peaks[:4].max() <= 1.0 + 1e-3  # up to 5 kHz
    assert peaks.max() <= 1.07  # a square's lone fundamental near Nyquist


@pytest.mark.parametrize("shape", ["saw", "square", "triangle"])
def test_fundamental_level_does_not_change_between_octave_tables(shape):
    freqs = np.array([60.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0])
    osc = Oscillator(48000, shape, voices=len(freqs), max_frames=4096)
    out = render(osc, N_FFT, freqs, block=4096)
    f = np.fft.rfftfreq(N_FFT, 1 / 48000)
    levels = []
    for row, f0 in zip(out, freqs):
        spec = np.abs(np.fft.rfft(row * windows.blackmanharris(N_FFT))) ** 2
        levels.append(10 * np.log10(spec[np.abs(f - f0) < 6].sum()))
    assert max(levels) - min(levels) < 0.05


@pytest.mark.parametrize("fs", RATES)
def test_frequency_accurate_to_a_tenth_of_a_percent(fs):
    freqs = np.array([20.0, 55.0, 440.0, 1234.5, 5000.0])
    osc = Oscillator(fs, "sine", voices=len(freqs), max_frames=4096)
    out = render(osc, fs * 2, freqs, block=4096).astype(np.float64)
    for row, f0 in zip(out, freqs):
        i = np.flatnonzero((row[:-1] < 0) & (row[1:] >= 0))
        t = i + row[i] / (row[i] - row[i + 1])  # interpolated rising zero crossings
        measured = (len(t) - 1) * fs / (t[-1] - t[0])
        assert measured == pytest.approx(f0, rel=1e-3)


@pytest.mark.parametrize("shape, freqs", [("saw", np.array([30.0, 261.6, 1003.0, 4321.0])),
                                          ("sine", np.array([30.0, 261.6, 1003.0, 4321.0])),
                                          ("square", np.array([30.0, 261.6, 1003.0, 4321.0])),
                                          ("saw", 523.25), ("triangle", 97.0)])
def test_blocks_of_any_size_give_the_same_signal(shape, freqs):
    whole = Oscillator(48000, shape, voices=4, max_frames=8192)
    reference = render(whole, 8192, freqs, block=8192)
    for block in (64, 512, 2048, [100, 1, 2047, 333, 64, 1500, 7]):
        osc = Oscillator(48000, shape, voices=4, max_frames=2048)
        np.testing.assert_allclose(render(osc, 8192, freqs, block=block), reference,
                                   atol=1e-5, err_msg=f"blocks {block}")


def test_render_writes_only_the_first_frames_and_replaces_old_content():
    osc = Oscillator(48000, "saw", voices=2, max_frames=256)
    out = np.full((2, 300), 7.0, np.float32)
    osc.render(out, 200, 440.0)
    assert np.all(out[:, 200:] == 7.0)
    assert np.abs(out[:, :200]).max() <= 1.0
    clean = Oscillator(48000, "saw", voices=2, max_frames=256)
    expected = np.zeros((2, 200), np.float32)
    clean.render(expected, 200, 440.0)
    np.testing.assert_array_equal(out[:, :200], expected)


def sine_step_bound(f_hz, fs):
    return 2 * np.pi * f_hz / fs * 1.01


def test_glide_is_smooth_and_ends_at_the_target():
    fs = 48000
    osc = Oscillator(fs, "sine", voices=1, max_frames=4096)
    out = np.zeros((1, 4 * 4096), np.float32)
    osc.render(out[:, :4096], 4096, 440.0)
    osc.render(out[:, 4096:], 4096, 880.0)  # glides 440 -> 880 across this block
    osc.render(out[:, 8192:], 4096, 880.0)
    osc.render(out[:, 12288:], 4096, 880.0)
    x = out[0].astype(np.float64)
    # No step anywhere larger than a sine at the top frequency allows.
    assert np.abs(np.diff(x)).max() <= sine_step_bound(880.0, fs)
    rising = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    t = rising + x[rising] / (x[rising] - x[rising + 1])
    # During the glide the mean frequency is the mean of both ends.
    in_glide = t[(t >= 4096) & (t < 8192)]
    mean_hz = (len(in_glide) - 1) * fs / (in_glide[-1] - in_glide[0])
    assert mean_hz == pytest.approx(660.0, rel=0.02)
    # Afterwards it holds the target exactly.
    after = t[t >= 8192]
    assert (len(after) - 1) * fs / (after[-1] - after[0]) == pytest.approx(880.0, rel=1e-3)
    # The last period of the glide block is already at (almost) the target.
    last = t[t < 8192][-2:]
    assert fs / (last[1] - last[0]) == pytest.approx(880.0, rel=0.02)


def test_vibrato_in_small_blocks_has_no_discontinuity():
    fs = 48000
    osc = Oscillator(fs, "sine", voices=1, max_frames=64)
    out = np.zeros((1, 48000), np.float32)
    for i in range(0, 48000, 64):
        f = 1000.0 * 2 ** (0.5 / 12 * np.sin(2 * np.pi * 6.0 * i / fs))
        osc.render(out[:, i:], 64, f)
    assert np.abs(np.diff(out[0])).max() <= sine_step_bound(1000.0 * 2 ** (0.5 / 12), fs)


def test_sweep_across_octave_tables_keeps_its_level():
    # A slow saw sweep over several table changes: block levels move smoothly.
    fs = 48000
    osc = Oscillator(fs, "saw", voices=1, max_frames=512)
    blocks = 400
    out = np.zeros((1, blocks * 512), np.float32)
    for b in range(blocks):
        osc.render(out[:, b * 512:], 512, 300.0 * 2 ** (3.0 * b / blocks))  # 300->2400 Hz
    windows_db = 20 * np.log10(np.sqrt(np.mean(out[0, :192000].reshape(20, 9600) ** 2,
                                               axis=1)))
    assert np.abs(np.diff(windows_db)).max() < 0.25
    assert np.abs(out).max() <= 1.0 + 1e-6


def test_initial_phase_and_reset():
    osc = Oscillator(48000, "sine", voices=2, phase=[0.25, 0.5])
    out = np.zeros((2, 480), np.float32)
    osc.render(out, 480, 100.0)
    assert out[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert out[1, 0] == pytest.approx(0.0, abs=1e-6)
    first = out.copy()
    osc.render(out, 480, 300.0)
    osc.reset()
    osc.render(out, 480, 100.0)
    np.testing.assert_array_equal(out, first)


def test_per_voice_frequencies_and_errors():
    osc = Oscillator(48000, "sine", voices=2, max_frames=128)
    with pytest.raises(ValueError, match="max_frames"):
        osc.render(np.zeros((2, 256), np.float32), 256, 100.0)
    with pytest.raises(ValueError, match="frequencies"):
        osc.render(np.zeros((2, 128), np.float32), 128, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="shape"):
        Oscillator(48000, "noise")


def test_out_of_range_frequencies_are_clamped_not_fatal():
    osc = Oscillator(48000, "saw", voices=3, max_frames=64)
    out = np.zeros((3, 64), np.float32)
    osc.render(out, 64, [float("nan"), -50.0, 1e9])
    assert np.all(np.isfinite(out)) and np.abs(out).max() <= 1.1
    osc.render(out, 64, np.float64(440.0))
    osc.render(out, 64, np.array(440.0))


# ------------------------------------------------------------ kernel against its oracle

def _pitch_plan(voices, blocks, seed):
    """Per block, per voice: holds, vibrato-sized wobbles and jumps across octaves."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(40.0, 3000.0, voices)
    plan = []
    for i in range(blocks):
        if i % 4 == 0:
            base = base * 2.0 ** rng.uniform(-2.5, 2.5, voices)  # new octave tables
        elif i % 4 == 1:
            base = base * 2.0 ** rng.uniform(-0.02, 0.02, voices)
        plan.append(np.clip(base, 5.0, 30000.0))
    return plan


@pytest.mark.parametrize("fs", (22050, 48000, 96000))
@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_equals_numpy_oracle_bit_for_bit(shape, fs):
    from engine.oracles.oscillators import Oscillator as Oracle
    voices = 5
    phase = np.random.default_rng(3).random(voices)
    osc = Oscillator(fs, shape, voices=voices, max_frames=1024, phase=phase)
    ref = Oracle(fs, shape, voices=voices, max_frames=1024, phase=phase)
    sizes = (1, 7, 64, 256, 1000, 3, 1024, 130)
    plan = _pitch_plan(voices, 40, fs)
    got = np.zeros((voices, 1024), np.float32)
    want = np.zeros((voices, 1024), np.float32)
    for i, freqs in enumerate(plan):
        n = sizes[i % len(sizes)]
        osc.render(got, n, freqs)
        ref.render(want, n, freqs)
        np.testing.assert_array_equal(got[:, :n], want[:, :n], err_msg=f"block {i}")


def test_render_mix_is_the_weighted_sum_of_the_voices():
    voices, channels = 4, 2
    mix = np.array([[1.0, 0.0], [0.0, 1.0], [0.7071, 0.7071], [0.3, 0.9]], np.float32)
    a = Oscillator(48000, "saw", voices=voices, phase=[0.1, 0.2, 0.3, 0.4])
    b = Oscillator(48000, "saw", voices=voices, phase=[0.1, 0.2, 0.3, 0.4])
    stereo = np.full((2048, channels), 9.0, np.float32)  # written, not added to
    rows = np.zeros((voices, 2048), np.float32)
    for freqs in ([55.0, 82.4, 110.0, 164.8], [56.0, 80.0, 220.0, 164.8]):
        a.render_mix(stereo, 2000, freqs, mix)
        b.render(rows, 2000, freqs)
        want = np.zeros((2000, channels), np.float32)
        for v in range(voices):
            want += rows[v, :2000, None] * mix[v]
        np.testing.assert_array_equal(stereo[:2000], want)
    assert np.all(stereo[2000:] == 9.0)
