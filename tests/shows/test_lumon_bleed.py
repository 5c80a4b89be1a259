"""Bleed between the worlds: back outside after a ride up, the floor's buzz and pen
clicks linger in outie and fade; on any other entry (power-on, after the reward music
or idle) outie is only outie."""

import numpy as np

from tests.shows.conftest import render, step_cmd
from tests.shows.measure import rms_dbfs, seg

BLEED = ("outie.innie_buzz", "outie.innie_clicks")


def test_outie_at_power_on_has_no_bleed():
    # The bleed layers sit the visit out: not a sample differs from a show without them.
    plain = render("", 8.0, seed=3)
    without = render("", 8.0, seed=3, disable=BLEED)
    assert np.array_equal(plain.audio, without.audio)


def test_outie_after_the_ride_up_carries_the_floor_and_lets_it_fade():
    ride_up = step_cmd(0.01, "ascent")  # ascent lasts 9.5 s, then outie
    plain = render(ride_up, 75.0, seed=3)
    without = render(ride_up, 75.0, seed=3, disable=BLEED)
    (back,) = plain.scene_times("outie")
    bleed = plain.audio - without.audio  # the same seed: the rest cancels exactly
    early = rms_dbfs(seg(bleed, back + 2, back + 8))
    late = rms_dbfs(seg(bleed, back + 55, back + 61))
    # Faint (about -62 dBFS RMS under an outie at -30), but there as the doors open ...
    assert early > -70.0
    assert late < early - 30.0  # ... and gone a minute later
