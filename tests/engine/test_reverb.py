"""Reverb: RT60 by Schroeder integration, damping, stability, DC, ringing, smoothness."""

import numpy as np
import pytest
import scipy.signal as ss

from severed.engine.dsp.reverb import Reverb, line_lengths

FS = 48000


def run(rev, x, block=2048):
    out = np.zeros((len(x), rev.channels), np.float32)
    for pos in range(0, len(x), block):
        rev.process(x[pos:pos + block], out[pos:pos + block])
    return out


def impulse_response(decay_s, damping, fs=FS, predelay_ms=0.0, block=2048, seconds=None):
    seconds = seconds or max(1.5, 1.1 * decay_s)
    x = np.zeros((int(seconds * fs), 2), np.float32)
    x[0] = 1.0
    rev = Reverb(fs, decay_s, damping, predelay_ms, max_frames=block)
    return run(rev, x, block)


def t30(h, fs):
    """RT60 from the Schroeder backward integral, fitted from -5 to -35 dB."""
    e = np.sum(h.astype(np.float64) ** 2, axis=1)
    edc = np.cumsum(e[::-1])[::-1]
    db = 10 * np.log10(edc / edc[0] + 1e-300)
    i0, i1 = np.argmax(db <= -5), np.argmax(db <= -35)
    slope = np.polyfit(np.arange(i0, i1) / fs, db[i0:i1], 1)[0]
    return -60.0 / slope


@pytest.mark.parametrize("decay_s", (0.3, 1.0, 2.5, 8.0))
@pytest.mark.parametrize("damping", (0.0, 0.5, 1.0))
def test_rt60_matches_decay(decay_s, damping):
    rt = t30(impulse_response(decay_s, damping), FS)
    assert abs(rt / decay_s - 1.0) < 0.15, rt


def test_rt60_at_44k1_and_small_blocks():
    rt = t30(impulse_response(1.5, 0.4, fs=44100, block=128), 44100)
    assert abs(rt / 1.5 - 1.0) < 0.15


def band_t30(h, lo, hi):
    sos = ss.butter(4, [lo, hi], btype="bandpass", fs=FS, output="sos")
    return t30(ss.sosfilt(sos, h.astype(np.float64), axis=0), FS)


def test_damping_darkens_the_tail():
    h = impulse_response(3.0, 0.8)
    low, high = band_t30(h, 250, 500), band_t30(h, 4000, 8000)
    assert high < 0.7 * low, (low, high)
    h0 = impulse_response(3.0, 0.0)
    low0, high0 = band_t30(h0, 250, 500), band_t30(h0, 4000, 8000)
    assert abs(high0 / low0 - 1.0) < 0.15, (low0, high0)
    assert high < 0.75 * high0


def test_predelay_and_first_arrival():
    h = impulse_response(1.0, 0.3, predelay_ms=50.0)
    first = np.argmax(np.any(np.abs(h) > 1e-6, axis=1))
    shortest = int(line_lengths(FS).min())
    assert first == int(0.05 * FS) + shortest


def test_outputs_are_decorrelated_stereo():
    h = impulse_response(2.0, 0.3)
    seg = h[int(0.1 * FS):int(1.0 * FS)].astype(np.float64)
    assert abs(np.corrcoef(seg.T)[0, 1]) < 0.3


def tail_autocorrelation(h, decay_s):
    seg = h[int(0.3 * FS):int(1.2 * FS), 0].astype(np.float64)
    seg = seg * np.exp(6.91 * np.arange(len(seg)) / FS / decay_s)  # undo the decay
    spec = np.fft.rfft(seg, 2 * len(seg))
    ac = np.fft.irfft(np.abs(spec) ** 2)[:len(seg)]
    ac /= ac[0]
    return np.max(np.abs(ac[int(0.002 * FS):int(0.2 * FS)]))


@pytest.mark.parametrize("decay_s", (1.0, 4.0))
def test_no_metallic_ringing(decay_s):
    assert tail_autocorrelation(impulse_response(decay_s, 0.0), decay_s) < 0.25
    # The measure does catch a ringing network: equal line lengths make a comb.
    rev = Reverb(FS, decay_s, 0.0, 0.0)
    rev.lengths[:] = rev.lengths[0]
    x = np.zeros((int(1.5 * FS), 2), np.float32)
    x[0] = 1.0
    assert tail_autocorrelation(run(rev, x), decay_s) > 0.5


def test_block_size_invariance():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((FS, 2)).astype(np.float32) * 0.1
    a = run(Reverb(FS, 2.0, 0.5, 20.0), x, 2048)
    b = run(Reverb(FS, 2.0, 0.5, 20.0, max_frames=333), x, 333)
    c = run(Reverb(FS, 2.0, 0.5, 20.0, max_frames=64), x, 64)
    np.testing.assert_allclose(b, a, rtol=0, atol=2e-5)
    np.testing.assert_allclose(c, a, rtol=0, atol=2e-5)


def test_no_dc_build_up():
    x = np.full((10 * FS, 2), 0.5, np.float32)
    y = run(Reverb(FS, 8.0, 0.0, 0.0), x)
    assert np.all(np.isfinite(y))
    # Only the onset (a step) is reverberated; ten seconds on, with an 8 s decay,
    # nothing is left: no offset, and no tail fed by the constant input.
    assert np.max(np.abs(y[-FS:].mean(axis=0))) < 1e-3
    assert np.sqrt(np.mean(y[-FS:].astype(np.float64) ** 2)) < 1e-3
    assert np.sqrt(np.mean(y[-FS:].astype(np.float64) ** 2)) < 0.01 * np.max(np.abs(y))


def test_stable_for_any_parameters():
    rng = np.random.default_rng(8)
    rev = Reverb(FS, 1.0, 0.5, 10.0, max_frames=1024)
    x = rng.standard_normal((1024, 2)).astype(np.float32) * 0.25
    out = np.zeros_like(x)
    for i in range(200):
        rev.set(decay_s=float(rng.uniform(-5, 60)), damping=float(rng.uniform(-1, 2)),
                predelay_ms=float(rng.uniform(-10, 900)))
        rev.process(x, out)
        assert np.all(np.isfinite(out))
        assert np.max(np.abs(out)) < 20.0
    # Then silence: the longest allowed decay (30 s) dies away, never grows.
    rev.set(decay_s=30.0, damping=0.0)
    silence = np.zeros_like(x)
    levels = []
    for i in range(int(4 * FS / 1024)):
        rev.process(silence, out)
        levels.append(np.sqrt(np.mean(out.astype(np.float64) ** 2)))
    assert levels[-1] < levels[5]
    assert all(b <= a * 1.5 for a, b in zip(levels[5:], levels[6:]))


def clicks(abrupt):
    """Largest content above 2 kHz in the reverb of a 110 Hz sine while every
    parameter changes twice. A linear reverb of a sine is a sine: anything above
    2 kHz is made by the changes, and a click is broadband."""
    t = np.arange(3 * FS) / FS
    x = np.repeat((0.5 * np.sin(2 * np.pi * 110.0 * t))[:, None], 2, axis=1)
    x = x.astype(np.float32)
    rev = Reverb(FS, 2.0, 0.2, 20.0)
    y = np.zeros_like(x)
    for i, pos in enumerate(range(0, len(x), 2048)):
        if i == 30:
            rev.set(decay_s=0.5, damping=0.9, predelay_ms=120.0)
        if i == 50:
            rev.set(decay_s=6.0, damping=0.0, predelay_ms=5.0)
        if abrupt and i in (30, 50):
            rev.params = rev.target
            rev._settle()
        rev.process(x[pos:pos + 2048], y[pos:pos + 2048])
    sos = ss.butter(4, 2000.0, btype="highpass", fs=FS, output="sos")
    high = np.abs(ss.sosfilt(sos, y[:, 0].astype(np.float64)))
    return high[30 * 2048:].max(), high[20 * 2048:30 * 2048].max(), np.abs(y).max()


def test_parameter_changes_do_not_click():
    during, before, level = clicks(abrupt=False)
    assert during < 1e-3 * level, (during, before, level)
    # Switching the loop gains at once instead is a click the measure sees.
    during, before, level = clicks(abrupt=True)
    assert during > 0.03 * level


def test_reset_clears_the_tail():
    rev = Reverb(FS, 5.0, 0.2, 30.0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2048, 2)).astype(np.float32)
    out = np.zeros_like(x)
    rev.process(x, out)
    rev.reset()
    rev.process(np.zeros_like(x), out)
    assert np.all(out == 0.0)


def test_mono():
    rev = Reverb(FS, 1.0, 0.5, 0.0, channels=1)
    x = np.zeros((FS, 1), np.float32)
    x[0] = 1.0
    h = run(rev, x)
    assert h.shape == (FS, 1) and np.max(np.abs(h)) > 0.01


def test_steady_state_allocates_no_buffers():
    import tracemalloc
    x = np.random.default_rng(0).standard_normal((2048, 2)).astype(np.float32)
    out = np.empty_like(x)
    rev = Reverb(FS, 3.0, 0.5, 25.0)
    flip = [0]

    def moving():
        flip[0] ^= 1
        rev.set(decay_s=2.0 + flip[0], damping=0.3 + 0.2 * flip[0],
                predelay_ms=20.0 + 5 * flip[0])
        rev.process(x, out)
    for step in (lambda: rev.process(x, out), moving):
        for _ in range(3):
            step()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            step()
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        assert peak < 8192, peak  # one block of float32 stereo would be 16 KiB


def test_more_than_two_channels_is_refused():
    with pytest.raises(ValueError, match="channels"):
        Reverb(FS, channels=4)


# -- against the oracle (the numpy network the kernel replaced) ---------------------

def against_oracle(fs, block, seconds=1.0, moves=()):
    """The kernel's and the oracle's output for the same noise, with parameter changes
    ``moves`` ({block index: set() kwargs})."""
    from tests.engine.oracles.reverb import OracleReverb

    rng = np.random.default_rng(block)
    x = (rng.standard_normal((int(seconds * fs), 2)) * 0.2).astype(np.float32)
    rev = Reverb(fs, 2.0, 0.4, 20.0, max_frames=block)
    ref = OracleReverb(fs, 2.0, 0.4, 20.0, max_frames=block)
    a, b = np.zeros_like(x), np.zeros_like(x)
    for k, pos in enumerate(range(0, len(x), block)):
        if k in moves:
            rev.set(**moves[k])
            ref.set(**moves[k])
        rev.process(x[pos:pos + block], a[pos:pos + block])
        ref.process(x[pos:pos + block], b[pos:pos + block])
    return a, b


@pytest.mark.parametrize("fs", (44100, 48000))
@pytest.mark.parametrize("block", (64, 333, 2048))
def test_kernel_matches_the_oracle(fs, block):
    # The same network in another order (sums of the line outputs, a recursive DC
    # blocker for the closed form): float32 rounding, under -120 dB of the peak
    # (measured: 1.5e-7 to 2.3e-7 of it).
    moves = {3: dict(decay_s=6.0, damping=0.9), 5: dict(predelay_ms=80.0),
             7: dict(decay_s=0.5, damping=0.0, predelay_ms=0.0)}
    a, b = against_oracle(fs, block, moves=moves)
    assert np.max(np.abs(b)) > 0.1
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * np.max(np.abs(b)))


def test_kernel_checks_its_buffers():
    rev = Reverb(FS, 2.0, 0.4, 20.0)
    x = np.zeros((256, 2), np.float32)
    with pytest.raises(TypeError, match="reverb: x must be float32"):
        rev.process(x.astype(np.float64), np.zeros_like(x))
    with pytest.raises(ValueError, match="reverb: out must be"):
        rev.process(x, np.zeros((256, 1), np.float32))
    with pytest.raises(TypeError, match="C-contiguous"):
        rev.process(np.zeros((256, 4), np.float32)[:, ::2], np.zeros_like(x))
