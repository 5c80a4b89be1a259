"""The door's first-edge debounce: a reed switch's first contact reaches the show at
once, its bounces are nothing, a move within the lockout counts when it ends. Checked
with a manual clock, and through gpiozero's MockFactory with a pin that bounces."""

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from severed.config import load_site_text
from severed.config.model import SensorSpec
from severed.hardware.conditioning import Conditioner
from severed.hardware.sensors import SensorBank

LOCKOUT = 0.05


def door(**kw):
    kw.setdefault("debounce_s", LOCKOUT)
    kw.setdefault("debounce", "first_edge")
    return SensorSpec(name="door", kind="door", pin=17, **kw)


def ev(events):
    return [(round(e.t, 6), e.type, e.data.get("reason")) for e in events]


def bounces(t0, level, count=8, gap=0.0021):
    """A reed switch making (level 1) or breaking (0) contact at t0: the first edge to
    ``level``, then ``count`` edges of chatter a couple of ms apart, ending on it."""
    edges = [(t0, level)]
    for i in range(1, count + 1):
        edges.append((t0 + i * gap, level if i % 2 == 0 else 1 - level))
    assert edges[-1][1] == level
    return edges


def feed(cond, edges, until):
    out = []
    for t, level in edges:
        out += cond.edge(t, "door", level)
    out += cond.poll(until)
    return ev(out)


def test_the_first_contact_is_the_event_at_its_own_time():
    cond = Conditioner([door()], 0.0)
    assert ev(cond.edge(1.0, "door", 1)) == [(1.0, "door.closed", None)]
    assert cond.states() == {"door": "active"}


def test_a_bouncing_close_and_open_are_one_event_each_at_the_first_edge():
    cond = Conditioner([door()], 0.0)
    edges = bounces(1.0, 1) + bounces(4.0, 0, count=12)
    assert feed(cond, edges, 10.0) == [(1.0, "door.closed", None), (4.0, "door.open", None)]


def test_the_stable_rule_waits_out_the_same_bounces():
    # The rule the door had: the same bounce gives its event 50 ms after the last edge.
    cond = Conditioner([door(debounce="stable")], 0.0)
    edges = bounces(1.0, 1)
    assert feed(cond, edges, 2.0) == [(round(edges[-1][0] + LOCKOUT, 6), "door.closed", None)]


def test_a_move_within_the_lockout_counts_once_stable():
    # Closed and opened again 20 ms later (or a spike): the close at once; the open
    # came out of the lockout's noise, so it counts once stable for 50 ms. Nothing is
    # lost, nothing comes earlier than it is known.
    cond = Conditioner([door()], 0.0)
    assert feed(cond, [(1.0, 1), (1.02, 0)], 1.069) == [(1.0, "door.closed", None)]
    (t, name, _), = ev(cond.poll(1.071))
    assert name == "door.open" and t == pytest.approx(1.07)
    # ... and that open starts its own lockout: a close 10 ms on waits until stable.
    assert ev(cond.edge(1.08, "door", 1)) == []
    (t, name, _), = ev(cond.poll(2.0))
    assert name == "door.closed" and t == pytest.approx(1.13)


def test_a_flapping_contact_reaches_the_show_once():
    # A loose wire, a change every 20 ms: the first edge out of quiet counts at once,
    # the rest is chatter and never stable for 50 ms, so it reaches the show as nothing.
    cond = Conditioner([door(flap_limit=1000)], 0.0)
    edges = [(1.0 + 0.02 * i, (i + 1) % 2) for i in range(50)]
    assert feed(cond, edges, 1.99) == [(1.0, "door.closed", None)]
    # It settles open at 1.98: that counts 50 ms later.
    (t, name, _), = ev(cond.poll(2.5))
    assert name == "door.open" and t == pytest.approx(2.03)


def test_after_a_quiet_lockout_nothing_waits():
    cond = Conditioner([door()], 0.0)
    out = feed(cond, bounces(1.0, 1), 1.2)
    assert out == [(1.0, "door.closed", None)]
    assert cond.states() == {"door": "active"}
    assert cond.next_deadline() is None  # the lockout is over and nothing waits


def test_a_visit_of_bouncing_doors_never_trips_the_flap_rule():
    # Each bouncing close or open is one counted change (a burst), as before.
    cond = Conditioner([door(flap_limit=20, flap_window_s=10.0)], 0.0)
    edges = []
    for k in range(8):  # a door slammed and opened every 1.2 s: 16 changes in 10 s
        edges += bounces(1.0 + 1.2 * k, 1) + bounces(1.6 + 1.2 * k, 0)
    out = feed(cond, edges, 12.0)
    assert [e for e in out if "fault" in e[1]] == []
    assert len(out) == 16


def test_chatter_without_pause_is_still_a_fault():
    cond = Conditioner([door(flap_limit=20, flap_window_s=10.0)], 0.0)
    edges = [(1.0 + i * 0.004, (i + 1) % 2) for i in range(400)]  # 1.6 s of chatter
    out = feed(cond, edges, 3.0)
    faults = [e for e in out if e[1] == "door.fault"]
    assert faults and faults[0][2] == "flapping"
    assert faults[0][0] < 1.0 + 21 * LOCKOUT + 0.01


def test_a_door_closed_at_start_is_reported_at_once():
    cond = Conditioner([door()], 5.0, initial_levels={"door": 1})
    assert ev(cond.poll(5.0)) == [(5.0, "door.closed", None)]


def test_retuning_to_stable_keeps_a_change_made_within_the_lockout():
    cond = Conditioner([door()], 0.0)
    feed(cond, [(1.0, 1), (1.01, 0)], 1.02)  # closed, then open again while locked out
    cond = cond.retuned([door(debounce="stable")], 1.03)
    assert ev(cond.poll(1.2)) == [(1.06, "door.open", None)]  # 50 ms after its raw edge


def test_site_config_gives_the_door_first_edge_and_the_others_stable():
    site = load_site_text('''
[sensors.door]
kind = "door"
pin = 17
[sensors.motion]
kind = "pir"
pin = 27
[sensors.noisy]
kind = "door"
pin = 24
debounce = "stable"
debounce_s = 0.15
''', "site.toml")
    modes = {s.name: (s.debounce, s.debounce_s) for s in site.sensors}
    assert modes == {"door": ("first_edge", 0.05), "motion": ("stable", 0.1),
                     "noisy": ("stable", 0.15)}


# ------------------------------------------------------------- a real (mock) pin

@pytest.fixture
def mock_factory():
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


def test_a_bouncing_reed_switch_on_a_mock_pin_reaches_the_show_at_its_first_edge(
        mock_factory):
    """The pin is driven as a reed switch would: closing, 8 bounces 2 ms apart; open,
    12 bounces. gpiozero stamps each edge (our clock, moved by hand) and conditioning
    makes one event of each, at the first edge."""
    now = [100.0]
    cond = Conditioner([door()], 100.0, initial_levels={"door": 0})
    events = []

    def on_edge(t, name, level):
        events.extend(cond.edge(t, name, level))

    bank = SensorBank([door(pull="up", active_state="low")], pin_factory="mock",
                      on_edge=on_edge, clock=lambda: now[0])
    try:
        pin = mock_factory.pin(17)
        for t, level in bounces(101.0, 1) + bounces(103.0, 0, count=12):
            now[0] = t
            if level:
                pin.drive_low()   # contact made: pulled to GND, active
            else:
                pin.drive_high()
        events.extend(cond.poll(104.0))
    finally:
        bank.close()
    assert ev(events) == [(101.0, "door.closed", None), (103.0, "door.open", None)]
