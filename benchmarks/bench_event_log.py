#!/usr/bin/env python3
"""Benchmark: what a slow disk under the event log costs the render loop.

A live render loop (the dev site, a two-scene tone show, 1024-frame blocks paced in
real time, a null sink, so only rendering is timed) takes a scene command in every block: two records a
block, one of them a journal line, far more than a show writes. The event log goes to
a file in a temporary directory, in two ways, interleaved round by round:

- ``inline``: written on the render thread (``EventLog()``, as ``severed render`` does
  and as the daemon did before);
- ``writer``: handed to the writer thread (``EventLog(background=True)``, the daemon).

The disk is made slow the way an SD card collecting its garbage is: every ``--every``th
``write(2)`` of the log sleeps ``--stall`` seconds. The figures, per way: the median
and the longest block render time, and the blocks that took longer than a block's
period (21.3 ms at 48 kHz: each of them an underrun on a real card), and those held by
the disk (longer than half a stall: on a loaded machine the scheduler alone can make a
block late, never that late). Then the same without a stall, for what the hand-over
itself costs.

    nice -n 10 python benchmarks/bench_event_log.py [--blocks 200] [--rounds 3]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

from severed.commands.common import load_inputs
from severed.config import load_show_text
from severed.eventlog import EventLog
from severed.hardware.sinks import NullSink
from severed.loop import RenderLoop
from severed.show.events import Event

BLOCK = 1024
SHOW = """
[show]
name = "two"
initial_scene = "main"
crossfade_s = 0.01

[scenes.main.layers.tone]
type = "tone"
freq_hz = 220
gain_db = -12

[scenes.other.layers.tone]
type = "tone"
freq_hz = 330
gain_db = -12
"""


def slow_disk(stall_s, every):
    """os.write that sleeps ``stall_s`` on every ``every``th write past stderr (nothing
    but the event log writes with os.write here)."""
    real = os.write
    count = [0]

    def write(fd, data):
        if fd > 2:
            count[0] += 1
            if stall_s and count[0] % every == 0:
                time.sleep(stall_s)
        return real(fd, data)
    return write


def one_round(site, show, way, blocks, directory):
    path = os.path.join(directory, f"{way}.jsonl")
    if os.path.exists(path):
        os.unlink(path)
    log = EventLog(path, keep=None, background=(way == "writer"))
    loop = RenderLoop(show, site, NullSink(site.audio.sample_rate),
                      block_frames=BLOCK, live=True, event_log=log)
    times = []
    period = BLOCK / site.audio.sample_rate
    due = time.perf_counter()
    for i in range(blocks):
        loop.post(Event(0.0, "cmd.scene", data={"scene": "other" if i % 2 == 0 else "main"}))
        start = time.perf_counter()
        loop.render_block()
        times.append(time.perf_counter() - start)
        due = max(due + period, time.perf_counter())  # paced as a sound card paces it
        time.sleep(max(0.0, due - time.perf_counter()))
    log.close()
    with open(path) as f:
        lines = sum(1 for _ in f)
    assert lines == len(log.recent), f"{way}: {lines} lines for {len(log.recent)} records"
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stall", type=float, default=0.3, help="seconds a held write takes")
    parser.add_argument("--every", type=int, default=100, help="every Nth write is held")
    args = parser.parse_args()
    site, _show, _ = load_inputs()
    show = load_show_text(SHOW, "two.toml")
    period = BLOCK / site.audio.sample_rate
    print(f"event log: {args.blocks} blocks of {BLOCK} frames ({period * 1000:.1f} ms each), "
          f"2 records a block, {args.rounds} interleaved rounds", file=sys.stderr)
    for stall in (args.stall, 0.0):
        results = {"inline": [], "writer": []}
        real, os.write = os.write, slow_disk(stall, args.every)
        try:
            with tempfile.TemporaryDirectory() as directory:
                for r in range(args.rounds):
                    for way in (("inline", "writer") if r % 2 == 0 else ("writer", "inline")):
                        results[way].extend(one_round(site, show, way, args.blocks, directory))
        finally:
            os.write = real
        label = f"every {args.every}th write held {stall * 1000:.0f} ms" if stall else "no stall"
        print(f"-- {label}")
        for way, times in results.items():
            late = sum(1 for t in times if t > period)
            held = sum(1 for t in times if stall and t > stall / 2)
            print(f"{way:7s} median {statistics.median(times) * 1e6:8.0f} us  "
                  f"longest {max(times) * 1000:8.1f} ms  "
                  f"over the period {late:4d} of {len(times)}  held by the disk {held:4d}")
        ratio = statistics.median(results["writer"]) / statistics.median(results["inline"])
        print(f"median writer/inline: {ratio:.2f}")



if __name__ == "__main__":
    main()
