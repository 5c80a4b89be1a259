"""The machine's explanation of an event that moves the show nowhere, as a technician
testing a booth reads it after `severed trigger` or a key in `run --simulate`."""

from severed.config import load_show
from severed.show.events import Event
from severed.show.machine import ShowMachine


def lumon():
    machine = ShowMachine(load_show("lumon"))
    return machine, machine.initial(0.0)


def test_a_door_closing_without_motion_says_the_show_needs_motion():
    machine, state = lumon()
    why = machine.why_unmoved(state, Event(100.0, "door.closed", "door"))
    assert why == "the show needs motion in the last 30 s"
    state, _ = machine.step(state, Event(95.0, "motion.start", "motion"))
    assert machine.why_unmoved(state, Event(100.0, "door.closed", "door")) is None
    after, actions = machine.step(state, Event(100.0, "door.closed", "door"))
    assert after.scene == "descent"  # the explanation agreed with what happens


def test_an_event_from_the_wrong_scene_names_where_it_works():
    machine, state = lumon()
    why = machine.why_unmoved(state, Event(5.0, "door.open", "door"))
    assert why == "door.open moves the show only from ascent, descent (it plays outie)"


def test_an_event_nothing_follows():
    machine, state = lumon()
    why = machine.why_unmoved(state, Event(5.0, "reward.release", "reward"))
    assert why == "no transition of show lumon follows reward.release"
