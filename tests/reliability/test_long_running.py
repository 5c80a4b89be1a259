"""What only shows after hours of one scene: counters grown large. A layer's frame
counter starts at 0 when its scene is entered and a busy floor can keep a scene
playing all day; at 48 kHz, 6 hours is 1.04e9 frames, where float32 steps by 64."""

import numpy as np
import pytest

from severed.engine.layers.base import LayerContext
from severed.engine.layers.glitch import _Cuts

SR = 48000
RAMP_S = 0.001  # the glitch layer's cut edges


def cut_curve(frame0, ramp_s=RAMP_S, frames=2048):
    """The gate curve of a block starting at ``frame0`` holding the start of a cut that
    begins 1000 frames in and lasts 50 ms."""
    ctx = LayerContext(name=f"longrun{frame0}.chip", sample_rate=SR, channels=2,
                       max_frames=frames, rng=np.random.default_rng(0))
    cuts = _Cuts(ctx, ramp_s)
    cuts.add(frame0 + 1000, int(0.05 * SR))
    cuts.write(frame0, frames, object())
    return cuts.gate.curve[:frames].copy()


def test_cut_edge_is_a_ramp_at_the_start_of_a_scene():
    curve = cut_curve(0)
    assert curve[:900].min() == 1.0 and curve[1000:].max() == 0.0
    assert np.abs(np.diff(curve)).max() == pytest.approx(1 / 48, rel=0.05)


@pytest.mark.parametrize("hours", [1, 6, 24])
def test_cut_edge_is_still_a_ramp_after_hours_in_one_scene(hours):
    frame0 = hours * 3600 * SR
    assert np.allclose(cut_curve(frame0), cut_curve(0), atol=1e-3)


@pytest.mark.parametrize("hours", [6, 24])
def test_scheduled_silence_ramps_after_hours_are_the_fresh_ones(hours):
    """The silence layer's 40 ms ramps (1920 frames) went the same way, slower: before
    the fix, a staircase of 64-frame steps after 6 h (error 0.03) and of 256-frame
    steps after 24 h (0.08)."""
    fresh = cut_curve(0, ramp_s=0.04)
    late = cut_curve(hours * 3600 * SR, ramp_s=0.04)
    assert np.abs(late - fresh).max() < 1e-3
    assert np.abs(np.diff(late)).max() < 1.5 / 1920
