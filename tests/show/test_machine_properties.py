"""Properties of the show machine under any sequence of events and ticks."""

from hypothesis import given, settings
from hypothesis import strategies as st

from severed.config import load_show_text
from severed.show.events import ChangeScene, Event, SetOverlay, SetVariable
from severed.show.machine import ShowMachine

SHOW = """\
[show]
initial_scene = "a"
[tension]
rise_per_start = 0.4
rise_per_s = 0.1
decay_s = 5
[scenes.a]
[scenes.b]
[scenes.c]
[scenes.o]
overlay = true
[[transitions]]
from = "a"
to = "b"
on = "door.closed"
if_motion_within_s = 3
[[transitions]]
from = "b"
to = "c"
after_s = 2
[[transitions]]
from = "c"
to = "a"
after_s = 1
if_no_motion_for_s = 2
[[transitions]]
from = "*"
on = "reward.press"
overlay = "o"
overlay_s = 1.5
[[transitions]]
from = "c"
overlay = "o"
after_s = 0.5
[[transitions]]
from = "*"
to = "a"
on = "door.open"
if_tension_above = 0.5
"""

MACHINE = ShowMachine(load_show_text(SHOW, "props.toml"))

TYPES = st.sampled_from([
    "door.closed", "door.open", "motion.start", "motion.stop", "motion.fault",
    "motion.recovered", "reward.press", "cmd.scene", "cmd.volume", "cmd.mute",
    "cmd.unmute", "cmd.trigger", "bogus.thing", "cmd.nope", ""])
DATA = st.one_of(st.just({}), st.fixed_dictionaries({"scene": st.sampled_from(["a", "b", "o", "zz"])}),
                 st.fixed_dictionaries({"db": st.floats(allow_nan=True)}),
                 st.fixed_dictionaries({"event": st.sampled_from(["door.closed", "cmd.mute", 3])}))
STEPS = st.lists(st.tuples(st.floats(0, 3), st.booleans(), TYPES, DATA), max_size=40)


@settings(max_examples=150, deadline=None)
@given(STEPS)
def test_any_sequence_keeps_a_sane_state(steps):
    state = MACHINE.initial(0.0)
    t = 0.0
    overlay_on = set()
    for dt, is_tick, type_, data in steps:
        t += dt
        if is_tick:
            state, actions = MACHINE.tick(state, t)
            assert sum(isinstance(a, ChangeScene) for a in actions) <= 1
        else:
            state, actions = MACHINE.step(state, Event(t, type_, None, data))
        for a in actions:
            if isinstance(a, SetOverlay):
                (overlay_on.add if a.on else overlay_on.discard)(a.name)
            if isinstance(a, SetVariable):
                assert a.name == "tension" and 0.0 <= a.value <= 1.0
        # the state the engine has been told matches the machine's own
        assert not MACHINE.scenes[state.scene].overlay
        assert set(state.overlay_names) == overlay_on
        assert 0.0 <= MACHINE.tension(state, t) <= 1.0
        assert state.entered_at <= t
        deadline = MACHINE.next_deadline(state)
        assert deadline is None or deadline >= state.entered_at


def test_overlay_timer_fires_once_per_visit():
    state, _ = MACHINE.step(MACHINE.initial(0.0), Event(0.0, "motion.start", "motion"))
    state, _ = MACHINE.step(state, Event(1.0, "door.closed", "door"))
    state, actions = MACHINE.tick(state, 3.0)  # b -> c after 2 s
    assert state.scene == "c" and [a.to for a in actions if isinstance(a, ChangeScene)] == ["c"]
    state, actions = MACHINE.tick(state, 3.5)
    assert [a for a in actions if isinstance(a, SetOverlay)] == [SetOverlay("o", True, 3.0)]
    state, actions = MACHINE.tick(state, 3.6)
    assert [a for a in actions if isinstance(a, SetOverlay)] == []
    assert MACHINE.next_deadline(state) == 4.0  # c's 1 s timer; the overlay never times out
