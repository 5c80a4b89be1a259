"""Bleed between the worlds: back outside after a ride up, the floor's hum, buzz and pen
clicks follow the visitor out and linger for about a minute; on any other entry
(power-on, after the reward music or idle) outie is only outie."""

import numpy as np

from tests.shows.conftest import render
from tests.shows.measure import rms_dbfs, seg
from tests.shows.score import RIDE_UP, click_count, mains_prominence_db

BLEED = ("outie.innie_hum", "outie.innie_buzz", "outie.innie_clicks")


def test_outie_at_power_on_has_no_bleed():
    # The bleed layers and the arrival ding sit the visit out: not a sample differs
    # from a show without them.
    plain = render("", 8.0, seed=3)
    without = render("", 8.0, seed=3, disable=BLEED + ("outie.ding",))
    assert np.array_equal(plain.audio, without.audio)


def test_the_floor_lingers_outside_for_about_a_minute():
    """In the mix (not only in a difference of renders): the mains hum's lines stand
    out of the outside's wind and the pen clicks are there (over the onsets outie
    has of its own, the piano's) half a minute after the doors open, the hum still a
    minute after; twenty seconds later both are gone."""
    ride = render(RIDE_UP, 100.0, seed=3)
    plain = render(RIDE_UP, 100.0, seed=3, disable=BLEED)
    (back,) = ride.scene_times("outie")

    def at(r, t0):
        return seg(r.audio, back + t0, back + t0 + 10)

    assert mains_prominence_db(at(ride, 35), 200) >= 6.0
    assert click_count(at(ride, 25)) >= click_count(at(plain, 25)) + 3
    assert mains_prominence_db(at(ride, 55), 200) >= 4.0
    assert mains_prominence_db(at(ride, 78), 200) < 3.0
    assert click_count(at(ride, 78)) <= click_count(at(plain, 78)) + 1


def test_the_bleed_fades_away():
    plain = render(RIDE_UP, 100.0, seed=3)
    without = render(RIDE_UP, 100.0, seed=3, disable=BLEED)
    (back,) = plain.scene_times("outie")
    bleed = plain.audio - without.audio  # the same seed: the rest cancels exactly
    early = rms_dbfs(seg(bleed, back + 2, back + 8))
    late = rms_dbfs(seg(bleed, back + 80, back + 86))
    assert early > -50.0
    assert late < early - 40.0
