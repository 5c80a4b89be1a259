"""A reload through the live render loop applies the new sensor settings at a block
boundary, on the render thread, and the show keeps what it knew about the sensors.

Edges come from gpiozero's MockFactory pins through a SensorBank, stamped by a manual
clock that moves one block (10 ms) per rendered block, so times are exact."""

import dataclasses

import pytest
from gpiozero import Device

from severed.config import load_show_text
from severed.config.model import AudioConfig, SensorSpec, SiteConfig
from severed.hardware.sensors import SensorBank
from severed.hardware.sinks import NullSink
from severed.loop import RenderLoop
from severed.show import events as ev

from lift_show import lift_show

SR = 48000
BLOCK = 480  # 10 ms: the resolution of the timings measured here

SHOW = lift_show("""
[[transitions]]
from = "up"
to = "down"
on = "reward.press"
if_sensor = { door = "closed" }
crossfade_s = 0.1
[[transitions]]
from = "up"
to = "lobby"
on = "reward.press"
crossfade_s = 0.1
""", more_scenes="""
[scenes.lobby.layers.t]
type = "tone"
freq_hz = 330
gain_db = -40
""")

DOOR = SensorSpec("door", "door", 17)  # debounce 0.05 s, as a door has by default
MOTION = SensorSpec("motion", "pir", 27, pull="down", active_state="high", debounce_s=0.1)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def site_with(*sensors):
    return SiteConfig(name="test", audio=AudioConfig(device="null", block_frames=BLOCK),
                      sensors=tuple(sensors))


@pytest.fixture
def rig():
    Device.pin_factory = None
    clock = Clock()
    show = load_show_text(SHOW, "lift.toml")
    site = site_with(DOOR, MOTION)
    loop = RenderLoop(show, site, NullSink(), live=True, clock=clock, block_frames=BLOCK)
    bank = SensorBank(site.sensors, pin_factory="mock", on_edge=loop.post_edge, clock=clock)
    loop.set_sensor_levels(bank.levels())
    yield loop, bank, clock, show
    bank.close()


def step(loop, clock, blocks=1):
    for _ in range(blocks):
        clock.now += BLOCK / SR
        loop.render_block()


def door_records(loop):
    return [r["state"] for r in loop.event_log.recent
            if r["type"] == "sensor" and r["sensor"] == "door"]


def delay_until_door(loop, clock, state, limit=100):
    """Render block by block; the clock's seconds from now until the block that first
    logs the door's ``state`` record."""
    seen = door_records(loop).count(state)
    t0 = clock.now
    for _ in range(limit):
        step(loop, clock)
        if door_records(loop).count(state) > seen:
            return clock.now - t0
    raise AssertionError(f"no door {state} within {limit} blocks")


def debounced_after(delay_s, debounce_s):
    """The record came in the first block that polled at or after the debounce."""
    return debounce_s - 1e-9 <= delay_s <= debounce_s + BLOCK / SR + 1e-9


def test_debounce_changed_by_reload_takes_effect_on_the_next_edge(rig):
    loop, bank, clock, show = rig
    bank.drive("door", 1)
    assert debounced_after(delay_until_door(loop, clock, "closed"), 0.05)
    loop.request_reload(site_with(dataclasses.replace(DOOR, debounce_s=0.2), MOTION), show)
    step(loop, clock)  # the swap happens at this block's start
    assert loop.conditioner.specs[0].debounce_s == 0.2
    assert door_records(loop) == ["closed"]  # the reload reported nothing anew
    bank.drive("door", 0)
    delay = delay_until_door(loop, clock, "open")
    assert debounced_after(delay, 0.2), delay  # 0.2 s, no longer 0.05 s
    # A 0.1 s blip now is a bounce, no longer a door.
    bank.drive("door", 1)
    step(loop, clock, 10)
    bank.drive("door", 0)
    step(loop, clock, 30)
    assert door_records(loop) == ["closed", "open"]


def test_a_door_closed_before_the_reload_stays_closed_for_the_show(rig):
    loop, bank, clock, show = rig
    bank.drive("door", 1)
    step(loop, clock, 10)
    loop.post(ev.Event(0.0, "cmd.volume", data={"db": -12.0}))
    step(loop, clock)
    loop.request_reload(site_with(dataclasses.replace(DOOR, hold_s=2.0, debounce_s=0.1),
                                  MOTION), show)
    step(loop, clock, 50)
    assert door_records(loop) == ["closed"]
    assert [r["type"] for r in loop.event_log.recent].count("reload") == 1
    assert loop.status()["sensors"] == {"door": "active", "motion": "inactive"}
    assert loop.state.sensor_state("door") == "closed"
    # The show's guard still sees the door closed: "go" takes the lift down.
    loop.post(ev.Event(0.0, "cmd.trigger", data={"event": "reward.press"}))
    step(loop, clock)
    assert loop.state.scene == "down"
    # The technician's volume outlived the reload (the new engine starts at it).
    assert loop.engine.master.volume_db == -12.0


def test_without_the_door_in_the_new_config_the_guard_no_longer_holds(rig):
    loop, bank, clock, show = rig
    bank.drive("door", 1)
    step(loop, clock, 10)
    loop.request_reload(site_with(MOTION), show)
    step(loop, clock)
    assert loop.status()["sensors"] == {"motion": "inactive"}
    # The old device still sends edges until the daemon closes it: ignored, no crash.
    bank.drive("door", 0)
    step(loop, clock, 10)
    assert door_records(loop) == ["closed"]
    loop.post(ev.Event(0.0, "cmd.trigger", data={"event": "reward.press"}))
    step(loop, clock)
    assert loop.state.scene == "lobby"


def test_a_sensor_added_by_reload_warms_up_and_then_counts(rig):
    loop, bank, clock, show = rig
    hall = SensorSpec("hall", "pir", 22, pull="down", active_state="high",
                      debounce_s=0.1, warmup_s=1.0)
    loop.request_reload(site_with(DOOR, MOTION, hall), show)
    step(loop, clock)
    assert loop.status()["sensors"]["hall"] == "warming"
    new_bank = SensorBank([hall], pin_factory="mock", on_edge=loop.post_edge, clock=clock)
    try:
        loop.post_levels(new_bank.levels())
        new_bank.drive("hall", 1)
        step(loop, clock, 50)  # 0.5 s: still warming, the edge is ignored
        assert loop.status()["sensors"]["hall"] == "warming"
        step(loop, clock, 60)  # warm-up over (1 s after the swap): the level is adopted
        assert loop.status()["sensors"]["hall"] == "active"
        starts = [r for r in loop.event_log.recent
                  if r["type"] == "sensor" and r["sensor"] == "hall"]
        assert [r["state"] for r in starts] == ["start"]
    finally:
        new_bank.close()


def test_levels_of_reopened_pins_are_adopted_as_edges(rig):
    loop, bank, clock, show = rig
    bank.drive("door", 1)
    step(loop, clock, 10)
    # The same level from a reopened pin is no change; a different one is an edge.
    loop.post_levels({"door": 1, "gone": 1})
    step(loop, clock, 10)
    assert door_records(loop) == ["closed"]
    loop.post_levels({"door": 0})
    assert debounced_after(delay_until_door(loop, clock, "open"), 0.05)


def test_request_sensors_keeps_the_show_and_retunes_conditioning(rig):
    loop, bank, clock, show = rig
    bank.drive("door", 1)
    step(loop, clock, 10)
    loop.request_sensors([dataclasses.replace(DOOR, debounce_s=0.3)])
    step(loop, clock)
    assert loop.site.sensors == (dataclasses.replace(DOOR, debounce_s=0.3),)
    assert [r["type"] for r in loop.event_log.recent].count("reload") == 0
    bank.drive("door", 0)
    assert debounced_after(delay_until_door(loop, clock, "open"), 0.3)
