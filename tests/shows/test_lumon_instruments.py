"""The lumon show's instruments, measured on their renders: the ding is struck, the
felt piano answers velocity and lets go of its notes, the found sounds differ from
take to take."""

import numpy as np
import pytest

from tests.shows.conftest import SR
from tests.shows.measure import band_energy, envelope
from tests.shows.score import (centroid_hz, decay_time_s, exponential_fit, max_correlation,
                               partial_ratios, recipe_audio, strike_times)


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


# ------------------------------------------------------------------ the felt piano

C4 = 261.63


def felt(**params):
    return recipe_audio("felt_note", freq_hz=C4, **params)


def test_felt_piano_is_brighter_struck_harder():
    soft = centroid_hz(felt(velocity=0.3, length_s=2.0)[:int(0.2 * SR)])
    hard = centroid_hz(felt(velocity=0.9, length_s=2.0)[:int(0.2 * SR)])
    assert hard >= 1.8 * soft


def test_felt_piano_highs_die_first():
    note = felt(velocity=0.7, length_s=4.0)
    assert decay_time_s(note, (1500, 6000)) <= 0.4 * decay_time_s(note, (200, 330))


def test_felt_piano_hammer_knocks():
    with_knock = felt(velocity=0.7, length_s=1.0)[:int(0.015 * SR)]
    without = felt(velocity=0.7, length_s=1.0, hammer=0.0)[:int(0.015 * SR)]
    gain = band_energy(with_knock, 3000, 10000) / band_energy(without, 3000, 10000)
    assert 10 * np.log10(gain) >= 2.5


def test_felt_piano_lets_go_through_the_damper():
    """Released at 2 s: not cut (still within 12 dB 50 ms later), damped (30 dB down
    in 300 ms), with the damper's brush, and silent at its end."""
    note = felt(velocity=0.7, length_s=2.0, release_s=0.6)
    env = 20 * np.log10(envelope(note, hop_s=0.01))
    at = int(2.0 / 0.01) - 2
    assert env[at + 7] >= env[at] - 12.0
    assert env[at + 32] <= env[at] - 30.0
    assert env[-1] <= env.max() - 80.0
    quiet = felt(velocity=0.7, length_s=2.0, release_s=0.6, damper=0.0)

    def brush(x):
        return band_energy(x[int(2.0 * SR):int(2.08 * SR)], 2000, 8000)

    assert 10 * np.log10(brush(note) / brush(quiet)) >= 6.0


def test_felt_piano_takes_differ():
    one = felt(velocity=0.7, length_s=2.0, seed=1)
    two = felt(velocity=0.7, length_s=2.0, seed=2)
    assert max_correlation(one, two) < 0.9
