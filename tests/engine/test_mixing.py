"""The mixing kernel (a layer into its scene's dry bus and reverb send, gains ramped
across the block) against the numpy oracle, to the bit; its finiteness check; the
meters' levels."""

import numpy as np
import pytest

from engine.oracles import mixing as oracle
from severed.engine.compiled import kernels

GAINS = [(0.5, 0.5, 0.25, 0.25), (0.0, 0.7, 0.3, 0.3), (0.7, 0.1, 0.0, 0.4),
         (1.0, 1.0, 0.2, 0.0), (0.3, 0.3, 0.0, 0.0)]


@pytest.mark.parametrize("channels", (1, 2, 3))
@pytest.mark.parametrize("frames", (1, 37, 256, 2048))
@pytest.mark.parametrize("level_kind", ("one", "fading", "curve"))
@pytest.mark.parametrize("gains", GAINS)
def test_mix_layer_equals_oracle_bit_for_bit(gains, level_kind, frames, channels):
    rng = np.random.default_rng(frames + channels)
    buf = rng.standard_normal((2048, channels)).astype(np.float32)
    level = {"one": 1.0, "fading": 0.4,
             "curve": np.linspace(1.0, 0.0, frames, dtype=np.float32)}[level_kind]
    base = rng.standard_normal((2048, channels)).astype(np.float32)
    out, send = base.copy(), base[::-1].copy()
    want_out, want_send = base.copy(), base[::-1].copy()
    d0, d1, s0, s1 = gains
    oracle.mix_layer(want_out, want_send, buf, frames, d0, d1, s0, s1, level)
    layer = buf.copy()
    assert kernels.mix_layer(out, send, layer, frames, d0, d1, s0, s1, level)
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(send, want_send)
    # The layer's buffer is left silent for the next layer, beyond frames untouched.
    assert not layer[:frames].any() and np.array_equal(layer[frames:], buf[frames:])
    out2, layer = base.copy(), buf.copy()
    assert kernels.mix_layer(out2, None, layer, frames, d0, d1, s0, s1, level)
    np.testing.assert_array_equal(out2, want_out)


@pytest.mark.parametrize("bad", (np.nan, np.inf, -np.inf))
def test_a_non_finite_layer_is_refused_and_nothing_mixed(bad):
    buf = np.ones((64, 2), np.float32)
    buf[40, 1] = bad
    out = np.zeros((64, 2), np.float32)
    assert kernels.mix_layer(out, None, buf, 64, 1.0, 1.0, 0.0, 0.0, 1.0) is False
    assert np.all(out == 0.0) and buf[0, 0] == 1.0  # neither mixed nor cleared


def test_mix_layer_checks_its_buffers():
    buf = np.ones((64, 2), np.float32)
    with pytest.raises(ValueError, match=r"out and send must be \(>= 64, 2\)"):
        kernels.mix_layer(np.zeros((64, 3), np.float32), None, buf, 64, 1.0, 1.0, 0.0,
                          0.0, 1.0)
    with pytest.raises(ValueError, match="level curve shorter"):
        kernels.mix_layer(np.zeros((64, 2), np.float32), None, buf, 64, 1.0, 1.0, 0.0,
                          0.0, np.ones(10, np.float32))
    with pytest.raises(ValueError, match="frames is 65"):
        kernels.mix_layer(np.zeros((64, 2), np.float32), None, buf, 65, 1.0, 1.0, 0.0,
                          0.0, 1.0)


def test_levels_are_the_peak_and_the_energy():
    x = np.random.default_rng(5).standard_normal((1001, 3)).astype(np.float32)
    peak, energy = kernels.levels(x, 1000)
    assert peak == np.abs(x[:1000]).max()
    assert energy == pytest.approx(float(np.sum(x[:1000].astype(np.float64) ** 2)), rel=1e-12)
    x[500, 1] = np.nan
    assert np.isnan(kernels.levels(x, 1000)[1])


@pytest.mark.parametrize("channels", (1, 2, 3))
def test_add_mono_adds_one_channel_into_all(channels):
    rng = np.random.default_rng(channels)
    out = rng.standard_normal((300, channels)).astype(np.float32)
    mono = rng.standard_normal((300, 1)).astype(np.float32)
    want = out.copy()
    want[:250] += mono[:250] * np.float32(0.3)
    kernels.add_mono(out, mono, 250, 0.3)
    np.testing.assert_array_equal(out, want)
    with pytest.raises(ValueError, match="one channel"):
        kernels.add_mono(out, np.zeros((300, 2), np.float32), 250, 1.0)
