"""The ride down, measured: the ding on the door, the stomach left above (sub-bass
swell), the held breath before the doors open, the ding of arrival, and no clicks."""

import numpy as np
import pytest

from tests.shows.conftest import RIDE, SR, render
from tests.shows.measure import band_energy, dbfs, envelope, rms_dbfs, seg

CEILING = 10 ** (-1 / 20)


def first_rise(audio, t_from, band=(700, 8000), above_db=12.0):
    """First time after t_from where the band envelope is above_db over its level in
    the 100 ms before t_from."""
    env = envelope(audio, band=band)
    hop = 0.005
    i0 = int(t_from / hop)
    base = np.median(env[i0 - 20:i0])
    later = np.flatnonzero(20 * np.log10(env[i0:] / base) > above_db)
    return (i0 + later[0]) * hop if len(later) else None


def test_descent_ding_within_50_ms_of_the_conditioned_door_event(ride):
    (closed,) = ride.sensor_times("door", "closed")
    assert closed == pytest.approx(2.0, abs=1e-6)  # the first edge, at once (first_edge)
    assert ride.scene_times("descent") == [closed]
    onset = first_rise(ride.audio, closed)
    assert onset is not None and onset - closed <= 0.050
    # It is a bell, not a click: it is still ringing 0.5 s later.
    assert rms_dbfs(seg(ride.audio, closed + 0.5, closed + 0.6)) > -40


def test_arrival_ding_within_50_ms_of_entering_the_floor(ride):
    (arrived,) = ride.scene_times("innie")
    onset = first_rise(ride.audio, arrived, band=(900, 1300), above_db=20.0)
    assert onset is not None and onset - arrived <= 0.050


def test_sub_bass_swells_during_the_ride(ride):
    (start,) = ride.scene_times("descent")
    (end,) = ride.scene_times("arrival")
    early = band_energy(seg(ride.audio, start + 0.2, start + 1.2), 25, 60)
    late = band_energy(seg(ride.audio, end - 1.2, end - 0.2), 25, 60)
    assert 10 * np.log10(late / early) >= 15.0
    # ... and it is most of what is heard at the end of the ride.
    total = band_energy(seg(ride.audio, end - 1.2, end - 0.2), 20, 20000)
    assert late / total > 0.5


def test_a_gap_below_minus_50_dbfs_before_the_doors_open(ride):
    (gap,) = ride.scene_times("arrival")
    (arrived,) = ride.scene_times("innie")
    assert 1.0 <= arrived - gap <= 1.3
    # The held breath: 0.5 s of near-silence once the ride has faded out.
    assert rms_dbfs(seg(ride.audio, gap + 0.6, arrived)) < -50
    assert dbfs(np.abs(seg(ride.audio, gap + 0.6, arrived)).max()) < -50


def test_peak_at_or_below_the_ceiling(ride):
    assert np.abs(ride.audio).max() <= CEILING + 1e-6


def test_no_clicks_at_transitions():
    """With the deliberate transients off (bells, glitches), no scene change makes a
    sample-to-sample jump larger than what either scene makes on its own."""
    r = render(RIDE, 16.0, seed=4, disable=("innie.chip", "descent.ding", "innie.ding"))
    jump = np.abs(np.diff(r.audio, axis=0)).max(axis=1)

    def steady(t0, t1):
        return jump[int(t0 * SR):int(t1 * SR)].max()

    for scene in ("descent", "arrival", "innie"):
        (t,) = r.scene_times(scene)
        # What the scenes make on their own: the second before, the second after the fade.
        bound = max(steady(t - 1.1, t - 0.1), steady(t + 0.6, t + 1.6))
        near = jump[int((t - 0.1) * SR):int((t + 0.6) * SR)].max()
        assert near <= 1.5 * bound + 1e-4, (scene, t, near, bound)


def test_the_ding_on_the_door_is_struck(ride):
    """In the mix (the ding's band): within 20 ms of its onset it is at its peak (to
    1 dB: the ride's reverb adds a little to it), not swelling in with the scene."""
    (closed,) = ride.sensor_times("door", "closed")
    onset = first_rise(ride.audio, closed, band=(1200, 1450), above_db=12.0)
    assert onset is not None
    env = 20 * np.log10(envelope(seg(ride.audio, onset, onset + 1.0), band=(1200, 1450)))
    assert env[:5].max() >= env.max() - 1.0  # 5 frames of 5 ms
