"""The HC-SR501 model: the pin levels of each mode for a given movement."""

import pytest

from severed.hardware.pir_model import HCSR501


def test_retriggering_stays_high_while_the_visitor_moves():
    pir = HCSR501("retrigger", hold_s=3.0)
    assert pir.edges([(10.0, 50.0)]) == [(10.0, 1), (53.0, 0)]
    # a pause shorter than the hold is bridged; a new movement in the blind time after
    # the fall is seen when the blind time ends, if it still goes on
    assert pir.edges([(0, 2), (4, 6)]) == [(0, 1), (9, 0)]
    assert pir.edges([(0, 1), (5, 8)]) == [(0, 1), (4, 0), (6.5, 1), (11, 0)]
    assert pir.edges([(0, 1), (5, 6)]) == [(0, 1), (4, 0)]


def test_single_shot_pulses_hold_s_long_and_block_s_apart():
    pir = HCSR501("single", hold_s=3.0)
    edges = pir.edges([(10.0, 30.0)])
    highs = [(on, off) for (on, _), (off, _) in zip(edges[::2], edges[1::2])]
    assert highs[0] == (10.0, 13.0)
    assert all(off - on == pytest.approx(3.0) for on, off in highs)
    assert all(b[0] - a[1] == pytest.approx(2.5) for a, b in zip(highs, highs[1:]))
    assert highs[-1][0] < 30.0 <= highs[-1][1] + 2.5
    # the hold-time pot turned up: one pulse covers a short pass
    assert HCSR501("single", hold_s=60.0).edges([(0, 3)]) == [(0, 1), (60, 0)]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="mode 'H'"):
        HCSR501("H")
    with pytest.raises(ValueError, match="hold_s"):
        HCSR501(hold_s=0)
