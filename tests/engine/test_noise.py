"""Noise: level, spectral slope, independence of channels, no drift, reproducibility."""

import numpy as np
import pytest
import scipy.signal as ss

from severed.engine.dsp.noise import COLORS, RMS, Noise

FS = 48000


def render(color, seconds=10.0, seed=1, block=2048, channels=2, fs=FS):
    n = int(seconds * fs)
    gen = Noise(color, np.random.default_rng(seed), channels=channels, max_frames=block,
                sample_rate=fs)
    out = np.zeros((n, channels), np.float32)
    buf = np.zeros((block, channels), np.float32)
    for pos in range(0, n, block):
        k = min(block, n - pos)
        gen.render(buf, k)
        out[pos:pos + k] = buf[:k]
    return out


@pytest.fixture(scope="module")
def streams():
    return {c: render(c) for c in COLORS}


def band_levels_db(x, fs, centres):
    """Average PSD (dB) in third-octave bands around the given centres."""
    f, p = ss.welch(x, fs=fs, nperseg=1 << 15, axis=0)
    p = p.mean(axis=1)
    out = []
    for fc in centres:
        sel = (f >= fc / 2 ** (1 / 6)) & (f < fc * 2 ** (1 / 6))
        out.append(10 * np.log10(np.mean(p[sel])))
    return np.array(out)


@pytest.mark.parametrize("color", COLORS)
def test_rms_is_a_quarter(streams, color):
    rms = np.sqrt(np.mean(streams[color].astype(np.float64) ** 2, axis=0))
    assert np.all(np.abs(rms / RMS - 1.0) < 0.03), rms


@pytest.mark.parametrize("color", COLORS)
def test_channels_are_independent(streams, color):
    x = streams[color]
    assert abs(np.corrcoef(x.T)[0, 1]) < 0.05


def slope_fit(x, lo, hi):
    centres = 1000.0 * 2.0 ** (np.arange(-30, 25) / 3.0)
    centres = centres[(centres >= lo) & (centres <= hi)]
    levels = band_levels_db(x, FS, centres)
    octaves = np.log2(centres / 1000.0)
    slope, icpt = np.polyfit(octaves, levels, 1)
    return slope, levels - (slope * octaves + icpt), levels, octaves


def test_white_is_flat(streams):
    slope, resid, _, _ = slope_fit(streams["white"], 40, 16000)
    assert abs(slope) < 0.2
    assert np.max(np.abs(resid)) < 1.0


def test_pink_falls_3_db_per_octave(streams):
    slope, _, levels, octaves = slope_fit(streams["pink"], 40, 16000)
    assert abs(slope + 3.01) < 0.25, slope
    ideal = -3.0103 * octaves
    dev = levels - ideal
    dev -= np.mean(dev)
    assert np.max(np.abs(dev)) < 1.5, dev


def test_brown_falls_6_db_per_octave_and_has_no_dc(streams):
    x = streams["brown"]
    slope, resid, _, _ = slope_fit(x, 100, 10000)
    assert abs(slope + 6.02) < 0.4, slope
    assert np.max(np.abs(resid)) < 1.5
    # The 20 Hz high-pass: the spectrum turns down again below its corner.
    f, p = ss.welch(x, fs=FS, nperseg=1 << 17, axis=0)
    p = p.mean(axis=1)
    below = np.mean(p[(f >= 2) & (f < 6)])
    corner = np.mean(p[(f >= 15) & (f < 30)])
    assert 10 * np.log10(below / corner) < -6.0
    # No drift: one-second means stay near zero.
    means = x[: (len(x) // FS) * FS].reshape(-1, FS, 2).mean(axis=1)
    assert np.max(np.abs(means)) < 0.05


@pytest.mark.parametrize("color", COLORS)
def test_block_size_does_not_change_the_stream(color):
    a = render(color, seconds=0.5, block=2048)
    b = render(color, seconds=0.5, block=77)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_seeds_differ_and_repeat():
    a = render("pink", seconds=0.2, seed=1)
    b = render("pink", seconds=0.2, seed=1)
    c = render("pink", seconds=0.2, seed=2)
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 0.1


def test_render_writes_only_the_frames_asked():
    gen = Noise("brown", np.random.default_rng(0), max_frames=64)
    buf = np.full((64, 2), 7.0, np.float32)
    gen.render(buf, 10)
    assert np.all(buf[10:] == 7.0)
    assert np.all(np.abs(buf[:10]) < 2.0)


def test_unknown_colour_is_refused():
    with pytest.raises(ValueError, match="purple"):
        Noise("purple", np.random.default_rng(0))


def test_reset_clears_colouring_memory():
    gen = Noise("brown", np.random.default_rng(0), max_frames=256)
    buf = np.zeros((256, 2), np.float32)
    gen.render(buf, 256)
    gen.reset()
    assert np.any(buf != 0.0) and np.all(gen.core.state == 0.0)


@pytest.mark.parametrize("color", COLORS)
def test_render_allocates_no_buffers(color):
    import tracemalloc
    gen = Noise(color, np.random.default_rng(0))
    buf = np.zeros((2048, 2), np.float32)
    for _ in range(3):
        gen.render(buf, 2048)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(20):
        gen.render(buf, 2048)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    assert peak < 4096, peak


def test_white_is_near_gaussian(streams):
    """The sum of four uniforms: zero mean, the variance asked, a bell-shaped spread
    (kurtosis 2.7 against a Gaussian's 3) and no sample beyond 3.47 sigma."""
    x = streams["white"].astype(np.float64).ravel() / RMS
    assert abs(x.mean()) < 0.01
    assert abs(x.std() - 1.0) < 0.01
    kurtosis = np.mean(x ** 4) / np.mean(x ** 2) ** 2
    assert 2.65 < kurtosis < 2.75, kurtosis
    assert np.abs(x).max() <= 3.47
    within_1_sigma = np.mean(np.abs(x) < 1.0)
    assert 0.66 < within_1_sigma < 0.69, within_1_sigma  # Gaussian: 0.683


def test_generator_state_is_checked():
    from severed.engine.compiled import kernels
    out = np.zeros((16, 2), np.float32)
    with pytest.raises(ValueError, match="not all zero"):
        kernels.white(out, 16, np.zeros(4, np.uint32), 1.0)
    with pytest.raises(TypeError, match="white: state must be uint32"):
        kernels.white(out, 16, np.ones(4, np.int64), 1.0)
