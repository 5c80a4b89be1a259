"""The lumon show's instruments, measured on their renders: the ding is struck, the
felt piano answers velocity and lets go of its notes, the found sounds differ from
take to take."""

import numpy as np
import pytest

from tests.shows.score import exponential_fit, partial_ratios, recipe_audio, strike_times


# ------------------------------------------------------------------ the elevator ding

@pytest.fixture(scope="module")
def ding():
    return recipe_audio("elevator_bell", freq_hz=1318.5, length_s=3.0)


def test_the_ding_is_struck_not_swelled(ding):
    onset, to_peak = strike_times(ding)
    assert to_peak <= 0.020


def test_the_ding_decays_exponentially(ding):
    slope, deviation = exponential_fit(ding)
    assert slope <= -4.0  # dB per second
    assert deviation <= 3.0  # a straight line in dB, give or take the beating


def test_the_ding_has_inharmonic_partials(ding):
    ratios = partial_ratios(ding, 1318.5)
    assert len(ratios) == 4
    # A bar's partials, not a string's: they are off the harmonic series (whole
    # multiples of the fundamental), at least two by a fifth of the fundamental.
    off = [r for r in ratios[1:] if abs(r - round(r)) > 0.2]
    assert len(off) >= 2, ratios
