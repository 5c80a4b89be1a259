"""Drift: bounded, slow, independent, deterministic random motion; linear ramps."""

import numpy as np

from severed.engine.dsp.modulation import Drift, linear_ramp


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


def test_linear_ramp_continues_from_the_last_value_handed_out():
    first = linear_ramp(np.zeros(4, np.float32), 0.0, 0.25)
    second = linear_ramp(np.zeros(4, np.float32), float(first[-1]), -0.125)
    np.testing.assert_array_equal(first, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(second, [0.875, 0.75, 0.625, 0.5])
