"""Conditioner.retuned: new settings take effect while each sensor keeps its state; a
retune alone never sends an event. Manual clock, exact times."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severed.config.model import SensorSpec
from severed.hardware.conditioning import Conditioner


def door(**kw):
    kw.setdefault("debounce_s", 0.05)
    return SensorSpec("door", "door", 17, **kw)


def pir(**kw):
    kw.setdefault("debounce_s", 0.1)
    kw.setdefault("warmup_s", 60.0)
    return SensorSpec("motion", "pir", 27, **kw)


def ev(events):
    return [(round(e.t, 6), e.type, e.data.get("reason")) for e in events]


def test_longer_debounce_takes_effect_on_the_next_edge():
    cond = Conditioner([door()], 0.0)
    cond.edge(1.0, "door", 1)
    assert ev(cond.poll(2.0)) == [(1.05, "door.closed", None)]
    cond = cond.retuned([door(debounce_s=0.2)], 5.0)
    assert cond.poll(5.0) == []
    cond.edge(6.0, "door", 0)
    assert ev(cond.poll(6.19)) == []  # 0.05 s would have reported it at 6.05
    assert ev(cond.poll(7.0)) == [(6.2, "door.open", None)]
    # A 0.1 s bounce, once long enough to count, now is nothing.
    cond.edge(8.0, "door", 1)
    cond.edge(8.1, "door", 0)
    assert cond.poll(9.0) == []


def test_shorter_debounce_takes_effect_on_the_next_edge():
    cond = Conditioner([door(debounce_s=0.2)], 0.0)
    cond = cond.retuned([door(debounce_s=0.01)], 1.0)
    cond.edge(2.0, "door", 1)
    assert ev(cond.poll(3.0)) == [(2.01, "door.closed", None)]


def test_a_pending_level_is_due_debounce_after_its_edge_never_before_the_retune():
    cond = Conditioner([door()], 0.0)
    cond.edge(1.0, "door", 1)
    longer = cond.retuned([door(debounce_s=0.2)], 1.01)
    assert ev(longer.poll(2.0)) == [(1.2, "door.closed", None)]
    cond = Conditioner([door()], 0.0)
    cond.edge(1.0, "door", 1)
    zero = cond.retuned([door(debounce_s=0.0)], 1.03)
    assert ev(zero.poll(1.03)) == [(1.03, "door.closed", None)]


def test_a_closed_door_stays_closed_with_no_event():
    cond = Conditioner([door(), pir(warmup_s=0.0)], 0.0)
    cond.edge(1.0, "door", 1)
    assert ev(cond.poll(2.0)) == [(1.05, "door.closed", None)]
    cond = cond.retuned([door(debounce_s=0.2, hold_s=1.0, stuck_after_s=900.0),
                         pir(warmup_s=30.0)], 10.0)
    assert cond.states() == {"door": "active", "motion": "inactive"}
    assert cond.poll(500.0) == []
    cond.edge(600.0, "door", 0)
    assert ev(cond.poll(601.0)) == [(600.2, "door.open", None)]


def test_the_retuned_conditioner_is_a_new_one_and_the_old_is_untouched():
    cond = Conditioner([door()], 0.0)
    new = cond.retuned([door(debounce_s=0.2)], 1.0)
    cond.edge(2.0, "door", 1)
    assert ev(cond.poll(3.0)) == [(2.05, "door.closed", None)]
    assert new.states() == {"door": "inactive"}


def test_a_new_pir_warms_up_from_the_retune():
    cond = Conditioner([door()], 0.0)
    cond.poll(100.0)
    cond = cond.retuned([door(), pir()], 100.0)
    assert cond.states() == {"door": "inactive", "motion": "warming"}
    assert cond.next_deadline() == 160.0
    cond.edge(120.0, "motion", 1)
    assert cond.poll(159.9) == []
    assert ev(cond.poll(160.0)) == [(160.0, "motion.start", None)]


def test_a_removed_sensor_is_gone():
    cond = Conditioner([door(), pir()], 0.0)
    cond = cond.retuned([door()], 5.0)
    assert cond.states() == {"door": "inactive"}
    assert not cond.knows("motion") and cond.knows("door")
    with pytest.raises(KeyError, match="motion"):
        cond.edge(6.0, "motion", 1)
    assert cond.specs == (door(),)


def test_a_warming_pir_keeps_warming_to_its_new_end():
    cond = Conditioner([pir()], 0.0)
    shorter = cond.retuned([pir(warmup_s=30.0)], 10.0)
    assert shorter.next_deadline() == 30.0
    done = cond.retuned([pir(warmup_s=5.0)], 10.0)  # would have ended already: ends now
    done.edge(10.0, "motion", 1)
    assert ev(done.poll(11.0)) == [(10.1, "motion.start", None)]


def test_a_settled_pir_does_not_warm_up_again():
    cond = Conditioner([pir()], 0.0)
    cond.poll(100.0)
    cond = cond.retuned([pir(warmup_s=120.0)], 100.0)
    assert cond.states() == {"motion": "inactive"}
    cond.edge(101.0, "motion", 1)
    assert ev(cond.poll(102.0)) == [(101.1, "motion.start", None)]


def test_quarantine_is_kept_and_its_end_moves_with_quarantine_s():
    spec = door(flap_limit=5, flap_window_s=2.0, quarantine_s=10.0)
    cond = Conditioner([spec], 0.0)
    out = []
    for i in range(6):  # six clean changes 0.1 s apart: the sixth is the fault
        out += cond.edge(1.0 + 0.1 * i, "door", (i + 1) % 2)
    assert ev(out)[-1] == (1.5, "door.fault", "flapping")
    cond = cond.retuned([dataclasses.replace(spec, quarantine_s=4.0)], 2.0)
    assert cond.states() == {"door": "quarantined"}
    assert cond.poll(5.49) == []
    # The last change (1.5) left the door open, after a reported close: adopted now.
    assert ev(cond.poll(5.5)) == [(5.5, "door.recovered", "flapping"),
                                  (5.5, "door.open", None)]


def test_counted_changes_are_kept_across_a_retune():
    spec = door(flap_limit=5, flap_window_s=2.0)
    cond = Conditioner([spec], 0.0)
    for i in range(4):
        cond.edge(1.0 + 0.1 * i, "door", (i + 1) % 2)
    cond = cond.retuned([dataclasses.replace(spec, hold_s=0.5)], 1.35)
    out = cond.edge(1.4, "door", 1) + cond.edge(1.5, "door", 0)
    assert ev(out)[-1] == (1.5, "door.fault", "flapping")


def test_a_deferred_release_moves_with_the_new_hold():
    button = SensorSpec("reward", "button", 23, debounce_s=0.01, hold_s=2.0)
    cond = Conditioner([button], 0.0)
    cond.edge(1.0, "reward", 1)
    assert ev(cond.edge(1.2, "reward", 0) + cond.poll(1.5)) == [(1.01, "reward.press", None)]
    cond = cond.retuned([dataclasses.replace(button, hold_s=5.0)], 1.5)
    assert cond.poll(5.0) == []
    assert ev(cond.poll(7.0)) == [(6.01, "reward.release", None)]
    # A hold shortened below the time already held ends at the retune, not before.
    cond = Conditioner([button], 0.0)
    cond.edge(1.0, "reward", 1)
    cond.edge(1.2, "reward", 0)
    cond.poll(1.5)
    cond = cond.retuned([dataclasses.replace(button, hold_s=0.0)], 1.5)
    assert ev(cond.poll(1.5)) == [(1.5, "reward.release", None)]


def test_stuck_detection_switched_on_while_closed_faults_no_earlier_than_the_retune():
    cond = Conditioner([door()], 0.0)
    cond.edge(1.0, "door", 1)
    cond.poll(1000.0)
    cond = cond.retuned([door(stuck_after_s=600.0)], 1000.0)
    assert ev(cond.poll(1000.0)) == [(1000.0, "door.fault", "stuck")]
    cond = Conditioner([door()], 0.0)
    cond.edge(1.0, "door", 1)
    cond.poll(100.0)
    cond = cond.retuned([door(stuck_after_s=600.0)], 100.0)
    assert ev(cond.poll(700.0)) == [(601.05, "door.fault", "stuck")]


specs = st.builds(
    lambda debounce, hold, merge, limit, quarantine, stuck: door(
        debounce_s=debounce, hold_s=hold, merge_s=merge, flap_limit=limit,
        flap_window_s=2.0, quarantine_s=quarantine, stuck_after_s=stuck),
    st.sampled_from([0.0, 0.01, 0.05, 0.2]), st.sampled_from([0.0, 0.5, 2.0]),
    st.sampled_from([0.0, 1.0]), st.integers(2, 8), st.sampled_from([0.0, 3.0]),
    st.sampled_from([0.0, 4.0]))


@settings(max_examples=200, deadline=None)
@given(specs, specs, st.lists(st.tuples(st.floats(0.001, 1.0), st.integers(0, 1)),
                              max_size=40), st.integers(0, 40), st.floats(0.0, 1.0))
def test_a_retune_anywhere_keeps_events_ordered_and_alternating(before, after, steps, at,
                                                                at_frac):
    cond = Conditioner([before], 0.0)
    events, t, retuned_at = [], 0.0, None
    for i, (dt, level) in enumerate(steps):
        if i == at:
            retuned_at = t + at_frac * dt
            out = cond.poll(retuned_at)
            cond = cond.retuned([after], retuned_at)
            made_due = cond.poll(retuned_at)
            assert all(e.t == retuned_at for e in made_due)
            events += out + made_due
        t += dt
        events += cond.edge(t, "door", level)
    events += cond.poll(t + 1000.0)
    times = [e.t for e in events]
    assert times == sorted(times)
    active, quarantined = False, False
    for e in events:
        kind = e.type.rsplit(".", 1)[1]
        if kind == "fault" and e.data["reason"] == "flapping":
            quarantined = True
        elif kind == "recovered" and e.data["reason"] == "flapping":
            quarantined = False
        elif kind in ("closed", "open"):
            assert not quarantined
            assert (kind == "closed") != active, "state events must alternate"
            active = kind == "closed"
    if not quarantined:
        last = steps[-1][1] if steps else 0
        assert active == bool(last)
