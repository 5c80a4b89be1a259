import math

import pytest

from severed.config import load_show_text
from severed.show.events import (ChangeScene, Event, SetMute, SetOverlay, SetVariable,
                                 SetVolume, Trigger)
from severed.show.machine import ShowMachine

SHOW = """\
[show]
initial_scene = "outie"
crossfade_s = 3.0

[tension]
rise_per_start = 0.25
rise_per_s = 0
decay_s = 10

[scenes.outie]
[scenes.descent]
[scenes.innie]
[scenes.ascent]
[scenes.barrier]
overlay = true
[scenes.chime]
overlay = true

[[transitions]]
from = "outie"
to = "descent"
on = "door.closed"
if_motion_within_s = 10
crossfade_s = 0.5

[[transitions]]
from = "outie"
to = "ascent"
on = "door.closed"

[[transitions]]
from = "descent"
to = "innie"
after_s = 12

[[transitions]]
from = "descent"
to = "outie"
after_s = 5
if_sensor = { door = "open" }

[[transitions]]
from = "innie"
to = "ascent"
after_s = 20
if_no_motion_for_s = 15
curve = "linear"

[[transitions]]
from = ["descent", "innie"]
on = "door.open"
overlay = "barrier"
overlay_s = 8
crossfade_s = 1

[[transitions]]
from = "*"
on = "reward.press"
overlay = "chime"
overlay_s = 2

[[transitions]]
from = "ascent"
to = "outie"
on = "door.open"
if_tension_above = 0.3
"""


def machine(text=SHOW):
    return ShowMachine(load_show_text(text, "show.toml"))


def ev(t, type_, **data):
    sensor = None if type_.startswith("cmd.") else type_.split(".")[0]
    return Event(t, type_, sensor, data)


def run(m, state, *events):
    """Apply events in order; return the final state and every action, flattened."""
    out = []
    for e in events:
        state, actions = m.step(state, e)
        out.extend(actions)
    return state, out


def scene_changes(actions):
    return [a for a in actions if isinstance(a, ChangeScene)]


def not_tension(actions):
    return [a for a in actions if not isinstance(a, SetVariable)]


def test_initial_state():
    m = machine()
    s = m.initial(5.0)
    assert s.scene == "outie" and s.entered_at == 5.0 and s.overlays == ()
    assert m.tension(s, 100.0) == 0.0 and s.volume_db == 0.0 and not s.muted


def test_first_matching_transition_wins_and_guard_decides():
    m = machine()
    s = m.initial(0.0)
    # no motion seen: the guarded first transition fails, the second one fires
    s1, actions = m.step(s, ev(3.0, "door.closed"))
    assert scene_changes(actions) == [ChangeScene("outie", "ascent", 3.0, "equal_power",
                                                  reason="door.closed")]
    assert s1.scene == "ascent" and s1.entered_at == 3.0
    # motion 9 s earlier: the first transition wins with its own crossfade
    s2, actions = run(m, s, ev(1.0, "motion.start"), ev(1.5, "motion.stop"),
                      ev(10.0, "door.closed"))
    assert scene_changes(actions) == [ChangeScene("outie", "descent", 0.5, "equal_power",
                                                  reason="door.closed")]
    # motion 10.5 s earlier: too long ago
    s3, actions = run(m, s, ev(1.0, "motion.start"), ev(1.5, "motion.stop"),
                      ev(11.5, "door.closed"))
    assert s3.scene == "ascent"


def test_motion_within_counts_a_pir_that_is_still_active():
    m = machine()
    s, actions = run(m, m.initial(0.0), ev(1.0, "motion.start"), ev(60.0, "door.closed"))
    assert s.scene == "descent"


def test_faulted_pir_does_not_count_as_motion():
    m = machine()
    s, _ = run(m, m.initial(0.0), ev(1.0, "motion.start"), ev(2.0, "motion.fault"))
    assert s.faulted == {"motion"}
    s2, _ = m.step(s, ev(3.0, "door.closed"))
    assert s2.scene == "ascent"
    s3, _ = run(m, s, ev(2.5, "motion.recovered"), ev(3.0, "door.closed"))
    assert s3.faulted == frozenset() and s3.scene == "descent"


def test_timer_fires_at_after_s_not_before():
    m = machine()
    s, _ = run(m, m.initial(0.0), ev(1.0, "motion.start"), ev(2.0, "door.closed"))
    assert s.scene == "descent" and s.entered_at == 2.0
    s_before, actions = m.tick(s, 13.999)
    assert scene_changes(actions) == [] and s_before.scene == "descent"
    # the 5 s timer (guarded by door open) is the earliest deadline: guards are not judged
    assert m.next_deadline(s) == pytest.approx(7.0)
    s_after, actions = m.tick(s, 14.0)
    assert scene_changes(actions) == [ChangeScene("descent", "innie", 3.0, "equal_power",
                                                  reason="after 12 s")]
    assert s_after.entered_at == 14.0


def test_timer_guard_and_file_order():
    m = machine()
    s, _ = run(m, m.initial(0.0), ev(1.0, "motion.start"), ev(2.0, "door.closed"))
    # door opens at 3 s: the barrier overlay comes on, and the 5 s timer's guard holds
    s, actions = m.step(s, ev(3.0, "door.open"))
    assert not_tension(actions) == [SetOverlay("barrier", True, 1.0)]
    s, actions = m.tick(s, 7.0)
    assert s.scene == "outie" and scene_changes(actions)[0].reason == "after 5 s"


def test_tick_makes_at_most_one_scene_change_and_leaving_resets_timers():
    m = machine()
    s, _ = run(m, m.initial(0.0), ev(1.0, "motion.start"), ev(2.0, "door.closed"))
    # far in the future: descent->innie fires, but innie's own 20 s timer must not fire
    # in the same tick (its timer starts when innie is entered)
    s, actions = m.tick(s, 500.0)
    assert [a.to for a in scene_changes(actions)] == ["innie"] and s.entered_at == 500.0
    s, actions = m.tick(s, 500.0)
    assert scene_changes(actions) == []
    # motion stopped long ago and innie entered at 500: fires at 520
    s, _ = m.step(s, ev(500.0, "motion.stop"))
    s, actions = m.tick(s, 519.9)
    assert scene_changes(actions) == []
    s, actions = m.tick(s, 520.0)
    assert scene_changes(actions) == [ChangeScene("innie", "ascent", 3.0, "linear",
                                                  reason="after 20 s")]


def test_no_motion_guard_waits_for_quiet():
    m = machine()
    s, _ = run(m, m.initial(0.0), ev(1.0, "motion.start"), ev(2.0, "door.closed"))
    s, _ = m.tick(s, 14.0)  # innie at 14
    s, _ = m.step(s, ev(30.0, "motion.stop"))  # last start at 1 s, stop at 30 s
    s, actions = m.tick(s, 34.0)  # 20 s in innie; pir inactive, last start 33 s ago
    assert s.scene == "ascent"
    # a fresh start at 30 s blocks it until 45 s
    s2, _ = run(m, m.initial(0.0), ev(1.0, "motion.start"), ev(2.0, "door.closed"))
    s2, _ = m.tick(s2, 14.0)
    s2, _ = run(m, s2, ev(29.0, "motion.stop"), ev(30.0, "motion.start"),
                ev(31.0, "motion.stop"))
    s2, actions = m.tick(s2, 44.9)
    assert s2.scene == "innie"
    s2, actions = m.tick(s2, 45.0)
    assert s2.scene == "ascent"


def test_step_fires_due_timers_before_the_event():
    m = machine()
    s, _ = run(m, m.initial(0.0), ev(1.0, "motion.start"), ev(2.0, "door.closed"))
    # nobody ticked; at 15 s the door opens: first descent->innie (due at 14), then the
    # overlay from innie
    s, actions = m.step(s, ev(15.0, "door.open"))
    assert not_tension(actions) == [
        ChangeScene("descent", "innie", 3.0, "equal_power", reason="after 12 s"),
        SetOverlay("barrier", True, 1.0)]


def test_overlay_times_out_and_retrigger_extends():
    m = machine()
    s = m.initial(0.0)
    s, actions = m.step(s, ev(1.0, "reward.press"))
    assert actions == [SetOverlay("chime", True, 3.0)]
    assert s.overlays == (("chime", 3.0, 3.0),) and m.next_deadline(s) == 3.0
    s, actions = m.step(s, ev(2.5, "reward.press"))  # again before it ends
    assert actions == [SetOverlay("chime", True, 3.0)] and s.overlays == (("chime", 4.5, 3.0),)
    s, actions = m.tick(s, 4.4)
    assert actions == []
    s, actions = m.tick(s, 4.5)
    assert actions == [SetOverlay("chime", False, 3.0)] and s.overlays == ()
    assert m.next_deadline(s) is None


def test_overlay_stays_on_across_a_scene_change():
    m = machine()
    s, _ = run(m, m.initial(0.0), ev(0.5, "reward.press"), ev(1.0, "door.closed"))
    assert s.scene == "ascent" and s.overlay_names == ("chime",)


def test_tension_rises_clamps_and_decays():
    m = machine()
    s = m.initial(0.0)
    s, actions = m.step(s, ev(10.0, "motion.start"))
    assert m.tension(s, 10.0) == pytest.approx(0.25)
    assert actions == [SetVariable("tension", pytest.approx(0.25))]
    assert m.tension(s, 20.0) == pytest.approx(0.25 * math.exp(-1.0))
    for i in range(6):
        s, _ = m.step(s, ev(11.0 + i, "motion.start"))
    assert m.tension(s, 16.0) == pytest.approx(1.0)  # clamped
    # stop events and other sensors do not raise it
    s2, _ = run(m, m.initial(0.0), ev(1.0, "motion.stop"), ev(1.0, "door.closed"))
    assert m.tension(s2, 1.0) == 0.0


def test_tension_variable_sent_only_when_moved_more_than_a_hundredth():
    m = machine()
    s, _ = m.step(m.initial(0.0), ev(0.0, "motion.start"))  # 0.25, sent
    # 0.25 * exp(-t/10) drops by 0.01 after t = -10 ln(0.24/0.25) = 0.408 s
    s1, actions = m.tick(s, 0.40)
    assert actions == []
    s2, actions = m.tick(s, 0.42)
    assert actions == [SetVariable("tension", pytest.approx(0.25 * math.exp(-0.042)))]
    s3, actions = m.tick(s2, 0.80)
    assert actions == []  # 0.2397 vs 0.2303: under a hundredth since the last one sent


def test_tension_guard():
    m = machine()
    s, _ = run(m, m.initial(0.0), ev(0.0, "door.closed"))  # ascent (no motion)
    s_low, _ = run(m, s, ev(1.0, "motion.start"), ev(2.0, "door.open"))
    assert s_low.scene == "ascent"  # 0.25 * e^-0.1 is not above 0.3
    s_high, _ = run(m, s, ev(1.0, "motion.start"), ev(1.1, "motion.start"),
                    ev(2.0, "door.open"))
    assert s_high.scene == "outie"


def test_tension_sensors_listed_in_the_show():
    text = SHOW.replace("decay_s = 10", 'decay_s = 10\nsensors = ["reward"]')
    m = machine(text)
    s, _ = run(m, m.initial(0.0), ev(1.0, "motion.start"))
    assert m.tension(s, 1.0) == 0.0
    s, _ = m.step(s, ev(1.0, "reward.press"))
    assert m.tension(s, 1.0) == pytest.approx(0.25)


def test_commands():
    m = machine()
    s = m.initial(0.0)
    s, actions = m.step(s, Event(1.0, "cmd.scene", data={"scene": "innie"}))
    assert actions == [ChangeScene("outie", "innie", 3.0, "equal_power", reason="cmd.scene")]
    assert s.scene == "innie" and s.entered_at == 1.0
    s, actions = m.step(s, Event(2.0, "cmd.scene", data={"scene": "barrier"}))
    assert actions == [SetOverlay("barrier", True, 3.0)] and s.overlays[0][1] is None
    s, actions = m.step(s, Event(3.0, "cmd.scene", data={"scene": "barrier", "on": False,
                                                           "crossfade_s": 0.2}))
    assert actions == [SetOverlay("barrier", False, 0.2)] and s.overlays == ()
    # naming an overlay without "on" toggles it
    s, actions = m.step(s, Event(3.5, "cmd.scene", data={"scene": "chime"}))
    assert actions == [SetOverlay("chime", True, 3.0)] and s.overlay_names == ("chime",)
    s, actions = m.step(s, Event(3.6, "cmd.scene", data={"scene": "chime"}))
    assert actions == [SetOverlay("chime", False, 3.0)] and s.overlay_names == ()
    s, actions = m.step(s, Event(3.7, "cmd.scene", data={"scene": "chime", "on": False}))
    assert actions == []
    s, actions = m.step(s, Event(4.0, "cmd.volume", data={"db": -6}))
    assert actions == [SetVolume(-6.0)] and s.volume_db == -6.0
    s, actions = m.step(s, Event(5.0, "cmd.mute"))
    assert actions == [SetMute(True)] and s.muted
    s, actions = m.step(s, Event(6.0, "cmd.unmute"))
    assert actions == [SetMute(False)] and not s.muted


def test_trigger_is_handled_as_the_named_event():
    m = machine()
    s, actions = m.step(m.initial(0.0), Event(1.0, "cmd.trigger", data={"event": "door.closed"}))
    assert s.scene == "ascent" and s.sensor_state("door") == "closed"
    assert scene_changes(actions)[0].reason == "door.closed"


@pytest.mark.parametrize("event", [
    Event(1.0, "cmd.scene", data={"scene": "nowhere"}),
    Event(1.0, "cmd.scene", data={}),
    Event(1.0, "cmd.volume", data={"db": "loud"}),
    Event(1.0, "cmd.volume", data={"db": float("nan")}),
    Event(1.0, "cmd.trigger", data={"event": "cmd.trigger"}),
    Event(1.0, "cmd.trigger", data={"event": 5}),
    Event(1.0, "cmd.frobnicate"),
    Event(1.0, "elephant.dances"),
    Event(1.0, "nodot"),
    Event(1.0, ""),
    Event(1.0, "cmd.scene", data=None),
])
def test_unknown_or_bad_events_are_ignored(event):
    m = machine()
    s0 = m.initial(0.0)
    s, actions = m.step(s0, event)
    assert actions == [] and s.scene == "outie" and s.volume_db == 0.0


def test_volume_is_clamped():
    m = machine()
    s, actions = m.step(m.initial(0.0), Event(1.0, "cmd.volume", data={"db": 40}))
    assert actions == [SetVolume(12.0)]


def test_state_is_immutable_and_steps_do_not_touch_the_old_state():
    m = machine()
    s0 = m.initial(0.0)
    s1, _ = m.step(s0, ev(1.0, "door.closed"))
    assert s0.scene == "outie" and s1.scene == "ascent"
    with pytest.raises(Exception):
        s0.scene = "innie"


def test_same_events_give_same_actions():
    m = machine()
    events = [ev(1.0, "motion.start"), ev(2.0, "door.closed"), ev(3.0, "door.open"),
              ev(4.0, "reward.press"), ev(30.0, "motion.stop")]
    a = run(m, m.initial(0.0), *events)
    b = run(m, m.initial(0.0), *events)
    assert a == b


REACTIVE = """\
[show]
initial_scene = "office"
[tension]
rise_per_start = 0.15
rise_per_s = 0
[scenes.office.layers.stapler]
type = "cue"
recipe = "stapler"
[scenes.corridor.layers.stapler]
type = "cue"
recipe = "stapler"
[scenes.alarm]
overlay = true
[scenes.alarm.layers.bell]
type = "cue"
recipe = "elevator_bell"

[[transitions]]
from = "office"
to = "corridor"
on = "door.closed"
[[transitions]]
from = "*"
on = "reward.press"
overlay = "alarm"

[[reactions]]
from = "office"
on = "door.closed"
trigger = "stapler"
[[reactions]]
on = "motion.start"
trigger = "stapler"
if_tension_above = 0.2
[[reactions]]
from = "alarm"
on = "motion.start"
trigger = "bell"
"""


def test_a_reaction_plays_in_the_scene_the_event_happened_in():
    m = machine(REACTIVE)
    state, actions = m.step(m.initial(0.0), ev(1.0, "door.closed"))
    # The office's stapler first, then the change of scene the same event fires.
    assert not_tension(actions) == [
        Trigger("stapler", scene="office"),
        ChangeScene("office", "corridor", 3.0, "equal_power", reason="door.closed")]


def test_reaction_guards_and_overlays():
    m = machine(REACTIVE)
    state = m.initial(0.0)
    # Tension 0.15 after the first start: not above 0.2, no stapler.
    state, actions = m.step(state, ev(1.0, "motion.start"))
    assert not [a for a in actions if isinstance(a, Trigger)]
    state, _ = m.step(state, ev(2.0, "motion.stop"))
    state, _ = m.step(state, ev(3.0, "reward.press"))  # the alarm overlay comes on
    state, actions = m.step(state, ev(4.0, "motion.start"))  # tension now about 0.29
    assert [a for a in actions if isinstance(a, Trigger)] == [
        Trigger("stapler", scene="office"), Trigger("bell", scene="alarm")]
