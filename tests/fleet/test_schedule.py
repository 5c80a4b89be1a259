"""A group's scene change on the sample clock: wall-clock times become frames through
the output latency, the change lands on its frame, and the gate holds what the group
decides. Offline render loops with a wall clock the test drives; no broker."""

import math

import numpy as np

from capture_sink import Capture
from severed.config import load_show_text
from severed.config.model import AudioConfig, SiteConfig
from severed.fleet.clock import OutputClock, output_latency_s
from severed.hardware.sinks import NullSink
from severed.loop import RenderLoop
from severed.show.events import Event

RATE = 48000
BLOCK = 1024
LATENCY_S = 0.1
EPOCH = 1_800_000_000.0  # wall-clock time of frame 0 leaving the loop

SHOW = """
[show]
name = "two"
initial_scene = "soft"
crossfade_s = 0.0
[scenes.soft.layers.t]
type = "tone"
freq_hz = 440
gain_db = -60
[scenes.loud.layers.t]
type = "tone"
freq_hz = 440
gain_db = -12
[[transitions]]
from = "soft"
to = "loud"
on = "door.closed"
"""


def rms_db(x):
    return 20 * math.log10(max(float(np.sqrt(np.mean(np.square(x)))), 1e-9))


def make_loop():
    show = load_show_text(SHOW, "two.toml")
    site = SiteConfig(audio=AudioConfig(sample_rate=RATE, block_frames=BLOCK, device="null"))
    sink = Capture()
    loop = RenderLoop(show, site, sink, block_frames=BLOCK)
    # A sink paced exactly in real time: the write of frame n returns at EPOCH + n/RATE.
    loop.output_clock = OutputClock(RATE, LATENCY_S, wall=lambda: EPOCH + loop.t)
    return loop, sink


def test_output_clock_keeps_the_earliest_offset_and_inverts():
    now = [100.0]
    clock = OutputClock(48000, 0.25, wall=lambda: now[0], window=4)
    for frames, late_s in ((4800, 0.003), (9600, 0.0), (14400, 0.010)):
        now[0] = 100.0 + frames / 48000 + late_s
        clock.wrote(frames)
    # Frame 0 is heard at 100.25 s: the late wake-ups do not move it.
    assert math.isclose(clock.offset_s, 100.25, abs_tol=1e-9)
    assert clock.frame_at(101.25) == 48000
    assert math.isclose(clock.wall_at(48000), 101.25)


def test_latency_of_the_sinks():
    assert output_latency_s(NullSink(48000, realtime=True)) == 0.1  # the pacer's lead
    assert output_latency_s(NullSink(48000)) == 0.0

    class PyAudioLike:
        render_ahead_blocks, block_frames, sample_rate = 3, 2048, 48000

        class _stream:
            @staticmethod
            def get_output_latency():
                return 0.02

    assert math.isclose(output_latency_s(PyAudioLike()), 3 * 2048 / 48000 + 0.02)


def test_a_scheduled_change_starts_on_its_frame():
    loop, sink = make_loop()
    loop.render_block()
    target = 37_777  # not on a block boundary
    loop.schedule_scene(EPOCH + LATENCY_S + target / RATE, "loud", reason="door.closed",
                        leader="lift")
    for _ in range(60):
        loop.render_block()
    audio = sink.audio()[:, 0]
    assert rms_db(audio[target - 2000:target - 8]) < -55
    assert rms_db(audio[target + 8:target + 2000]) > -20
    record = next(r for r in loop.event_log.recent if r["type"] == "scene")
    assert record["to"] == "loud" and record["t"] == round(target / RATE, 6)
    assert record["leader"] == "lift" and record["reason"] == "door.closed"
    assert math.isclose(record["heard_at"], EPOCH + LATENCY_S + target / RATE, abs_tol=1e-6)
    assert "late_ms" not in record


def test_a_change_whose_time_has_passed_starts_at_once_and_says_how_late():
    loop, _ = make_loop()
    for _ in range(10):
        loop.render_block()
    loop.schedule_scene(EPOCH + LATENCY_S + 5 * BLOCK / RATE, "loud")
    loop.render_block()
    record = next(r for r in loop.event_log.recent if r["type"] == "scene")
    assert record["t"] == round(10 * BLOCK / RATE, 6)
    assert record["late_ms"] == round(5 * BLOCK / RATE * 1000, 1)


def test_the_gate_holds_the_machines_changes_for_the_group():
    loop, _ = make_loop()
    asked = []
    loop.scene_gate = lambda change, t: asked.append(change) and False

    loop.post(Event(0.0, "cmd.trigger", data={"event": "door.closed"}))
    loop.render_block()
    assert [c.to for c in asked] == ["loud"] and asked[0].reason == "door.closed"
    assert loop.state.scene == "soft" and loop.status()["scene"] == "soft"
    assert not [r for r in loop.event_log.recent if r["type"] == "scene"]
    # Open, it lets the next one through.
    loop.scene_gate = lambda change, t: True
    loop.post(Event(0.0, "cmd.trigger", data={"event": "door.closed"}))
    loop.render_block()
    assert loop.state.scene == "loud"
