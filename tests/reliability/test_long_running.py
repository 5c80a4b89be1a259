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


@pytest.mark.parametrize("hours", [1, 6])
def test_cut_edge_is_still_a_ramp_after_hours_in_one_scene(hours):
    frame0 = hours * 3600 * SR
    assert np.allclose(cut_curve(frame0), cut_curve(0), atol=1e-3)


def test_scheduled_silence_ramps_after_hours_are_within_a_step_of_the_fresh_ones():
    """The silence layer's 40 ms ramps (1920 frames) suffer the same rounding, less:
    after 6 hours the ramp is a staircase of 64-frame steps, each under 4 % of the
    level. Measured here so that a change in either direction is seen."""
    fresh = cut_curve(0, ramp_s=0.04)
    late = cut_curve(6 * 3600 * SR, ramp_s=0.04)
    err = np.abs(late - fresh).max()
    assert err < 0.05, err
    assert np.abs(np.diff(late)).max() < 0.05
