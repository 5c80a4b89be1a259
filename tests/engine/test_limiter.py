"""The limiter's promise: no sample above the ceiling, smooth gain, quiet input untouched;
and its kernel against the numpy limiter it replaced."""

import numpy as np
import pytest

from engine.oracles.limiter import Limiter as OracleLimiter
from engine.oracles.limiter import _sliding_min
from severed.engine.limiter import Limiter

SR = 48000


def run(limiter, x, block):
    out = np.empty_like(x)
    buf = np.zeros((block, x.shape[1]), np.float32)
    for i in range(0, len(x), block):
        n = min(block, len(x) - i)
        buf[:n] = x[i:i + n]
        limiter.process(buf, n)
        out[i:i + n] = buf[:n]
    return out


def test_sliding_min_matches_brute_force():
    rng = np.random.default_rng(3)
    for n, w in [(10, 3), (100, 7), (241, 241), (500, 64)]:
        x = rng.normal(size=n)
        expect = np.array([x[k:k + w].min() for k in range(n - w + 1)])
        np.testing.assert_array_equal(_sliding_min(x, w), expect)


@pytest.mark.parametrize("block", [64, 480, 2048])
def test_ceiling_holds_on_loud_bursts(block):
    rng = np.random.default_rng(1)
    t = np.arange(SR * 2) / SR
    x = (0.3 * np.sin(2 * np.pi * 220 * t))[:, None].repeat(2, axis=1)
    x[SR // 2:SR] *= 8.0  # a burst 18 dB too loud
    x[int(1.5 * SR)] = 4.0  # and a single-sample spike
    x += rng.normal(scale=0.01, size=x.shape)
    lim = Limiter(SR, 2, 2048, ceiling_db=-1.0)
    y = run(lim, x.astype(np.float32), block)
    assert np.abs(y).max() <= 10 ** (-1 / 20) + 1e-6


def test_gain_moves_smoothly():
    # A step in level: the gain reduction must ramp, not jump.
    t = np.arange(SR) / SR
    x = (0.5 * np.sin(2 * np.pi * 100 * t)).astype(np.float32)[:, None].repeat(2, axis=1)
    x[SR // 2:] *= 4.0
    lim = Limiter(SR, 2, 2048, ceiling_db=-1.0, lookahead_ms=5.0)
    y = run(lim, x, 512)
    delay = lim.lookahead
    usable = np.flatnonzero(np.abs(x[:-delay, 0]) > 0.05)  # gain = y / x away from zero crossings
    gain = y[usable + delay, 0] / x[usable, 0]
    per_sample = np.abs(np.diff(gain)) / np.diff(usable)
    assert gain.min() < 0.5  # it did limit
    # from 1.0 to ~0.45 over >= 240 samples: no change above 1 % per sample
    assert per_sample.max() < 0.01


def test_quiet_signal_passes_unchanged_but_delayed():
    rng = np.random.default_rng(2)
    x = rng.uniform(-0.5, 0.5, size=(SR // 2, 2)).astype(np.float32)
    lim = Limiter(SR, 2, 2048)
    y = run(lim, x, 1000)
    d = lim.lookahead
    np.testing.assert_array_equal(y[d:], x[:-d])
    assert lim.reduction_db == 0.0


def test_releases_after_a_peak():
    t = np.arange(3 * SR) / SR
    x = (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)[:, None].repeat(2, axis=1)
    x[SR:SR + 100] *= 20.0
    lim = Limiter(SR, 2, 2048, release_db_per_s=30.0)
    y = run(lim, x, 2048)
    # 2 s after the peak the gain is back to unity (reduction was ~ 12 dB, 30 dB/s)
    tail = slice(int(2.5 * SR), 3 * SR - lim.lookahead)
    np.testing.assert_allclose(y[tail.start + lim.lookahead:, 0], x[tail, 0], atol=1e-6)


@pytest.mark.parametrize("block", [7, 64, 333, 2048])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_kernel_matches_the_numpy_limiter(block, channels):
    """Same gains to within double rounding (the oracle's moving average is a cumsum,
    the kernel's a running sum): outputs within 1e-6, the resting copy to the bit."""
    rng = np.random.default_rng(block + channels)
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 150 * t))[:, None].repeat(channels, axis=1)
    x[SR // 4:SR // 2] *= 6.0
    x[int(0.7 * SR)] = -5.0
    x += rng.normal(scale=0.02, size=x.shape)
    x = x.astype(np.float32)
    lim = Limiter(SR, channels, 2048, ceiling_db=-1.0, release_db_per_s=60.0)
    ref = OracleLimiter(SR, channels, 2048, ceiling_db=-1.0, release_db_per_s=60.0)
    y, want = run(lim, x, block), run(ref, x, block)
    assert np.max(np.abs(y - want)) < 1e-6
    quiet = slice(0, SR // 4 - lim.lookahead)
    np.testing.assert_array_equal(y[quiet], want[quiet])
    assert lim.reduction_db == pytest.approx(ref.reduction_db, abs=1e-9)
