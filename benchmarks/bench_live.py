#!/usr/bin/env python3
"""Benchmark: the live loop in real time: sensor-to-sound latency and underruns.

A model of a sound card stands in for the DAC: it starts playing once
``render_ahead_blocks`` blocks are queued and then takes one block per block period;
a block that arrives after the moment it should start playing is an underrun (what
the DAC would have played is silence). ``write`` blocks while the queue is full, as
PortAudio's does, which paces the render loop.

1. Latency: a mock door pin is driven (the edge is stamped by gpiozero's callback, as on
   a Pi) under a two-scene show whose scene follows the door; measured are the time
   until the block that carries the scene change is handed to the device, and the time
   until that block starts to play (queue included). The door's debounce is set to 0
   here so that the figure is the loop's own; add the site's debounce_s (50 ms by
   default) for the whole delay.
2. Soak: the built-in show plays for N minutes with simulated visitors, while another
   process keeps the other core busy; underruns and the slowest block are reported.

    python benchmarks/bench_live.py [--minutes 10] [--trials 20] [--show lumon]
"""

import argparse
import dataclasses
import multiprocessing
import os
import statistics
import threading
import time

from severed.commands.common import load_inputs
from severed.config import load_show_text
from severed.loop import RenderLoop
from severed.hardware.sensors import SensorBank


class ModelDevice:
    """A sound card's timing: see the module docstring."""

    def __init__(self, sample_rate, block_frames, ahead_blocks):
        self.period = block_frames / sample_rate
        self.ahead = ahead_blocks
        self.start = None  # when the first block started to play
        self.count = 0
        self.underruns = 0
        self.worst_late_s = 0.0
        self.write_times = []

    def play_time(self, index):
        return self.start + index * self.period

    def write(self, block):
        now = time.monotonic()
        self.write_times.append(now)
        index = self.count
        self.count += 1
        if self.start is None:
            if index + 1 >= self.ahead:
                self.start = now  # the queue is full: playback starts
            return
        late = now - self.play_time(index)
        if late > 0:
            self.underruns += 1
            self.worst_late_s = max(self.worst_late_s, late)
            # The card played silence; the schedule slips by the gap.
            self.start += late
        # Block while the queue holds `ahead` blocks not yet played.
        wait = self.play_time(index - self.ahead + 1) - now
        if wait > 0:
            time.sleep(wait)


def busy():
    try:
        os.sched_setaffinity(0, {1})
    except (AttributeError, OSError):
        pass
    while True:
        pass


DOOR_SHOW = """
[show]
name = "door follower"
initial_scene = "open"
[scenes.open.layers.t]
type = "tone"
freq_hz = 220
gain_db = -30
[scenes.closed.layers.t]
type = "tone"
freq_hz = 330
gain_db = -30
[[transitions]]
from = "open"
to = "closed"
on = "door.closed"
crossfade_s = 0.05
[[transitions]]
from = "closed"
to = "open"
on = "door.open"
crossfade_s = 0.05
"""


def live_loop(show_name):
    if show_name == "door follower":
        site, _, _ = load_inputs()
        show = load_show_text(DOOR_SHOW, "door-follower.toml")
    else:
        site, show, _ = load_inputs(None, show_name)
    door = [s for s in site.sensors if s.kind == "door"]
    sensors = tuple(dataclasses.replace(s, debounce_s=0.0) if s.kind == "door" else s
                    for s in site.sensors)
    site = dataclasses.replace(site, sensors=sensors)
    audio = site.audio
    device = ModelDevice(audio.sample_rate, audio.block_frames, audio.render_ahead_blocks)
    loop = RenderLoop(show, site, device, seed=1, live=True)
    bank = SensorBank(site.sensors, pin_factory="mock", on_edge=loop.post_edge,
                      clock=loop.clock)
    loop.set_sensor_levels(bank.levels())
    return loop, bank, device, door[0].name if door else None


def measure_latency(show_name, trials):
    loop, bank, device, door = live_loop(show_name)
    stop = threading.Event()
    changes = []  # (block index that first carries a new scene, monotonic at render)
    last = [loop.state.scene]

    def tap(block):
        if loop.state.scene != last[0]:
            last[0] = loop.state.scene
            changes.append(device.count)  # index of the block about to be written

    loop.add_tap(tap)
    thread = threading.Thread(target=loop.run, kwargs={"stop": stop}, daemon=True)
    thread.start()
    time.sleep(1.0)
    to_device, to_sound = [], []
    level = 0
    for _ in range(trials):
        time.sleep(0.2)
        level = 1 - level
        seen = len(changes)
        t_edge = time.monotonic()
        bank.drive(door, level)
        deadline = t_edge + 2.0
        while len(changes) == seen and time.monotonic() < deadline:
            time.sleep(0.001)
        if len(changes) > seen:
            index = changes[seen]
            while device.count <= index:
                time.sleep(0.001)
            to_device.append(device.write_times[index] - t_edge)
            to_sound.append(device.play_time(index) - t_edge)
        time.sleep(0.3)
    stop.set()
    thread.join()
    bank.close()
    return to_device, to_sound, device


def soak(show_name, minutes):
    loop, bank, device, door = live_loop(show_name)
    burner = multiprocessing.Process(target=busy, daemon=True)
    burner.start()
    try:
        os.sched_setaffinity(0, {0})
    except (AttributeError, OSError):
        pass
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, kwargs={"stop": stop}, daemon=True)
    thread.start()
    end = time.monotonic() + minutes * 60
    # A visitor every 40 s: motion, the door closes, opens after the ride, and so on.
    while time.monotonic() < end:
        for name, level, pause in (("motion", 1, 2), (door, 1, 15), (door, 0, 5),
                                   ("motion", 0, 10), ("reward", 1, 0.3), ("reward", 0, 8)):
            if time.monotonic() >= end:
                break
            bank.drive(name, level)
            time.sleep(pause)
    stop.set()
    thread.join()
    burner.terminate()
    bank.close()
    return loop, device


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--show", default="lumon")
    args = ap.parse_args()
    to_device, to_sound, device = measure_latency("door follower", args.trials)
    period_ms = device.period * 1000
    print(f"block {period_ms:.1f} ms, {device.ahead} blocks rendered ahead "
          f"(bound: one block + render-ahead = {period_ms * (1 + device.ahead):.0f} ms)")
    if to_device:
        ms = [x * 1000 for x in to_sound]
        print(f"  door edge -> block handed to the device: median "
              f"{statistics.median(to_device) * 1000:.1f} ms, max {max(to_device) * 1000:.1f} ms")
        print(f"  door edge -> that block starts to play: median {statistics.median(ms):.1f} ms, "
              f"max {max(ms):.1f} ms ({len(ms)} of {args.trials} trials)")
    loop, device = soak(args.show, args.minutes)
    print(f"  soak {args.minutes:g} min with the other core busy: {device.underruns} underruns, "
          f"slowest block {loop.render_s_max * 1000:.2f} ms "
          f"({loop.render_s_max / device.period:.1%} of the block period), "
          f"{loop.blocks_rendered} blocks")


if __name__ == "__main__":
    main()
