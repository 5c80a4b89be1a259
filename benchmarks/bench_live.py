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
   until that block starts to play (queue included): door edge to sound, all in. The
   door is conditioned as the site says (the dev site: first_edge, which reports the
   first contact at once; a "stable" debounce adds its debounce_s). The sound card's
   own buffer (PortAudio's output latency, a few ms) comes on top on real hardware.
2. Soak: the built-in show plays for N minutes with simulated visitors, while another
   process keeps the other core busy; underruns and the slowest block are reported.

The render thread runs as the daemon's does: at SCHED_FIFO priority where the system
allows it (root, or LimitRTPRIO), reading the site's precompute cache, with the
objects built before it plays frozen out of the garbage collector's reach. The slowest
block is given in wall time (what the device waits for) and in the render thread's CPU
time (what the engine costs): a wall time far above the CPU time is the thread waiting
for a core, not the engine.

    python benchmarks/bench_live.py [--minutes 10] [--trials 20] [--show lumon]
        [--block FRAMES] [--ahead BLOCKS]     # default: the dev site's [audio]
"""

import argparse
import dataclasses
import gc
import multiprocessing
import os
import statistics
import threading
import time

from severed.commands.common import load_inputs
from severed.config import load_show_text
from severed.hardware.sensors import SensorBank
from severed.loop import RenderLoop
from severed.precompute.cache import Cache
from severed.service.realtime import try_realtime


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


def run_like_the_daemon(loop, stop):
    """The render thread's body in the daemon: real-time priority where allowed."""
    try_realtime()
    loop.run(stop=stop)


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


def live_loop(show_name, block=None, ahead=None):
    if show_name == "door follower":
        site, _, _ = load_inputs()
        show = load_show_text(DOOR_SHOW, "door-follower.toml")
    else:
        site, show, _ = load_inputs(None, show_name)
    door = [s for s in site.sensors if s.kind == "door"]
    audio = dataclasses.replace(site.audio, block_frames=block or site.audio.block_frames,
                                render_ahead_blocks=ahead or site.audio.render_ahead_blocks)
    site = dataclasses.replace(site, audio=audio)
    device = ModelDevice(audio.sample_rate, audio.block_frames, audio.render_ahead_blocks)
    loop = RenderLoop(show, site, device, seed=1, live=True, cache=Cache.for_site(site))
    loop.block_cpu = []  # thread CPU seconds of each block rendered
    render_block = loop.render_block

    def timed(*args, **kwargs):
        c0 = time.thread_time()
        try:
            return render_block(*args, **kwargs)
        finally:
            loop.block_cpu.append(time.thread_time() - c0)
    loop.render_block = timed
    bank = SensorBank(site.sensors, pin_factory="mock", on_edge=loop.post_edge,
                      clock=loop.clock)
    loop.set_sensor_levels(bank.levels())
    gc.freeze()  # as the daemon does once it plays: no full collection walks the engine
    return loop, bank, device, door[0].name if door else None


def measure_latency(show_name, trials, block=None, ahead=None):
    loop, bank, device, door = live_loop(show_name, block, ahead)
    stop = threading.Event()
    changes = []  # (block index that first carries a new scene, monotonic at render)
    last = [loop.state.scene]

    def tap(block):
        if loop.state.scene != last[0]:
            last[0] = loop.state.scene
            changes.append(device.count)  # index of the block about to be written

    loop.add_tap(tap)
    thread = threading.Thread(target=run_like_the_daemon, args=(loop, stop), daemon=True)
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


def soak(show_name, minutes, block=None, ahead=None):
    loop, bank, device, door = live_loop(show_name, block, ahead)
    burner = multiprocessing.Process(target=busy, daemon=True)
    burner.start()
    try:
        os.sched_setaffinity(0, {0})
    except (AttributeError, OSError):
        pass
    stop = threading.Event()
    thread = threading.Thread(target=run_like_the_daemon, args=(loop, stop), daemon=True)
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
    ap.add_argument("--block", type=int, help="block_frames (default: the dev site's)")
    ap.add_argument("--ahead", type=int, help="render_ahead_blocks (default: the dev site's)")
    args = ap.parse_args()
    to_device, to_sound, device = measure_latency("door follower", args.trials, args.block,
                                                  args.ahead)
    period_ms = device.period * 1000
    print(f"block {period_ms:.1f} ms, "
          f"{device.ahead} blocks rendered ahead (bound: (1 + render-ahead) blocks = "
          f"{period_ms * (1 + device.ahead):.1f} ms)")
    if to_device:
        ms = [x * 1000 for x in to_sound]
        print(f"  door edge -> block handed to the device: median "
              f"{statistics.median(to_device) * 1000:.1f} ms, max {max(to_device) * 1000:.1f} ms")
        print(f"  door edge -> that block starts to play: median {statistics.median(ms):.1f} ms, "
              f"max {max(ms):.1f} ms ({len(ms)} of {args.trials} trials)")
    if args.minutes <= 0:
        return
    loop, device = soak(args.show, args.minutes, args.block, args.ahead)
    cpu = sorted(loop.block_cpu)
    print(f"  soak {args.minutes:g} min with the other core busy: {device.underruns} underruns "
          f"(worst {device.worst_late_s * 1000:.1f} ms late), {loop.blocks_rendered} blocks; "
          f"slowest block {loop.render_s_max * 1000:.2f} ms wall "
          f"({loop.render_s_max / device.period:.0%} of the block period), render thread "
          f"CPU per block: p99 {cpu[int(0.99 * (len(cpu) - 1))] * 1000:.2f} ms, "
          f"max {cpu[-1] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
