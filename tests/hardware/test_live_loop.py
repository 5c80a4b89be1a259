"""Mock GPIO pins through gpiozero into the live render loop: the event log shows the
conditioned sensor events and the scene changes they cause. A manual clock stands in
for time, so bounce storms and timeouts are exact and the test never sleeps."""

import dataclasses

import pytest
from gpiozero import Device

from severed.commands.common import load_inputs
from severed.config import load_show_text
from severed.hardware.sensors import SensorBank
from severed.hardware.sinks import NullSink
from severed.loop import RenderLoop

from lift_show import lift_show

SHOW = lift_show("""
[[transitions]]
from = "up"
to = "down"
on = "door.closed"
if_motion_within_s = 30
crossfade_s = 0.1
[[transitions]]
from = "down"
to = "up"
on = "door.open"
crossfade_s = 0.1
""")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def rig(request):
    overrides = getattr(request, "param", {})
    site, _, _ = load_inputs()
    sensors = tuple(dataclasses.replace(s, **overrides.get(s.name, {})) for s in site.sensors)
    site = dataclasses.replace(site, sensors=sensors)
    clock = Clock()
    loop = RenderLoop(load_show_text(SHOW, "lift.toml"), site, NullSink(), live=True,
                      clock=clock)
    bank = SensorBank(site.sensors, pin_factory="mock", on_edge=loop.post_edge, clock=clock)
    loop.set_sensor_levels(bank.levels())
    yield loop, bank, clock
    bank.close()
    Device.pin_factory = None


def advance(loop, clock, seconds):
    """Render blocks while the clock moves on, as in real time."""
    period = loop.block_frames / loop.sample_rate
    for _ in range(max(1, round(seconds / period))):
        clock.now += period
        loop.render_block()


def records(loop, kind):
    return [r for r in loop.event_log.recent if r["type"] == kind]


def test_door_with_motion_changes_scene_and_bounce_is_one_event(rig):
    loop, bank, clock = rig
    bank.drive("motion", 1)
    advance(loop, clock, 0.5)
    # A reed switch bouncing as the door shuts: 8 changes 2 ms apart, ending closed
    # (one burst to the flap rule: only chatter that lasts longer than debounce_s
    # counts more than once).
    for _ in range(4):
        bank.drive("door", 1)
        clock.now += 0.002
        bank.drive("door", 0)
        clock.now += 0.002
    bank.drive("door", 1)
    advance(loop, clock, 0.5)
    doors = [r["state"] for r in records(loop, "sensor") if r["sensor"] == "door"]
    assert doors == ["closed"]
    assert [r["to"] for r in records(loop, "scene")] == ["down"]
    bank.drive("door", 0)
    advance(loop, clock, 0.5)
    assert [r["to"] for r in records(loop, "scene")] == ["down", "up"]
    assert loop.status()["scene"] == "up"


def test_door_without_motion_does_not_descend(rig):
    loop, bank, clock = rig
    bank.drive("door", 1)
    advance(loop, clock, 0.5)
    assert records(loop, "scene") == []


@pytest.mark.parametrize("rig", [{"motion": {"warmup_s": 60.0}}], indirect=True)
def test_pir_is_ignored_while_it_warms_up(rig):
    loop, bank, clock = rig
    bank.drive("motion", 1)
    advance(loop, clock, 1.0)
    bank.drive("door", 1)
    advance(loop, clock, 1.0)
    assert records(loop, "scene") == []  # motion during warm-up does not count
    bank.drive("door", 0)
    bank.drive("motion", 0)
    advance(loop, clock, 60.0)
    bank.drive("motion", 1)
    advance(loop, clock, 0.5)
    bank.drive("door", 1)
    advance(loop, clock, 0.5)
    assert [r["to"] for r in records(loop, "scene")] == ["down"]


def test_flapping_door_is_quarantined_and_the_sound_goes_on(rig):
    loop, bank, clock = rig
    spec = bank.spec("door")
    for _ in range(spec.flap_limit + 5):  # slower than the debounce, faster than a person
        bank.drive("door", 1)
        advance(loop, clock, 0.1)
        bank.drive("door", 0)
        advance(loop, clock, 0.1)
    faults = records(loop, "fault")
    assert faults and faults[0]["sensor"] == "door" and faults[0]["reason"] == "flapping"
    assert loop.status()["sensors"]["door"] == "quarantined"
    before = loop.blocks_rendered
    advance(loop, clock, 1.0)
    assert loop.blocks_rendered > before and loop.peak_dbfs > -60


@pytest.mark.parametrize("rig", [{"door": {"stuck_after_s": 5.0}}], indirect=True)
def test_stuck_door_is_a_fault_then_recovers(rig):
    loop, bank, clock = rig
    bank.drive("door", 1)
    advance(loop, clock, 6.0)
    faults = records(loop, "fault")
    assert [(f["sensor"], f["state"], f.get("reason")) for f in faults] == [
        ("door", "fault", "stuck")]
    bank.drive("door", 0)
    advance(loop, clock, 0.5)
    assert records(loop, "fault")[-1]["state"] == "recovered"
