"""Biquad, OnePole and IIRCore: the compiled kernel against its plain-loop oracle (to
the bit, across block sizes, sample rates and ramps), equality with
scipy.signal.lfilter, magnitudes against the RBJ design, resonance, click-free sweeps,
and clear errors for buffers the kernel cannot take."""

import numpy as np
import pytest
import scipy.signal as ss

from engine.oracles.filters import OracleBiquad, direct_form_1
from severed.engine.dsp.filters import (KINDS, Biquad, IIRCore, OnePole,
                                        one_pole_coeffs, rbj_coeffs)

RATES = (44100, 48000)
BLOCK_PATTERNS = ((2048,), (1, 2, 3, 31, 32, 33, 100, 1000), (64,), (511, 7, 1500))


def run_blocks(filt, x, pattern):
    out = np.zeros_like(x)
    pos = i = 0
    while pos < len(x):
        n = min(pattern[i % len(pattern)], len(x) - pos)
        filt.process(x[pos:pos + n], out[pos:pos + n])
        pos += n
        i += 1
    return out


def sine_gain_db(filt, fs, freq, seconds=0.5, block=2048):
    """Steady-state gain at freq, by least-squares fit of the output's sine."""
    n = int(fs * seconds)
    t = np.arange(n) / fs
    x = np.repeat(np.sin(2 * np.pi * freq * t)[:, None], 2, axis=1).astype(np.float32)
    y = run_blocks(filt, x, (block,))[n // 2:, 0].astype(np.float64)
    tt = t[n // 2:]
    basis = np.stack([np.sin(2 * np.pi * freq * tt), np.cos(2 * np.pi * freq * tt)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return 20 * np.log10(np.hypot(*coef))


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("kind", KINDS)
def test_equals_lfilter_in_any_block_sizes(kind, fs):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((12000, 2)).astype(np.float32)
    for freq, q, gain in ((25.0, 0.7071, 6.0), (1000.0, 8.0, -9.0), (15000.0, 0.5, 3.0)):
        b, a = rbj_coeffs(kind, fs, freq, q, gain)
        ref = ss.lfilter(b, [1.0, *a], x.astype(np.float64), axis=0)
        for pattern in BLOCK_PATTERNS:
            f = Biquad(fs, kind, freq, q=q, gain_db=gain)
            y = run_blocks(f, x, pattern)
            err = np.max(np.abs(y - ref)) / np.max(np.abs(ref))
            assert err < 1e-4, (kind, freq, pattern, err)


# Gain at the cutoff in the RBJ design (independent of the sample rate).
EXPECTED_AT_F0_DB = {"lowpass": -3.0103, "highpass": -3.0103, "bandpass": 0.0,
                     "peak": 9.0, "lowshelf": 4.5, "highshelf": 4.5, "allpass": 0.0}


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("block", (64, 1000, 2048))
def test_magnitude_matches_rbj_design(kind, fs, block):
    f0 = 1000.0
    for freq in (f0 / 3, f0, f0 * 3):
        if kind == "notch" and freq == f0:
            continue  # -inf by design; checked below
        filt = Biquad(fs, kind, f0, q=0.7071, gain_db=9.0)
        b, a = rbj_coeffs(kind, fs, f0, 0.7071, 9.0)
        _, h = ss.freqz(b, [1.0, *a], worN=[freq], fs=fs)
        design_db = 20 * np.log10(abs(h[0]))
        measured = sine_gain_db(filt, fs, freq, block=block)
        assert abs(measured - design_db) < 0.5, (kind, freq, measured, design_db)
        assert abs(filt.response_db([freq])[0] - design_db) < 1e-9
        if freq == f0:
            assert abs(measured - EXPECTED_AT_F0_DB[kind]) < 0.5
    if kind == "notch":
        assert sine_gain_db(Biquad(fs, kind, f0, q=2.0), fs, f0) < -40.0


@pytest.mark.parametrize("q", (2.0, 10.0, 30.0))
def test_resonance_peak_height(q):
    fs = 48000
    f0 = 2000.0
    # A resonant low-pass has |H(f0)| = Q exactly in the RBJ design.
    measured = sine_gain_db(Biquad(fs, "lowpass", f0, q=q), fs, f0, seconds=1.0)
    assert abs(measured - 20 * np.log10(q)) < 0.5
    # and the peak is close to f0: an octave away it is at least 10 dB lower.
    off = sine_gain_db(Biquad(fs, "lowpass", f0, q=q), fs, f0 / 2)
    assert measured - off > 10.0 if q >= 10 else measured - off > 2.0


def test_block_size_invariance_static():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((30000, 2)).astype(np.float32)
    outs = [run_blocks(Biquad(48000, "peak", 300.0, q=4.0, gain_db=12.0), x, p)
            for p in BLOCK_PATTERNS]
    for y in outs[1:]:
        np.testing.assert_allclose(y, outs[0], rtol=0, atol=1e-6)


def test_in_place_and_channels_independent():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4000, 3)).astype(np.float32)
    x[:, 2] = 0.0
    f = Biquad(48000, "lowpass", 500.0, channels=3, max_frames=4000)
    ref = Biquad(48000, "lowpass", 500.0, channels=3, max_frames=4000).process(x)
    y = x.copy()
    assert f.process(y, out=y) is y
    np.testing.assert_array_equal(y, ref)
    assert np.all(y[:, 2] == 0.0)
    assert y.dtype == np.float32


def test_block_larger_than_max_frames_is_refused():
    f = Biquad(48000, "lowpass", 500.0, max_frames=256)
    with pytest.raises(ValueError, match="max_frames"):
        f.process(np.zeros((257, 2), np.float32))


def max_jump(y):
    return float(np.max(np.abs(np.diff(y[:, 0]))))


@pytest.mark.parametrize("kind", ("lowpass", "highpass", "bandpass", "peak"))
def test_fast_sweep_has_no_discontinuity(kind):
    fs = 48000
    n_block = 256
    t = np.arange(fs) / fs
    amp = 0.5
    x = np.repeat((amp * np.sin(2 * np.pi * 440.0 * t))[:, None], 2, axis=1).astype(np.float32)
    # The largest step the sine itself makes between samples.
    sine_step = amp * 2 * np.pi * 440.0 / fs
    f = Biquad(fs, kind, 200.0, q=2.0, gain_db=12.0, max_frames=n_block)
    y = np.zeros_like(x)
    freqs = []
    for i, pos in enumerate(range(0, len(x), n_block)):
        # Up three octaves and down again within 0.2 s, repeatedly: 1/2 octave per block.
        phase = (i % 16) / 8.0
        freq = 200.0 * 2 ** (3 * (phase if phase <= 1 else 2 - phase))
        freqs.append(freq)
        f.set(freq_hz=freq)
        f.process(x[pos:pos + n_block], y[pos:pos + n_block])
    peak_gain = 10 ** (12.0 / 20) * 2.0 if kind in ("peak", "lowpass") else 2.0
    # A click would be a step far above what the (amplified) sine can make.
    assert max_jump(y) < 1.5 * sine_step * peak_gain, (max_jump(y), sine_step)
    # What the bound catches: state lost between blocks (each block from silence).
    g = Biquad(fs, kind, 200.0, q=2.0, gain_db=12.0, max_frames=n_block)
    z = np.zeros_like(x)
    for i, pos in enumerate(range(0, len(x), n_block)):
        g.set(freq_hz=freqs[i])
        g.process(x[pos:pos + n_block], z[pos:pos + n_block])
        g.state[:] = 0.0
    assert max_jump(z) > 1.5 * sine_step * peak_gain


def test_set_reaches_target_and_then_matches_a_static_filter():
    fs = 48000
    rng = np.random.default_rng(9)
    x = rng.standard_normal((fs, 2)).astype(np.float32)
    f = Biquad(fs, "lowpass", 300.0, q=1.0)
    f.process(x[:2048], np.zeros((2048, 2), np.float32))
    f.set(freq_hz=3000.0, q=3.0)
    f.process(x[2048:4096], np.zeros((2048, 2), np.float32))  # the ramp
    assert f.cur == f.tgt
    b, a = rbj_coeffs("lowpass", fs, 3000.0, 3.0, 0.0)
    np.testing.assert_array_equal(f.segments[0, 1:4], b)
    np.testing.assert_array_equal(f.segments[0, 4:6], a)
    # From here on it is the static filter: same output as lfilter from the same state.
    y = np.zeros((fs - 4096, 2), np.float32)
    run = run_blocks(f, x[4096:], (2048,))
    ref = ss.lfilter(b, [1.0, *a], x.astype(np.float64), axis=0)[4096:]
    # Different history before the ramp ended; after 0.1 s the state has converged.
    tail = slice(4800, None)
    assert np.max(np.abs(run[tail] - ref[tail])) < 1e-4
    del y


def test_slow_drift_is_followed_block_by_block():
    f = Biquad(48000, "lowpass", 1000.0)
    block = np.zeros((2048, 2), np.float32)
    freq = 1000.0
    for _ in range(40):  # 0.2 % per block: each block ends on its target
        freq *= 1.002
        f.set(freq_hz=freq)
        f.process(block, block)
        assert f.cur[0] == freq


def test_extreme_parameters_stay_finite():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20000, 2)).astype(np.float32)
    for kind in KINDS:
        for freq, q in ((1.0, 50.0), (23900.0, 50.0), (5.0, 0.05), (20000.0, 0.05)):
            y = run_blocks(Biquad(48000, kind, freq, q=q, gain_db=24.0), x, (2048,))
            assert np.all(np.isfinite(y)), (kind, freq, q)


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("kind", ("lowpass", "highpass"))
def test_one_pole(kind, fs):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((10000, 2)).astype(np.float32)
    b, a = ss.butter(1, 700.0, btype=kind, fs=fs)
    mine_b, mine_a = one_pole_coeffs(kind, fs, 700.0)
    np.testing.assert_allclose(mine_b, b, rtol=1e-12)
    np.testing.assert_allclose([1.0, *mine_a], a, rtol=1e-12)
    for pattern in BLOCK_PATTERNS:
        y = run_blocks(OnePole(fs, kind, 700.0), x, pattern)
        ref = ss.lfilter(b, a, x.astype(np.float64), axis=0)
        assert np.max(np.abs(y - ref)) / np.max(np.abs(ref)) < 1e-4
    assert abs(sine_gain_db(OnePole(fs, kind, 700.0), fs, 700.0) + 3.0103) < 0.1
    # 6 dB/octave far from the cutoff: a decade away, about -20 dB.
    far = 70.0 if kind == "lowpass" else 7000.0
    near = 7000.0 if kind == "lowpass" else 70.0
    drop = sine_gain_db(OnePole(fs, kind, 700.0), fs, near)
    assert -21.5 < drop < -18.5, drop
    assert abs(sine_gain_db(OnePole(fs, kind, 700.0), fs, far)) < 0.1


def test_one_pole_sweep_is_smooth():
    fs = 48000
    t = np.arange(fs) / fs
    x = np.repeat((0.5 * np.sin(2 * np.pi * 300.0 * t))[:, None], 2, axis=1).astype(np.float32)
    f = OnePole(fs, "lowpass", 100.0, max_frames=512)
    y = np.zeros_like(x)
    for i, pos in enumerate(range(0, fs, 512)):
        # 100 Hz to 8 kHz and back every 16 blocks (0.17 s): 3/4 octave per block.
        phase = (i % 16) / 8.0
        f.set(freq_hz=100.0 * 80 ** (phase if phase <= 1 else 2 - phase))
        f.process(x[pos:pos + 512], y[pos:pos + 512])
    assert max_jump(y) < 1.5 * 0.5 * 2 * np.pi * 300.0 / fs


@pytest.mark.parametrize("freq, q", [(1000.0, 0.5), (50.0, 0.5), (20000.0, 0.5),
                                     (12000.0, 0.05), (300.0, 0.1), (5.0, 40.0),
                                     (23000.0, 3.0), (8000.0, 0.5000001)])
def test_edge_pole_layouts_match_lfilter(freq, q):
    """Double, nearly double, real, sign-alternating and near-unit poles: each must
    still equal lfilter."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((9000, 2)).astype(np.float32)
    for kind in ("lowpass", "highpass", "peak"):
        b, a = rbj_coeffs(kind, 48000, freq, q, 6.0)
        ref = ss.lfilter(b, [1.0, *a], x.astype(np.float64), axis=0)
        y = run_blocks(Biquad(48000, kind, freq, q=q, gain_db=6.0), x, (2048, 1000, 37))
        assert np.max(np.abs(y - ref)) / np.max(np.abs(ref)) < 1e-4, kind


def allocated_bytes(step, blocks=20):
    """Peak bytes allocated (numpy included) while running `step` after a warm-up."""
    import tracemalloc
    for _ in range(3):
        step()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(blocks):
            step()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_steady_state_allocates_no_buffers():
    x = np.random.default_rng(0).standard_normal((2048, 2)).astype(np.float32)
    out = np.empty_like(x)
    bq = Biquad(48000, "peak", 700.0, q=3.0, gain_db=6.0)
    op = OnePole(48000, "highpass", 30.0)
    # A block's worth of samples is 16 KiB (float32) or 32 KiB (float64): anything
    # near that would be a scratch buffer. Python's own small objects stay far below.
    assert allocated_bytes(lambda: bq.process(x, out)) < 4096
    assert allocated_bytes(lambda: op.process(x, out)) < 4096
    freq = [300.0]

    def sweep():
        freq[0] = freq[0] * 1.2 if freq[0] < 5000 else 300.0
        bq.set(freq_hz=freq[0])
        bq.process(x, out)
    # Sweeps rebuild tables at control rate: small temporaries only.
    assert allocated_bytes(sweep) < 64 * 1024


# ------------------------------------------------------------ kernel against its oracle

def _sweep_plan(order, blocks):
    """Targets for each block: holds, small creeps, big jumps in every parameter."""
    rng = np.random.default_rng(order)
    plan, p = [], [400.0, 0.9, 0.0]
    for i in range(blocks):
        if i % 3 == 1:
            p = [p[0] * 2 ** rng.uniform(-2, 2), p[1] * 2 ** rng.uniform(-1, 1),
                 p[2] + rng.uniform(-6, 6)]
        elif i % 3 == 2:
            p = [p[0] * 1.003, p[1], p[2]]
        plan.append(tuple(p[:1]) if order == 1 else tuple(p))
    return plan


@pytest.mark.parametrize("fs", (22050, 44100, 48000, 96000))
@pytest.mark.parametrize("pattern", ((1, 2, 3, 31, 64, 100), (256,), (777, 5)))
@pytest.mark.parametrize("kind, order", (("peak", 2), ("lowpass", 2), ("allpass", 2),
                                         ("highpass", 1)))
def test_kernel_equals_oracle_bit_for_bit(kind, order, pattern, fs):
    rng = np.random.default_rng(fs)
    x = (0.3 * rng.standard_normal((1800, 2))).astype(np.float32)
    if order == 2:
        filt = Biquad(fs, kind, 400.0, q=0.9, gain_db=0.0, max_frames=1024)
    else:
        filt = OnePole(fs, kind, 400.0, max_frames=1024)
    oracle = OracleBiquad(fs, kind, filt.tgt, order=order)
    sizes = [pattern[i % len(pattern)] for i in range(len(x))]
    plan = _sweep_plan(order, len(x))
    pos = i = 0
    while pos < len(x):
        n = min(sizes[i], len(x) - pos)
        params = plan[i]
        if order == 2:
            filt.set(freq_hz=params[0], q=params[1], gain_db=params[2])
        else:
            filt.set(freq_hz=params[0])
        oracle.set(filt.tgt)  # the clamped targets
        got = filt.process(x[pos:pos + n])
        want = oracle.process(x[pos:pos + n])
        np.testing.assert_array_equal(got, want, err_msg=f"block {i} at frame {pos}")
        pos += n
        i += 1


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("order", (1, 2, 3))
def test_iircore_equals_oracle_bit_for_bit(order, dtype):
    rng = np.random.default_rng(order)
    b = {1: (0.2, 0.1), 2: (0.3, -0.2, 0.1), 3: (0.05, -0.09, 0.05, -0.004)}[order]
    a = {1: (-0.7,), 2: (-1.2, 0.5), 3: (-2.494956002, 2.017265875, -0.5221894)}[order]
    core = IIRCore(order, 3)
    core.set_coeffs(b, a)
    state = np.zeros((3, 2 * order))
    x = rng.standard_normal((1000, 3)).astype(dtype)
    got = np.zeros_like(x)
    want = np.zeros_like(x)
    for lo, hi in ((0, 1), (1, 300), (300, 301), (301, 1000)):
        core.run(x[lo:], got[lo:], hi - lo)
        direct_form_1(x[lo:hi], want[lo:hi], state, [[hi - lo, *b, *a]])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(core.state, state)


def test_decaying_tail_is_flushed_to_zero():
    """The state never turns subnormal: a silent input after a burst reaches exact 0."""
    f = Biquad(48000, "lowpass", 30.0, q=5.0)
    block = np.zeros((2048, 2), np.float32)
    block[0] = 1.0
    for _ in range(200):
        f.process(block, block)
        block[:] = 0.0
    assert np.all(f.state == 0.0)


def test_kernel_rejects_buffers_it_cannot_take():
    f = Biquad(48000, "lowpass", 1000.0, channels=2)
    good = np.zeros((64, 2), np.float32)
    with pytest.raises(ValueError, match="x has 3 channels but the filter's state has 2"):
        f.process(np.zeros((64, 3), np.float32))
    with pytest.raises(TypeError, match="iir: x must be float32 or float64"):
        f.process(np.zeros((64, 2), np.int16))
    with pytest.raises(TypeError, match="iir: x must be a C-contiguous array"):
        f.process(np.zeros((2, 64), np.float32).T)
    with pytest.raises(TypeError, match="iir: y must be a C-contiguous, writable array"):
        ro = np.zeros((64, 2), np.float32)
        ro.flags.writeable = False
        f.process(good, ro)
    with pytest.raises(ValueError, match="y must have x's shape and dtype"):
        f.process(good, np.zeros((64, 2), np.float64))
    with pytest.raises(ValueError, match="needs 3 numerator and 2 denominator"):
        IIRCore(2, 1).set_coeffs((1.0, 0.0), (0.5,))
