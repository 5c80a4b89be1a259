#!/usr/bin/env python3
"""Benchmark: the precompute cache, stem conversion and the sampler layer.

Prints:
- recipe rendering: seconds of CPU per second of audio (render + atomic write);
- stem conversion (decode + resample + write) per second of audio, for 44.1 kHz 24-bit
  stereo WAV, 96 kHz float WAV and an odd rate (interpolated filter phases);
- loading a cached entry: time to open and check a 5-minute stereo entry (mmap), in a
  fresh process, and that process's memory: anonymous RSS (what costs the Pi's RAM)
  and file-backed RSS (pages of the entry, which the kernel can drop) after opening it
  and after playing it through a sampler layer for 60 s;
- the sampler's cost per 2048-frame block (loop, every_s with voices, rate 1.3).

    python benchmarks/bench_precompute.py [--seconds 60]

One core: BLAS threads are pinned to one. On a Pi Zero 2 W expect about 10x the
times printed on a desktop.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

SR = 48000

CHILD = r"""
import json, sys, time
def mem():
    out = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0]) / 1024
    return out
import numpy as np
from severed.engine.layers.base import LayerContext
from severed.engine.layers.sampler import Sampler
from severed.engine.params import Controls
from severed.precompute import Cache, Stem
before = mem()
t0 = time.perf_counter()
cache = Cache(sys.argv[1])
audio, what = cache.ensure(Stem(sys.argv[2], work_dir=None if sys.argv[4] == "nonote" else sys.argv[1]), 48000)
load_s = time.perf_counter() - t0
assert what == "present", what
opened = mem()
ctx = LayerContext("bench.stem", 48000, 2, 2048, np.random.default_rng(1), cache=cache)
layer = Sampler(ctx, {"file": sys.argv[2], "mode": "loop"})
buf = np.zeros((2048, 2), np.float32)
for i in range(int(float(sys.argv[3]) * 48000 / 2048)):
    buf[:] = 0
    layer.process(buf, 2048, Controls(t=i * 2048 / 48000))
played = mem()
print(json.dumps({"load_s": load_s, "before": before, "opened": opened, "played": played,
                  "entry_mb": audio.nbytes / 1e6}))
"""


def cpu():
    return time.process_time()


def bench_recipe(cache_dir):
    from severed.precompute import Cache, Recipe

    cache = Cache(cache_dir)
    seconds = 30.0
    t0 = cpu()
    cache.ensure(Recipe("sine_ping", {"length_s": seconds, "decay_s": 5.0, "channels": 2}), SR)
    dt = cpu() - t0
    print(f"recipe sine_ping, {seconds:g} s stereo: {dt:.3f} s CPU, "
          f"{dt / seconds * 1000:.2f} ms per audio second (render + write)")


def write_wav(path, rate, seconds, encoding):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "precompute"))
    from wavtools import sine, write_wav as write

    data = np.hstack([sine(440, rate, seconds, 0.5), sine(660, rate, seconds, 0.5)])
    return write(path, data, rate, encoding)


def bench_stems(work, seconds):
    from severed.precompute import Cache, Stem

    results = {}
    for rate, encoding in ((44100, "pcm24"), (96000, "float32"), (44056, "pcm16")):
        path = os.path.join(work, f"stem-{rate}.wav")
        write_wav(path, rate, seconds, encoding)
        cache = Cache(os.path.join(work, "cache"))
        t0 = cpu()
        cache.ensure(Stem(path, work_dir=work), SR)
        dt = cpu() - t0
        results[rate] = path
        print(f"stem {rate} Hz {encoding} stereo, {seconds:g} s -> 48 kHz: {dt:.2f} s CPU, "
              f"{dt / seconds * 1000:.1f} ms per audio second")
    return results


def bench_load(work, play_s):
    from severed.precompute import Cache, Stem

    path = os.path.join(work, "long.wav")
    write_wav(path, 48000, 300.0, "pcm16")
    cache_dir = os.path.join(work, "cache")
    Cache(cache_dir).ensure(Stem(path, work_dir=cache_dir), SR)
    for note in ("nonote", "note"):
        runs = []
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", CHILD, cache_dir, path, str(play_s),
                                  note], capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout))
        r = runs[-1]
        load = statistics.median(x["load_s"] for x in runs)
        how = ("hashing the 58 MB source WAV for its key" if note == "nonote"
               else "its content hash remembered in the cache")
        print(f"open a 5-minute stereo stem's entry ({r['entry_mb']:.0f} MB, mmap + checks, "
              f"{how}): {load * 1000:.1f} ms (median of 3)")
    for stage in ("before", "opened", "played"):
        m = r[stage]
        print(f"  RSS {stage:>7}: {m['VmRSS']:6.1f} MiB (anon {m['RssAnon']:6.1f}, "
              f"file {m['RssFile']:6.1f})")


def bench_sampler():
    from severed.engine.layers.base import LayerContext
    from severed.engine.layers.sampler import Sampler
    from severed.engine.params import Controls
    from severed.precompute import Cache

    cache = Cache(None)
    for label, params in (
            ("loop, rate 1", {"recipe": "sine_ping", "recipe_params": {"length_s": 5.0},
                              "mode": "loop"}),
            ("loop, rate 1.3", {"recipe": "sine_ping", "recipe_params": {"length_s": 5.0},
                                "mode": "loop", "rate": 1.3}),
            ("every_s 0.05 s, 4 voices", {"recipe": "sine_ping",
                                          "recipe_params": {"length_s": 0.5},
                                          "mode": "every_s", "every_s": 0.05})):
        ctx = LayerContext("bench", SR, 2, 2048, np.random.default_rng(1), cache=cache)
        layer = Sampler(ctx, params)
        buf = np.zeros((2048, 2), np.float32)
        times = []
        for i in range(600):
            c = Controls(t=i * 2048 / SR)
            t0 = time.perf_counter()
            layer.process(buf, 2048, c)
            times.append(time.perf_counter() - t0)
        times = sorted(times[50:])
        med, p99 = statistics.median(times), times[int(0.99 * len(times))]
        print(f"sampler {label}: {med * 1e6:.0f} us per 2048-frame block (p99 "
              f"{p99 * 1e6:.0f} us), {med / (2048 / SR) * 100:.2f} % of the block period")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="length of the test stems and of the playback (default 60)")
    args = parser.parse_args()
    import logging
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as work:
        bench_recipe(os.path.join(work, "cache"))
        bench_stems(work, args.seconds)
        bench_load(work, args.seconds)
        bench_sampler()


if __name__ == "__main__":
    main()
