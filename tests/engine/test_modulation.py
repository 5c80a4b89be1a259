"""Smoother, Lfo and Drift: ramps without steps, bounded and slow random motion."""

import numpy as np
import pytest

from severed.engine.dsp.modulation import Drift, Lfo, Smoother


def ramp_blocks(smoother, sizes):
    out = []
    for n in sizes:
        buf = np.zeros(n, np.float32)
        out.append(smoother.ramp(buf, n).copy())
    return np.concatenate(out)


@pytest.mark.parametrize("sizes", [[64] * 40, [2048, 512], [1, 7, 333, 100, 2000]])
def test_smoother_reaches_the_target_on_time_with_no_step_above_the_slope(sizes):
    fs, time_s = 48000, 0.05
    s = Smoother(-1.0, time_s=time_s, sample_rate=fs)
    s.set(0.5)
    x = np.concatenate([[-1.0], ramp_blocks(s, sizes)])
    n = round(time_s * fs)  # 2400 samples
    slope = 1.5 / n
    assert np.abs(np.diff(x)).max() <= slope + 2e-7  # float32 rounding of the values
    reached = np.flatnonzero(x == np.float32(0.5))[0]
    assert reached == n
    assert np.all(x[reached:] == np.float32(0.5))
    assert s.settled and s.value == 0.5


def test_smoother_retarget_mid_ramp_never_steps():
    s = Smoother(0.0, time_s=0.01, sample_rate=48000)  # 480 samples per ramp
    s.set(1.0)
    first = ramp_blocks(s, [200])
    s.set(-1.0)  # turn around from 200/480 of the way up
    second = ramp_blocks(s, [600])
    x = np.concatenate([[0.0], first, second])
    steepest = (1.0 + 200 / 480) / 480  # the new ramp's slope
    assert np.abs(np.diff(x)).max() <= steepest + 2e-7
    assert x[-1] == -1.0


def test_smoother_next_block_matches_ramp_and_is_cheap_when_settled():
    a = Smoother(2.0, time_s=0.02, sample_rate=1000)  # 20 samples
    b = Smoother(2.0, time_s=0.02, sample_rate=1000)
    a.set(4.0)
    b.set(4.0)
    buf = np.zeros(8, np.float32)
    for _ in range(4):
        start, end = a.next_block(8)
        ramp = b.ramp(buf, 8)
        assert end == pytest.approx(float(ramp[-1]), abs=1e-6)
        assert start <= end
    assert a.settled and a.next_block(8) == (4.0, 4.0)
    s = Smoother(0.3)
    assert s.settled and s.next_block(2048) == (0.3, 0.3)
    assert np.all(s.ramp(np.zeros(16, np.float32), 16) == np.float32(0.3))


def test_smoother_zero_time_jumps():
    s = Smoother(0.0, time_s=0.0)
    s.set(1.0)
    assert s.settled and s.value == 1.0


@pytest.mark.parametrize("shape", ["sine", "triangle", "square", "saw", "random"])
def test_lfo_stays_in_range_and_is_deterministic(shape):
    t = np.arange(0, 20, 0.01)
    a = Lfo(shape, 0.7, rng=np.random.default_rng(5))
    b = Lfo(shape, 0.7, rng=np.random.default_rng(5))
    va = np.array([a.value(x) for x in t])
    vb = np.array([b.value(x) for x in t[::-1]])[::-1]  # read backwards: same values
    assert np.all(np.abs(va) <= 1.0)
    np.testing.assert_array_equal(va, vb)
    assert va.max() > 0.5 and va.min() < -0.5


@pytest.mark.parametrize("shape", ["sine", "triangle", "square", "saw"])
def test_lfo_period(shape):
    rate = 0.8
    lfo = Lfo(shape, rate)
    t = np.arange(0, 10, 1e-3)
    v = np.array([lfo.value(x) for x in t])
    np.testing.assert_allclose(v[:-1250], v[1250:], atol=1e-6)  # 1250 ms = one period
    assert lfo.value(0.25 / rate) == pytest.approx(1.0) or shape in ("saw",)


def test_lfo_random_is_smooth_and_differs_by_seed():
    rate = 2.0
    lfo = Lfo("random", rate, rng=np.random.default_rng(1))
    t = np.arange(0, 30, 1e-3)
    v = np.array([lfo.value(x) for x in t])
    # cosine steps between points in [-1, 1]: slope at most pi * rate (per second)
    assert np.abs(np.diff(v)).max() / 1e-3 <= np.pi * rate * 1.01
    other = Lfo("random", rate, rng=np.random.default_rng(2))
    assert np.abs(v - np.array([other.value(x) for x in t])).max() > 0.5


def drift_track(seed, voices=8, depth=10.0, rate_hz=0.2, seconds=3000.0, step_s=0.25):
    d = Drift(voices, depth, rate_hz, np.random.default_rng(seed))
    t = np.arange(0, seconds, step_s)
    return t, np.array([d.value(x) for x in t])


def test_drift_stays_within_depth_and_wanders_through_it():
    _, v = drift_track(3)
    assert np.abs(v).max() <= 10.0
    assert np.abs(v).max() > 8.0  # uses its range ...
    assert np.all(v.std(axis=0) > 2.0)  # ... on every voice


def test_drift_moves_slowly():
    rate_hz, step_s = 0.2, 0.25
    _, v = drift_track(4, rate_hz=rate_hz, step_s=step_s)
    x = v - v.mean(axis=0)
    power = np.abs(np.fft.rfft(x * np.hanning(len(x))[:, None], axis=0)) ** 2
    f = np.fft.rfftfreq(len(x), step_s)
    above = power[f > rate_hz].sum() / power[f > 0].sum()
    assert above < 0.01
    # no faster than a cosine glide over one full-depth step per interval
    assert np.abs(np.diff(v, axis=0)).max() / step_s <= np.pi / 2 * 0.6 * 10.0 * rate_hz * 1.01


def test_drift_voices_are_independent():
    _, v = drift_track(5)
    c = np.corrcoef(v.T)
    off_diagonal = c[~np.eye(8, dtype=bool)]
    assert np.abs(off_diagonal).max() < 0.5


def test_drift_is_deterministic_per_seed_whatever_the_call_pattern():
    t, fine = drift_track(6, seconds=600.0, step_s=0.25)
    d = Drift(8, 10.0, 0.2, np.random.default_rng(6))
    coarse = np.array([d.value(x) for x in t[::40]])  # every 10 s
    np.testing.assert_allclose(coarse, fine[::40], atol=1e-12)
    _, other = drift_track(7, seconds=600.0, step_s=0.25)
    assert np.abs(other - fine).max() > 1.0


def test_drift_zero_depth_is_still():
    d = Drift(3, 0.0, 0.5, np.random.default_rng(0))
    assert d.value(12.3) == [0.0, 0.0, 0.0]
