"""soft_clip and Saturator: bounds, small-signal gain, harmonics, ramped drive."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severed.engine.dsp.saturation import Saturator, soft_clip

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


def test_saturator_mix_extremes():
    x = np.linspace(-2, 2, 512, dtype=np.float32)
    out = np.zeros_like(x)
    Saturator(drive_db=12.0, mix=0.0).process(x, out)
    np.testing.assert_array_equal(out, x)
    Saturator(drive_db=12.0, mix=1.0).process(x, out)
    np.testing.assert_allclose(out, soft_clip(x, 10 ** (12 / 20)), atol=1e-7)
    Saturator(drive_db=12.0, mix=0.25).process(x, out)
    np.testing.assert_allclose(out, 0.75 * x + 0.25 * soft_clip(x, 10 ** (12 / 20)), atol=1e-6)


def test_saturator_drive_change_is_ramped_without_steps():
    sat = Saturator(drive_db=0.0, mix=1.0, sample_rate=FS, ramp_s=0.05)
    x = np.full((2048, 2), 0.8, np.float32)  # constant stereo input: any change is the drive
    blocks = []
    for i in range(4):
        if i == 1:
            sat.drive_db = 24.0
        out = np.zeros_like(x)
        blocks.append(sat.process(x, out)[:, 0].copy())
    y = np.concatenate(blocks)
    start, end = np.tanh(0.8), np.tanh(0.8 * 10 ** 1.2) / 10 ** 1.2
    assert y[0] == pytest.approx(start, abs=1e-6)
    assert y[-1] == pytest.approx(end, abs=1e-6)
    ramp_samples = 0.05 * FS
    # the change is spread over the ramp: no sample moves by much more than an even share
    assert np.abs(np.diff(y)).max() < 2 * (start - end) / ramp_samples
    changing = np.flatnonzero(np.abs(np.diff(y)) > 0)
    assert changing[0] >= 2048 - 1 and changing[-1] - changing[0] >= ramp_samples - 2


def test_saturator_rejects_bad_settings():
    with pytest.raises(ValueError, match="mix"):
        Saturator(drive_db=3.0, mix=1.5)
    with pytest.raises(ValueError, match="drive_db"):
        Saturator(drive_db=-3.0)
