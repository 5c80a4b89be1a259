"""CPU cost of the built-in lumon show, scene by scene, and of its precompute.

    .venv/bin/python benchmarks/bench_lumon.py [--seconds 20] [--block 2048] [--repeats 3]

First ``severed precompute`` runs into an empty cache directory in a child process, and
we print its CPU time. Then, reading that cache as the daemon does, each scene is
rendered alone (overlays on top of innie) after a warm-up of 5 s, and we print the CPU
time per second of audio (ms/s; 30 ms/s is 3 % of one core here, about 30 % of a
Raspberry Pi Zero 2 W core), the slowest block and the peak level. Targets: busiest scene <= 30 ms/s;
precompute <= 30 s CPU.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from severed.commands.common import load_inputs
from severed.engine.engine import Engine
from severed.precompute.cache import Cache
from severed.show import events as ev

SR = 48000


def bench_scene(show, site, scene, seconds, block, overlay=None, cache=None):
    engine = Engine(show, sample_rate=SR, channels=2, max_frames=block, seed=1,
                    mains_hz=site.mains_hz, cache=cache)
    engine.start(scene, fade_s=0.05)
    if overlay:
        engine.apply(ev.SetOverlay(overlay, True, 0.5))
    out = np.zeros((block, 2), np.float32)
    for _ in range(int(5 * SR / block)):  # warm-up: caches, first hits, fades done
        engine.render(out, block)
    blocks = int(seconds * SR / block)
    peak = 0.0
    worst = 0.0
    start = time.process_time()
    for _ in range(blocks):
        t0 = time.perf_counter()
        engine.render(out, block)
        worst = max(worst, time.perf_counter() - t0)
        peak = max(peak, float(np.abs(out).max()))
    cpu = time.process_time() - start
    audio_s = blocks * block / SR
    return 1000.0 * cpu / audio_s, 20 * np.log10(max(peak, 1e-9)), 1000.0 * worst


def bench_precompute(cache_dir):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "severed", "precompute", "--show", "lumon",
                           "--cache", cache_dir, "--quiet"], capture_output=True, text=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    size = sum(os.path.getsize(os.path.join(cache_dir, f)) for f in os.listdir(cache_dir)
               if os.path.isfile(os.path.join(cache_dir, f)))
    return cpu, wall, size / 1e6, proc.returncode, (proc.stdout + proc.stderr).strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--block", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per scene; the fastest is kept (others' load only adds)")
    args = ap.parse_args()
    site, show, _ = load_inputs(None, "lumon")
    print(f"lumon, {SR} Hz stereo, blocks of {args.block}, {args.seconds:.0f} s per scene, "
          f"best of {args.repeats}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as cache_dir:
        cpu, wall, mb, rc, msg = bench_precompute(cache_dir)
        print(f"severed precompute (empty cache): {cpu:.1f} s CPU, {wall:.1f} s wall, "
              f"{mb:.1f} MB, exit {rc} (target <= 30 s CPU)")
        if rc:
            print(msg)
            sys.exit(1)
        cache = Cache(cache_dir, sample_rate=SR)
        print(f"{'scene':<22} {'ms CPU / s':>10} {'% core':>7} {'worst block ms':>15} "
              f"{'peak dBFS':>10}")
        rows = [(n, n, None) for n, s in show.scenes.items() if not s.overlay]
        rows += [(f"innie + {n}", "innie", n) for n, s in show.scenes.items() if s.overlay]
        busiest = 0.0
        for label, scene, overlay in rows:
            runs = [bench_scene(show, site, scene, args.seconds, args.block, overlay, cache)
                    for _ in range(args.repeats)]
            ms = min(r[0] for r in runs)
            peak = max(r[1] for r in runs)
            worst = min(r[2] for r in runs)
            busiest = max(busiest, ms)
            print(f"{label:<22} {ms:10.1f} {ms / 10:6.2f}% {worst:15.2f} {peak:10.1f}")
    print(f"busiest scene: {busiest:.1f} ms CPU per audio second (target <= 30)")

if __name__ == "__main__":
    main()
