"""The hum layer's kernel against the numpy Hum it replaced: the same table read, and
a flicker within 3e-6 (a double-precision rotation against float32
sines), across block sizes, sample rates, mains and flicker settings."""

import numpy as np
import pytest

from engine.oracles.hum import Hum as OracleHum
from severed.engine.layers import LAYER_TYPES
from severed.engine.layers.base import LayerContext
from severed.engine.params import Controls


def make(fs, params, channels=2):
    ctx = LayerContext("test.hum", fs, channels, 2048, np.random.default_rng(0),
                       mains_hz=60.0)
    spec = dict(freq_hz=0.0, partials=8, **params)
    from severed.config import load_show_text
    text = "[show]\nname = \"h\"\ninitial_scene = \"a\"\n[scenes.a.layers.h]\ntype = \"hum\"\n"
    text += "".join(f"{k} = {v}\n" for k, v in params.items())
    layer_spec = load_show_text(text, "t.toml").scenes["a"].layers[0]
    return LAYER_TYPES["hum"](ctx, layer_spec.params), OracleHum(ctx, spec)


@pytest.mark.parametrize("fs", (44100, 48000))
@pytest.mark.parametrize("params", ({"flicker_hz": 7.0, "flicker_depth": 0.3},
                                    {"flicker_hz": 31.0, "flicker_depth": 1.0},
                                    {"flicker_hz": 7.0, "flicker_depth": 0.0}))
def test_hum_matches_the_numpy_hum(params, fs):
    layer, oracle = make(fs, params)
    sizes = (2048, 1, 256, 77, 2048, 1000)
    for i in range(30):
        n = sizes[i % len(sizes)]
        got = np.zeros((2048, 2), np.float32)
        want = np.zeros((2048, 2), np.float32)
        layer.process(got, n, Controls(t=0.0))
        oracle.process(want, n, None)
        assert np.max(np.abs(got - want)) < 3e-6, i  # float32 rounding of the old sine
        if params["flicker_depth"] == 0.0:
            np.testing.assert_array_equal(got, want)  # the table read, to the bit
        assert np.array_equal(got[:, 0], got[:, 1]) and not got[n:].any()
