"""Delay: echo time to the sample, feedback decay, damping, glides, stability."""

import numpy as np
import pytest
import scipy.signal as ss

from severed.engine.dsp.delay import Delay

FS = 48000


def run(d, x, block=2048):
    out = np.zeros_like(x)
    for pos in range(0, len(x), block):
        d.process(x[pos:pos + block], out[pos:pos + block])
    return out


def impulse(n, channels=2):
    x = np.zeros((n, channels), np.float32)
    x[0] = 1.0
    return x


@pytest.mark.parametrize("fs", (44100, 48000))
@pytest.mark.parametrize("block", (64, 441, 2048))
@pytest.mark.parametrize("delay_frames", (48, 1000, 4410, 9601))
def test_echo_time_is_exact_to_the_sample(fs, block, delay_frames):
    d = Delay(fs, delay_frames / fs, feedback=0.5, damping=0.0, max_frames=block)
    y = run(d, impulse(4 * delay_frames + 10), block)
    hits = np.nonzero(np.abs(y[:, 0]) > 1e-7)[0]
    np.testing.assert_array_equal(hits, delay_frames * np.arange(1, len(hits) + 1))
    assert len(hits) == 4
    # Feedback: each echo is the previous one times the feedback.
    np.testing.assert_allclose(y[hits, 0], 0.5 ** np.arange(4), rtol=1e-6)


def test_feedback_decay_rate_and_sign():
    d = Delay(FS, 0.01, feedback=-0.8, damping=0.0)
    y = run(d, impulse(FS))
    hits = np.arange(1, 100) * 480
    np.testing.assert_allclose(y[hits, 0], (-0.8) ** np.arange(99), rtol=1e-4, atol=1e-9)


def test_wet_only_and_channels_independent():
    x = impulse(FS)
    x[:, 1] = 0.0
    y = run(Delay(FS, 0.25, feedback=0.3), x)
    assert np.all(y[:12000] == 0.0)
    assert np.all(y[:, 1] == 0.0)


def test_fractional_delay_lands_between_samples():
    d = Delay(FS, 100.25 / FS, feedback=0.0, damping=0.0)
    y = run(d, impulse(400))[:, 0]
    centre = np.sum(np.arange(len(y)) * y) / np.sum(y)
    assert abs(centre - 100.25) < 1e-6
    assert abs(np.sum(y) - 1.0) < 1e-6


def test_damping_darkens_each_repeat():
    rng = np.random.default_rng(0)
    burst = np.zeros((4 * FS, 2), np.float32)
    burst[:2400] = rng.standard_normal((2400, 2)) * 0.3
    y = run(Delay(FS, 0.5, feedback=0.7, damping=0.6), burst)

    def high_share(seg):
        f, p = ss.welch(seg[:, 0], fs=FS, nperseg=1024)
        return p[f > 4000].sum() / p.sum()

    first = high_share(y[24000:26400])
    third = high_share(y[3 * 24000:3 * 24000 + 2400])
    assert third < 0.5 * first, (first, third)
    # and its low frequencies still repeat at the feedback level
    plain = run(Delay(FS, 0.5, feedback=0.7, damping=0.0), burst)
    assert np.sqrt(np.mean(plain[48000:50400] ** 2)) == pytest.approx(
        0.7 * np.sqrt(np.mean(plain[24000:26400] ** 2)), rel=1e-3)


def glide_clicks(abrupt):
    """Content above 4 kHz in the echoes of a 220 Hz sine while delay, feedback and
    damping change. The glides bend the pitch a little (tape-like), far below 4 kHz;
    a click is broadband."""
    t = np.arange(2 * FS) / FS
    x = np.repeat((0.5 * np.sin(2 * np.pi * 220.0 * t))[:, None], 2, axis=1)
    x = x.astype(np.float32)
    d = Delay(FS, 0.2, feedback=0.5, damping=0.2)
    y = np.zeros_like(x)
    for i, pos in enumerate(range(0, len(x), 2048)):
        if i == 20:
            d.set(delay_s=0.21, feedback=0.2, damping=0.7)
        if i == 30:
            d.set(delay_s=0.195, feedback=0.7)
        if abrupt and i in (20, 30):
            d.delay, d.feedback = d.delay_tgt, d.feedback_tgt
        d.process(x[pos:pos + 2048], y[pos:pos + 2048])
    sos = ss.butter(4, 4000.0, btype="highpass", fs=FS, output="sos")
    high = np.abs(ss.sosfilt(sos, y[:, 0].astype(np.float64)))
    return high[20 * 2048:].max(), np.abs(y).max()


def test_changes_glide_without_clicks():
    during, level = glide_clicks(abrupt=False)
    assert during < 1e-2 * level, (during, level)  # measured 2.4e-3
    during, level = glide_clicks(abrupt=True)  # what a jump of the read point does
    assert during > 0.1 * level  # measured 0.38


def test_stable_and_clamped():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((FS * 2, 2)).astype(np.float32)
    d = Delay(FS, 0.0, feedback=5.0, damping=-1.0, max_delay_s=0.1)
    assert d.feedback == 0.99 and d.delay == pytest.approx(48.0)
    y = run(d, x)
    assert np.all(np.isfinite(y))
    d.set(delay_s=10.0)
    run(d, x[:4096])
    assert d.delay == pytest.approx(0.1 * FS)


def test_reset_silences():
    d = Delay(FS, 0.1, feedback=0.9)
    run(d, np.ones((4096, 2), np.float32))
    d.reset()
    out = run(d, np.zeros((FS, 2), np.float32))
    assert np.all(out == 0.0)


def test_block_size_invariance():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((FS, 2)).astype(np.float32)
    a = run(Delay(FS, 0.0371, feedback=0.6, damping=0.4), x, 2048)
    b = run(Delay(FS, 0.0371, feedback=0.6, damping=0.4, max_frames=100), x, 100)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_steady_state_allocates_no_buffers():
    import tracemalloc
    x = np.random.default_rng(0).standard_normal((2048, 2)).astype(np.float32)
    out = np.empty_like(x)
    d = Delay(FS, 0.3, feedback=0.5, damping=0.4)
    flip = [0]

    def moving():
        flip[0] ^= 1
        d.set(delay_s=0.3 + 0.01 * flip[0], feedback=0.4 + 0.1 * flip[0])
        d.process(x, out)
    for step in (lambda: d.process(x, out), moving):
        for _ in range(3):
            step()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            step()
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        assert peak < 8192, peak


# -- against the oracle (the numpy delay the kernel replaced) ------------------------

@pytest.mark.parametrize("fs", (44100, 48000))
@pytest.mark.parametrize("block", (64, 441, 2048))
def test_kernel_matches_the_oracle_to_the_bit(fs, block):
    from tests.engine.oracles.delay import OracleDelay

    rng = np.random.default_rng(block)
    x = (rng.standard_normal((fs, 2)) * 0.3).astype(np.float32)
    d = Delay(fs, 0.0123, feedback=0.6, damping=0.4, max_frames=block)
    ref = OracleDelay(fs, 0.0123, feedback=0.6, damping=0.4, max_frames=block)
    moves = {4: dict(delay_s=0.05), 6: dict(feedback=-0.9, damping=0.9),
             9: dict(delay_s=300 / fs), 12: dict(delay_s=0.0301, feedback=0.2, damping=0.0)}
    a, b = np.zeros_like(x), np.zeros_like(x)
    for k, pos in enumerate(range(0, len(x), block)):
        for obj in (d, ref):
            if k in moves:
                obj.set(**moves[k])
        d.process(x[pos:pos + block], a[pos:pos + block])
        ref.process(x[pos:pos + block], b[pos:pos + block])
    assert np.max(np.abs(b)) > 0.5
    np.testing.assert_array_equal(a, b)


def test_kernel_checks_its_buffers():
    d = Delay(FS, 0.01)
    x = np.zeros((256, 2), np.float32)
    with pytest.raises(TypeError, match="delay: x must be float32"):
        d.process(x.astype(np.float64), np.zeros_like(x))
    with pytest.raises(ValueError, match="delay: out must be"):
        d.process(x, np.zeros((256, 1), np.float32))
