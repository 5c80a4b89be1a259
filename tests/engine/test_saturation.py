"""soft_clip: bounds, small-signal gain, harmonics."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severed.engine.dsp.saturation import soft_clip

FS = 48000


@pytest.mark.filterwarnings("ignore:overflow encountered")  # 1e38 * drive is inf: tanh -> 1
@settings(max_examples=200, deadline=None)
@given(x=st.lists(st.floats(allow_nan=False, width=32), min_size=1, max_size=64),
       drive=st.floats(1.0, 100.0))
def test_soft_clip_output_strictly_inside_minus_one_one(x, drive):
    y = soft_clip(np.array(x, np.float32), drive)
    assert np.all(np.abs(y) < 1.0)


def test_soft_clip_bounds_at_extremes_and_infinity():
    x = np.array([-np.inf, -1e30, -20, 20, 1e30, np.inf], np.float32)
    for drive in (1.0, 1.0000001, 4.0):
        y = soft_clip(x, drive)
        assert np.all(np.abs(y) < 1.0)
        assert np.all(np.sign(y) == np.sign(x))


@pytest.mark.parametrize("drive", [1.0, 2.0, 10.0])
def test_soft_clip_unity_gain_for_small_signals_and_odd_symmetry(drive):
    x = (1e-3 / drive * np.sin(np.arange(1000) * 0.1)).astype(np.float32)
    y = soft_clip(x, drive)
    np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-9)
    big = np.linspace(-3, 3, 601, dtype=np.float32)
    out = soft_clip(big, drive)
    np.testing.assert_allclose(out, -out[::-1], atol=1e-7)
    assert np.all(np.diff(out) >= 0)  # monotonic: no fold-over


def third_harmonic_db(y, f0_bin, n):
    spec = np.abs(np.fft.rfft(y * np.hanning(n)))
    return 20 * np.log10(spec[3 * f0_bin] / spec[f0_bin])


def test_more_drive_more_harmonics():
    n, f0_bin = 4800, 50
    x = (0.5 * np.sin(2 * np.pi * f0_bin * np.arange(n) / n)).astype(np.float32)
    levels = [third_harmonic_db(soft_clip(x, d), f0_bin, n) for d in (1.0, 2.0, 4.0)]
    assert levels[0] < -30  # tanh of a half-scale sine: mild
    assert levels[0] < levels[1] < levels[2]
    assert levels[2] > -20


def test_soft_clip_in_place_and_new_array():
    x = np.array([0.1, 2.0, -3.0], np.float32)
    y = soft_clip(x)
    assert y is not x and y.dtype == np.float32
    z = soft_clip(x, 1.0, out=x)
    assert z is x
    np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="drive"):
        soft_clip(x, 0.5)
