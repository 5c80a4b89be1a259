"""Tension as smoothed motion activity: the show machine's model, exactly, and the
built-in show driven by model PIRs through the real conditioning."""

import dataclasses
import math
from pathlib import Path

import pytest

from severed.commands.common import load_inputs
from severed.config import load_show, load_show_text, load_site
from severed.config.model import Scenario, ScenarioStep
from severed.hardware.conditioning import Conditioner
from severed.hardware.pir_model import HCSR501
from severed.loop import RenderLoop
from severed.show.events import ChangeScene, Event, SetOverlay
from severed.show.machine import ShowMachine

from capture_sink import Capture

ROOT = Path(__file__).resolve().parents[2]

SHOW = """\
[show]
initial_scene = "calm"
[tension]
rise_per_start = 0.1
rise_per_s = 0.02
decay_s = 50
[scenes.calm]
[scenes.storm]
overlay = true
[[transitions]]
from = "calm"
after_s = 0
if_tension_above = 0.6
overlay = "storm"
"""


def machine(text=SHOW):
    return ShowMachine(load_show_text(text, "tension.toml"))


def ev(t, type_, **data):
    sensor = None if type_.startswith("cmd.") else type_.split(".")[0]
    return Event(t, type_, sensor, data)


def run(m, state, *events):
    for e in events:
        state, _ = m.step(state, e)
    return state


def closed_form(t, start=0.1, n=1, rate=0.02, tau=50.0):
    goal = rate * n * tau
    return min(1.0, goal + (start - goal) * math.exp(-t / tau))


def test_tension_rises_while_a_sensor_is_active_and_falls_back_after():
    m = machine()
    s = run(m, m.initial(0.0), ev(10.0, "motion.start"))
    for t in (10.0, 15.0, 30.0, 60.0):
        assert m.tension(s, t) == pytest.approx(closed_form(t - 10.0))
    s = run(m, s, ev(30.0, "motion.stop"))
    at_stop = closed_form(20.0)
    assert m.tension(s, 30.0) == pytest.approx(at_stop)
    assert m.tension(s, 80.0) == pytest.approx(at_stop * math.exp(-1.0))


def test_several_sensors_add_up_and_a_faulted_one_stops_counting():
    m = machine()
    s = run(m, m.initial(0.0), ev(0.0, "motion.start"), ev(0.0, "hall.start"))
    # two starts, then twice the rise per second
    assert m.tension(s, 10.0) == pytest.approx(closed_form(10.0, start=0.2, n=2))
    s = run(m, s, ev(10.0, "hall.fault"))
    v10 = closed_form(10.0, start=0.2, n=2)
    assert m.tension(s, 20.0) == pytest.approx(closed_form(10.0, start=v10, n=1))
    s = run(m, s, ev(20.0, "hall.recovered"))  # still active: it counts again
    v20 = closed_form(10.0, start=v10, n=1)
    assert m.tension(s, 25.0) == pytest.approx(closed_form(5.0, start=v20, n=2))


def test_it_clamps_at_one_and_a_listed_sensor_of_any_kind_counts():
    m = machine()
    s = run(m, m.initial(0.0), ev(0.0, "motion.start"))
    # goal 1.0 is reached only asymptotically; with a second sensor the clamp holds
    s = run(m, s, ev(0.0, "hall.start"))
    assert m.tension(s, 200.0) == 1.0
    door = machine(SHOW.replace("decay_s = 50", 'decay_s = 50\nsensors = ["door"]'))
    s = run(door, door.initial(0.0), ev(0.0, "motion.start"), ev(0.0, "door.closed"))
    assert door.tension(s, 5.0) == pytest.approx(closed_form(5.0))
    s = run(door, s, ev(5.0, "door.open"))
    at_open = closed_form(5.0)
    assert door.tension(s, 15.0) == pytest.approx(at_open * math.exp(-10.0 / 50.0))


def test_an_injected_start_adds_its_rise_but_no_active_time():
    m = machine()
    s = run(m, m.initial(0.0), ev(1.0, "cmd.trigger", event="motion.start"))
    assert m.tension(s, 1.0) == pytest.approx(0.1)
    assert m.tension(s, 51.0) == pytest.approx(0.1 * math.exp(-1.0))


def test_a_tension_guarded_timer_is_due_when_tension_crosses_its_bound():
    m = machine()
    s = run(m, m.initial(0.0), ev(0.0, "motion.start"))
    # 1.0 - 0.9 exp(-t/50) = 0.6  ->  t = 50 ln(0.9/0.4)
    crossing = 50.0 * math.log(0.9 / 0.4)
    due = m.next_deadline(s)
    assert due == pytest.approx(crossing, abs=1e-5)
    s1, actions = m.tick(s, due - 1e-3)
    assert not [a for a in actions if isinstance(a, SetOverlay)]
    s2, actions = m.tick(s1, due)
    assert SetOverlay("storm", True, 3.0) in actions
    # once fired it is not due again in this visit; a calm room has nothing due
    assert m.next_deadline(s2) is None
    calm = run(m, m.initial(0.0), ev(0.0, "motion.start"), ev(5.0, "motion.stop"))
    assert m.next_deadline(calm) == 0.0  # its time has come; tension never will


# ------------------------------------------------------------ the built-in show

SITE = load_site(ROOT / "installation" / "severed.toml")
# The installation's PIR conditioning (debounce 0.1 s, merge 3 s), already warmed up.
SPECS = [dataclasses.replace(s, warmup_s=0.0) for s in SITE.sensors]
HALL = dataclasses.replace(next(s for s in SPECS if s.name == "motion"), name="hall", pin=24)


def visit(moves, mode, hold_s=3.0, door=(), hall_moves=None, until=80.0, show=None):
    """The lumon show (or ``show``) driven by model HC-SR501s through the real
    conditioning: the booth PIR sees ``moves``, an optional hall PIR ``hall_moves``;
    ``door`` is [(t, level)]. Returns (tension every 0.05 s as (t, value), scene and
    overlay changes as (t, action)). benchmarks/tension_figures.py prints its figures."""
    m = ShowMachine(show or load_show("lumon"))
    state = m.initial(0.0)
    specs = SPECS + ([HALL] if hall_moves is not None else [])
    cond = Conditioner(specs, 0.0)
    pir = HCSR501(mode, hold_s)
    edges = [(t, "motion", level) for t, level in pir.edges(moves)]
    edges += [(t, "hall", level) for t, level in pir.edges(hall_moves or [])]
    edges += [(t, "door", level) for t, level in door]
    edges.sort()
    trace, changes = [], []

    def apply(result):
        nonlocal state
        state, actions = result
        changes.extend((t, a) for a in actions if isinstance(a, (ChangeScene, SetOverlay)))

    i = 0
    for k in range(int(until / 0.05) + 1):
        t = k * 0.05
        events = []
        while i < len(edges) and edges[i][0] <= t:
            events += cond.edge(*edges[i])
            i += 1
        events += cond.poll(t)
        for e in events:
            apply(m.step(state, e))
        apply(m.tick(state, t))
        trace.append((t, m.tension(state, t)))
    return trace, changes


# Outside, a visitor steps in (moving 2-6 s), the door closes at 8 s: the ride down,
# the floor from 18 s. Then what the visitor does there, and the door closing at 70 s.
ARRIVE = [(2.0, 6.0)]
DOOR = [(8.0, 1), (66.0, 0), (70.0, 1)]


def peak(trace, start, stop):
    return max(v for t, v in trace if start <= t <= stop)


@pytest.mark.parametrize("mode", ["retrigger", "single"])
def test_pacing_non_stop_for_40_s_brings_the_barrier_and_the_testing_floor(mode):
    trace, changes = visit(ARRIVE + [(25.0, 65.0)], mode, door=DOOR)
    barrier = [t for t, a in changes if a == SetOverlay("barrier", True, 0.5)]
    assert barrier and 25.0 < barrier[0] < 65.0, changes
    down = [a.to for t, a in changes if isinstance(a, ChangeScene) and t >= 70.0]
    assert down[0] == "testing_floor"
    assert peak(trace, 25.0, 70.0) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("mode", ["retrigger", "single"])
def test_a_single_pass_does_not(mode):
    trace, changes = visit(ARRIVE + [(30.0, 33.0)], mode, door=DOOR)
    assert not [a for t, a in changes if isinstance(a, SetOverlay) and a.name == "barrier"]
    up = [a.to for t, a in changes if isinstance(a, ChangeScene) and t >= 70.0]
    assert up[0] == "ascent"
    assert peak(trace, 25.0, 70.0) < 0.65


@pytest.mark.parametrize("mode", ["retrigger", "single"])
def test_booth_and_hall_add_up(mode):
    alone, _ = visit(ARRIVE + [(30.0, 33.0)], mode, door=DOOR)
    both, _ = visit(ARRIVE + [(30.0, 33.0)], mode, door=DOOR,
                          hall_moves=[(30.0, 33.0)])
    # the hall's own start and seconds of activity come on top
    assert peak(both, 25.0, 70.0) > peak(alone, 25.0, 70.0) + 0.15


@pytest.mark.parametrize("block", [2048, 333])
def test_the_barrier_comes_on_the_same_sample_at_any_block_size(block):
    """The render loop splits a block where tension crosses a timer's guard."""
    show = load_show_text("""
[show]
initial_scene = "floor"
[tension]
rise_per_start = 0.1
rise_per_s = 0.05
decay_s = 60
[scenes.floor]
[scenes.barrier]
overlay = true
[[transitions]]
from = "floor"
after_s = 0
if_tension_above = 0.85
overlay = "barrier"
""", "floor.toml")
    steps = tuple(ScenarioStep(at_s=t, sensor="motion", level=level)
                  for t, level in HCSR501("retrigger").edges([(1.0, 40.0)]))
    loop = RenderLoop(show, dataclasses.replace(SITE, sensors=tuple(SPECS)), Capture(),
                      scenario=Scenario(path=None, duration_s=30.0, steps=steps),
                      block_frames=block)
    loop.run(seconds=30.0)
    on = [r["t"] for r in loop.event_log.recent if r["type"] == "overlay"]
    start = 1.0 + 0.1  # the debounced start
    # 1 - 0.1 e^{-x} ... : goal 3, from 0.1: 3 - 2.9 exp(-dt/60) = 0.85
    expected = start + 60.0 * math.log(2.9 / 2.15)
    assert on == [pytest.approx(expected, abs=1.5 / 48000)]


def test_a_reload_keeps_the_tension_and_the_sensors_that_drive_it():
    show = load_show_text(SHOW, "tension.toml")
    site = dataclasses.replace(SITE, sensors=tuple(SPECS))
    steps = (ScenarioStep(at_s=0.5, sensor="motion", level=1),)
    loop = RenderLoop(show, site, Capture(), block_frames=1024,
                      scenario=Scenario(path=None, duration_s=20.0, steps=steps))
    loop.run(seconds=5.0)
    before = loop.machine.tension(loop.state, loop.t)
    assert before > 0.15 and loop.state.tension_active == {"motion"}
    loop.request_reload(site, show)
    loop.run(seconds=5.0 + 1024 / 48000)
    assert loop.state.tension_active == {"motion"}  # still moving: still counting
    assert loop.machine.tension(loop.state, loop.t) == pytest.approx(before, abs=0.01)


def test_the_example_visit_moves_the_floor_without_agitating_it():
    """examples/visit.toml (the README's render): five short movements on the floor
    raise tension well above rest but not to the barrier, and the ride up at 62 s
    stays a ride up."""
    site, show, scenario = load_inputs(None, None, str(ROOT / "examples" / "visit.toml"))
    m = ShowMachine(show)
    state = m.initial(0.0)
    cond = Conditioner(site.sensors, 0.0)
    steps = [s for s in scenario.steps if s.sensor]
    changes, i, peak_t = [], 0, 0.0
    for k in range(int(70.0 / 0.05)):
        t = k * 0.05
        events = []
        while i < len(steps) and steps[i].at_s <= t:
            events += cond.edge(steps[i].at_s, steps[i].sensor, steps[i].level)
            i += 1
        for e in events + cond.poll(t):
            state, actions = m.step(state, e)
            changes += [(e.t, a) for a in actions if isinstance(a, (ChangeScene, SetOverlay))]
        state, actions = m.tick(state, t)
        changes += [(t, a) for a in actions if isinstance(a, (ChangeScene, SetOverlay))]
        peak_t = max(peak_t, m.tension(state, t)) if t < 62.0 else peak_t
        if t == pytest.approx(62.0):
            at_door = m.tension(state, t)
    assert 0.5 < peak_t < 0.8 and at_door < 0.7
    assert [a.name for t, a in changes if isinstance(a, SetOverlay) and a.on] == ["barrier"]
    assert [t for t, a in changes if isinstance(a, SetOverlay) and a.on][0] >= 66.0
    assert [a.to for t, a in changes if isinstance(a, ChangeScene) and 61 < t < 63] == \
        ["ascent"]
