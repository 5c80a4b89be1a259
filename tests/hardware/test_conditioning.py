"""Conditioning rules, each checked with a manual clock and exact event times."""

import pytest

from severed.config.model import SensorSpec
from severed.hardware.conditioning import Conditioner


def spec(name="door", kind="door", **kw):
    kw.setdefault("debounce_s", 0.05)
    return SensorSpec(name=name, kind=kind, pin=17, **kw)


def ev(events):
    """Events as (t rounded to the microsecond, type, reason) for exact comparison."""
    return [(round(e.t, 6), e.type, e.data.get("reason")) for e in events]


def run(cond, edges, until):
    """Feed (t, sensor, level) edges in order, then poll up to ``until``."""
    out = []
    for t, name, level in edges:
        out += cond.edge(t, name, level)
    out += cond.poll(until)
    return ev(out)


# ------------------------------------------------------------------ debounce

def test_clean_edge_counts_after_debounce():
    cond = Conditioner([spec()], 0.0)
    assert cond.edge(1.0, "door", 1) == []
    assert cond.poll(1.049) == []
    assert ev(cond.poll(1.05)) == [(1.05, "door.closed", None)]
    assert cond.states() == {"door": "active"}
    cond.edge(3.0, "door", 0)
    assert ev(cond.poll(5.0)) == [(3.05, "door.open", None)]
    assert cond.states() == {"door": "inactive"}


def test_bounce_storm_gives_one_event_stamped_when_stable():
    cond = Conditioner([spec()], 0.0)
    # A reed switch chattering for 30 ms, every gap shorter than the debounce.
    storm = [(1.0 + i * 0.003, "door", (i + 1) % 2) for i in range(11)]  # ends on 1 at 1.03
    assert storm[-1] == (1.03, "door", 1)
    assert run(cond, storm, 2.0) == [(1.08, "door.closed", None)]


def test_bounce_back_to_stable_level_is_nothing():
    cond = Conditioner([spec()], 0.0)
    assert run(cond, [(1.0, "door", 1), (1.04, "door", 0)], 3.0) == []
    assert cond.states() == {"door": "inactive"}


def test_edge_at_exact_debounce_expiry_counts_the_old_level_first():
    cond = Conditioner([spec()], 0.0)
    # Stable for exactly debounce_s counts.
    assert run(cond, [(1.0, "door", 1), (1.05, "door", 0)], 1.2) == [
        (1.05, "door.closed", None), (1.1, "door.open", None)]


def test_zero_debounce_reports_at_the_edge_itself():
    cond = Conditioner([spec(debounce_s=0.0)], 0.0)
    assert ev(cond.edge(2.5, "door", 1)) == [(2.5, "door.closed", None)]


def test_repeated_level_is_not_a_change():
    cond = Conditioner([spec()], 0.0)
    assert run(cond, [(1.0, "door", 1), (1.02, "door", 1)], 2.0) == [
        (1.05, "door.closed", None)]


def test_initial_active_level_is_reported_after_debounce():
    cond = Conditioner([spec()], 10.0, initial_levels={"door": 1})
    assert ev(cond.poll(10.05)) == [(10.05, "door.closed", None)]


def test_edge_is_delivered_after_due_poll_events_of_other_sensors():
    cond = Conditioner([spec(), spec("reward", "button", debounce_s=0.01)], 0.0)
    cond.edge(1.0, "door", 1)
    out = cond.edge(1.2, "reward", 1)
    assert ev(out) == [(1.05, "door.closed", None)]
    assert ev(cond.poll(1.3)) == [(1.21, "reward.press", None)]


def test_unknown_sensor_is_named_in_the_error():
    cond = Conditioner([spec()], 0.0)
    with pytest.raises(KeyError, match="lamp"):
        cond.edge(1.0, "lamp", 1)


def test_time_going_backwards_is_clamped():
    cond = Conditioner([spec()], 0.0)
    cond.poll(5.0)
    cond.edge(4.9, "door", 1)
    assert ev(cond.poll(6.0)) == [(5.05, "door.closed", None)]


# ---------------------------------------------------------------------- hold

def test_hold_extends_a_short_press():
    cond = Conditioner([spec("reward", "button", debounce_s=0.01, hold_s=2.0)], 0.0)
    out = run(cond, [(1.0, "reward", 1), (1.2, "reward", 0)], 5.0)
    assert out == [(1.01, "reward.press", None), (3.01, "reward.release", None)]


def test_press_again_during_hold_is_the_same_press():
    cond = Conditioner([spec("reward", "button", debounce_s=0.01, hold_s=2.0)], 0.0)
    out = run(cond, [(1.0, "reward", 1), (1.2, "reward", 0), (2.0, "reward", 1),
                     (2.5, "reward", 0)], 6.0)
    # Held from 1.01 to 3.01; the second press ends at 2.51, inside the hold.
    assert out == [(1.01, "reward.press", None), (3.01, "reward.release", None)]


def test_long_press_is_not_extended_by_hold():
    cond = Conditioner([spec("reward", "button", debounce_s=0.01, hold_s=2.0)], 0.0)
    out = run(cond, [(1.0, "reward", 1), (4.0, "reward", 0)], 6.0)
    assert out == [(1.01, "reward.press", None), (4.01, "reward.release", None)]


# ------------------------------------------------------------------- warm-up

def pir(**kw):
    kw.setdefault("debounce_s", 0.1)
    kw.setdefault("warmup_s", 60.0)
    return spec("motion", "pir", **kw)


def test_pir_edges_during_warmup_are_ignored():
    cond = Conditioner([pir()], 0.0)
    out = run(cond, [(5.0, "motion", 1), (8.0, "motion", 0), (30.0, "motion", 1),
                     (31.0, "motion", 0)], 59.9)
    assert out == []
    assert cond.states() == {"motion": "warming"}
    assert ev(cond.poll(60.0)) == []
    assert cond.states() == {"motion": "inactive"}
    assert run(cond, [(70.0, "motion", 1)], 71.0) == [(70.1, "motion.start", None)]


def test_pir_active_at_end_of_warmup_is_adopted_then():
    cond = Conditioner([pir()], 100.0)
    cond.edge(150.0, "motion", 1)
    assert ev(cond.poll(160.0)) == [(160.0, "motion.start", None)]


def test_pir_that_went_high_just_before_warmup_end_waits_for_debounce():
    cond = Conditioner([pir()], 0.0)
    cond.edge(59.95, "motion", 1)
    assert ev(cond.poll(60.0)) == []
    assert ev(cond.poll(61.0)) == [(60.05, "motion.start", None)]


def test_warmup_chatter_does_not_trip_flap_detection():
    cond = Conditioner([pir(flap_limit=3, flap_window_s=10.0)], 0.0)
    edges = [(1.0 + i * 0.2, "motion", (i + 1) % 2) for i in range(20)]
    assert run(cond, edges, 61.0) == []
    assert cond.states() == {"motion": "inactive"}


# --------------------------------------------------------------------- merge

def test_pir_bursts_within_merge_are_one_event():
    cond = Conditioner([pir(warmup_s=0.0, merge_s=3.0)], 0.0)
    edges = [(10.0, "motion", 1), (12.5, "motion", 0),   # HC-SR501 retriggers ...
             (14.0, "motion", 1), (16.5, "motion", 0),   # ... after its 2.5 s block
             (18.0, "motion", 1), (20.0, "motion", 0)]
    assert run(cond, edges, 30.0) == [(10.1, "motion.start", None),
                                      (23.1, "motion.stop", None)]


def test_bursts_further_apart_than_merge_are_separate():
    cond = Conditioner([pir(warmup_s=0.0, merge_s=3.0)], 0.0)
    edges = [(10.0, "motion", 1), (12.0, "motion", 0), (16.0, "motion", 1),
             (17.0, "motion", 0)]
    assert run(cond, edges, 30.0) == [
        (10.1, "motion.start", None), (15.1, "motion.stop", None),
        (16.1, "motion.start", None), (20.1, "motion.stop", None)]


def test_merge_and_hold_take_the_later_end():
    cond = Conditioner([pir(warmup_s=0.0, merge_s=1.0, hold_s=5.0)], 0.0)
    assert run(cond, [(10.0, "motion", 1), (11.0, "motion", 0)], 20.0) == [
        (10.1, "motion.start", None), (15.1, "motion.stop", None)]


# ------------------------------------------------------------------ flapping

def flappy(**kw):
    kw.setdefault("debounce_s", 0.05)
    kw.setdefault("flap_limit", 5)
    kw.setdefault("flap_window_s", 2.0)
    kw.setdefault("quarantine_s", 10.0)
    return spec(**kw)


def test_flapping_sensor_is_quarantined_and_recovers():
    cond = Conditioner([flappy()], 0.0)
    # Changes every 0.3 s: state events while under the limit, fault at the 6th change.
    edges = [(1.0 + i * 0.3, "door", (i + 1) % 2) for i in range(10)]
    out = run(cond, edges, 4.0)
    assert out == [
        (1.05, "door.closed", None), (1.35, "door.open", None),
        (1.65, "door.closed", None), (1.95, "door.open", None),
        (2.25, "door.closed", None),
        (2.5, "door.fault", "flapping"),
    ]
    assert cond.states() == {"door": "quarantined"}
    # The last edge (3.7) left the door open (level 0); quiet since, so at 12.5 it
    # recovers and the open state is adopted at once (stable well past debounce).
    assert ev(cond.poll(12.49)) == []
    assert ev(cond.poll(13.0)) == [(12.5, "door.recovered", "flapping"),
                                   (12.5, "door.open", None)]
    assert cond.states() == {"door": "inactive"}


def chatter(t0, levels, step=0.03):
    """Raw edges ``step`` apart (shorter than the debounce: no state events; with the
    door's 0.05 s debounce every second edge starts a new counted burst)."""
    return [(t0 + i * step, "door", level) for i, level in enumerate(levels)]


def test_quarantine_repeats_while_still_flapping():
    cond = Conditioner([flappy()], 0.0)
    # Twelve edges 30 ms apart: counted at 1.0, 1.06, ... the sixth count at 1.30.
    out = run(cond, chatter(1.0, [1, 0] * 6), 1.4)
    assert out == [(1.3, "door.fault", "flapping")]
    # Still changing around the first quarantine's end (11.30): 7 changes in the
    # 2 s window before it, so quarantine again, silently.
    edges = [(10.0 + i * 0.2, "door", (i + 1) % 2) for i in range(12)]  # to 12.2
    assert run(cond, edges, 21.29) == []
    assert cond.states() == {"door": "quarantined"}
    # Calm since 12.2, ending on level 0, the stable level: only the recovery.
    assert ev(cond.poll(21.3)) == [(21.3, "door.recovered", "flapping")]
    assert cond.states() == {"door": "inactive"}


def test_quarantine_produces_no_state_events_and_keeps_the_reported_state():
    cond = Conditioner([flappy()], 0.0)
    cond.edge(0.5, "door", 1)
    assert ev(cond.poll(1.0)) == [(0.55, "door.closed", None)]
    out = run(cond, chatter(1.0, [0, 1] * 5), 1.4)
    # Counted: the close at 0.5, then 1.0, 1.06, 1.12, 1.18 and 1.24, the sixth.
    assert out == [(1.24, "door.fault", "flapping")]
    assert cond.states() == {"door": "quarantined"}
    # A long, clean open during quarantine is not reported ...
    assert run(cond, [(2.0, "door", 0)], 11.0) == []
    assert cond.states() == {"door": "quarantined"}
    # ... but adopted on recovery.
    assert ev(cond.poll(12.0)) == [(11.24, "door.recovered", "flapping"),
                                   (11.24, "door.open", None)]


def test_recovery_waits_for_debounce_of_a_fresh_level():
    cond = Conditioner([flappy()], 0.0)
    assert run(cond, chatter(1.0, [1, 0] * 6), 1.4) == [(1.3, "door.fault", "flapping")]
    # Calm enough at 11.30 (one change in the window) but that level is 20 ms old.
    cond.edge(11.28, "door", 1)
    assert ev(cond.poll(11.3)) == [(11.3, "door.recovered", "flapping")]
    assert ev(cond.poll(12.0)) == [(11.33, "door.closed", None)]


def test_flap_window_forgets_old_changes():
    cond = Conditioner([flappy()], 0.0)
    # Five counted changes (the limit), a pause longer than the window, five more.
    out = run(cond, chatter(1.0, [1, 0] * 4 + [1]) + chatter(4.0, [0, 1] * 4 + [0]), 5.0)
    assert out == [(1.29, "door.closed", None), (4.29, "door.open", None)]
    assert cond.states() == {"door": "inactive"}


# --------------------------------------------------------------------- stuck

def test_stuck_door_faults_and_recovers_when_it_opens():
    cond = Conditioner([spec(stuck_after_s=600.0)], 0.0)
    cond.edge(10.0, "door", 1)
    assert ev(cond.poll(610.0)) == [(10.05, "door.closed", None)]
    assert ev(cond.poll(610.05)) == [(610.05, "door.fault", "stuck")]
    assert cond.states() == {"door": "stuck"}
    assert ev(cond.poll(2000.0)) == []  # one fault, not one per poll
    cond.edge(2000.0, "door", 0)
    assert ev(cond.poll(2001.0)) == [(2000.05, "door.recovered", "stuck"),
                                     (2000.05, "door.open", None)]
    assert cond.states() == {"door": "inactive"}


def test_door_closed_shorter_than_stuck_limit_is_fine():
    cond = Conditioner([spec(stuck_after_s=600.0)], 0.0)
    out = run(cond, [(10.0, "door", 1), (609.0, "door", 0), (700.0, "door", 1)], 1000.0)
    assert out == [(10.05, "door.closed", None), (609.05, "door.open", None),
                   (700.05, "door.closed", None)]


def test_no_stuck_detection_when_disabled():
    cond = Conditioner([spec()], 0.0)
    cond.edge(1.0, "door", 1)
    assert ev(cond.poll(1e6)) == [(1.05, "door.closed", None)]


# -------------------------------------------------------------------- misc

def test_next_deadline_tells_when_to_poll():
    cond = Conditioner([spec(), pir()], 0.0)
    assert cond.next_deadline() == 60.0
    cond.edge(1.0, "door", 1)
    assert cond.next_deadline() == pytest.approx(1.05)
    cond.poll(1.05)
    assert cond.next_deadline() == 60.0
    cond.poll(60.0)
    assert cond.next_deadline() is None


def test_events_of_several_sensors_come_in_time_order():
    cond = Conditioner([spec(debounce_s=0.3), pir(warmup_s=0.0, debounce_s=0.1)], 0.0)
    cond.edge(1.0, "door", 1)
    cond.edge(1.1, "motion", 1)
    assert ev(cond.poll(2.0)) == [(1.2, "motion.start", None), (1.3, "door.closed", None)]


# ------------------------------------------------------------- interplay

def test_stop_pending_when_quarantined_comes_at_recovery():
    cond = Conditioner([flappy(merge_s=5.0)], 0.0)
    # Closed at 0.05; opened at 3.05, so the open event is due at 8.05 (merge).
    assert run(cond, [(0.0, "door", 1), (3.0, "door", 0)], 3.1) == [
        (0.05, "door.closed", None)]
    # The open at 3.0 is the first of six counted changes within 2 s (then 4.0, 4.06,
    # 4.12, 4.18, 4.24): fault at 4.24. The open event due at 8.05 falls inside the
    # quarantine, so it comes at recovery.
    out = run(cond, chatter(4.0, [1, 0] * 5), 20.0)
    assert out == [(4.24, "door.fault", "flapping"), (14.24, "door.recovered", "flapping"),
                   (14.24, "door.open", None)]
    assert cond.states() == {"door": "inactive"}


def test_state_that_returns_during_quarantine_needs_no_event():
    cond = Conditioner([flappy(merge_s=5.0)], 0.0)
    run(cond, [(0.0, "door", 1), (3.0, "door", 0)], 3.1)
    # Ends closed, as the show was last told: recovery alone, no closed/open pair.
    out = run(cond, chatter(4.0, [1, 0] * 4 + [1]), 20.0)
    assert out == [(4.24, "door.fault", "flapping"), (14.24, "door.recovered", "flapping")]
    assert cond.states() == {"door": "active"}


def test_flapping_while_stuck_recovers_from_both():
    cond = Conditioner([flappy(stuck_after_s=10.0)], 0.0)
    cond.edge(0.0, "door", 1)
    assert ev(cond.poll(10.05)) == [(0.05, "door.closed", None),
                                    (10.05, "door.fault", "stuck")]
    out = run(cond, chatter(11.0, [0, 1] * 5 + [0]), 30.0)
    assert out == [(11.3, "door.fault", "flapping"), (21.3, "door.recovered", "flapping"),
                   (21.3, "door.recovered", "stuck"), (21.3, "door.open", None)]
    assert cond.states() == {"door": "inactive"}
