#!/usr/bin/env python3
"""Benchmark: the reference scene ("Innie floor"), 60 s at 48 kHz stereo, one core.

Prints, for severed:
- CPU seconds per audio second, whole process (start-up included), median of N fresh
  processes after a warm-up, as ``severed render`` into a 16-bit WAV;
- the same in the steady state (blocks rendered in-process, start-up excluded);
- start-up: CPU seconds and wall seconds from process start to the first block;
- peak RSS of the render process;
- per-block render time at the live block size (median, p99, p99.9, max) and its share
  of the block period;
and, for each peer engine of ../shared/bench/peers that is installed (Csound, Pure
Data, SuperCollider's scsynth, the plain numpy/scipy renderer), its whole-process CPU
and peak RSS, and our ratio to it.

    python benchmarks/bench_reference.py [--runs 5] [--seconds 60] [--no-peers]

One core: BLAS threads are pinned to one, and the process is bound to CPU 0 where
allowed.
"""

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHOW = HERE / "reference_scene.toml"
SITE = HERE / "reference_site.toml"
PEERS = ROOT.parent / "shared" / "bench" / "peers"

# Run in a child: render, and report start-up and per-block figures as JSON.
CHILD = r"""
import json, resource, sys, time
t_wall0 = float(sys.argv[1])
from severed.commands.common import load_inputs
from severed.hardware.sinks import WavSink
from severed.loop import RenderLoop
site, show, _ = load_inputs(sys.argv[2], sys.argv[3])
seconds = float(sys.argv[4])
sink = WavSink(sys.argv[5], site.audio.sample_rate, site.audio.channels)
times, cpu_times = [], []
with sink:
    loop = RenderLoop(show, site, sink, seed=1)
    loop.render_block()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    startup_cpu = ru.ru_utime + ru.ru_stime
    startup_wall = time.time() - t_wall0
    total = int(seconds * loop.sample_rate)
    c0 = time.process_time()
    while loop.engine.frame < total:
        b0, c0b = time.perf_counter(), time.thread_time()
        loop.render_block(min(loop.block_frames, total - loop.engine.frame))
        times.append(time.perf_counter() - b0)
        cpu_times.append(time.thread_time() - c0b)
    steady_cpu = time.process_time() - c0
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"startup_cpu": startup_cpu, "startup_wall": startup_wall,
                  "steady_cpu": steady_cpu, "steady_audio_s": seconds - loop.block_frames / loop.sample_rate,
                  "block_frames": loop.block_frames, "sample_rate": loop.sample_rate,
                  "block_times": times, "block_cpu_times": cpu_times,
                  "maxrss_kb": ru.ru_maxrss}))
"""


def _one_core():
    try:
        os.sched_setaffinity(0, {0})
    except (AttributeError, OSError):
        pass


def timed(cmd, cwd=None, env=None):
    """Run cmd on one core: (CPU seconds, wall seconds, peak RSS in kB, stdout).

    The figures are the child's own (os.wait4), whatever else this process has run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_one_core)
    # Read the pipes while waiting so a chatty child cannot block on a full pipe.
    out_parts, err_parts = [], []
    reader = threading.Thread(target=_drain, args=(proc, out_parts, err_parts))
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = b"".join(out_parts), b"".join(err_parts)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss, out.decode()


def _drain(proc, out_parts, err_parts):
    out_parts.append(proc.stdout.read())
    err_parts.append(proc.stderr.read())


def percentile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def severed_figures(runs, seconds, tmp):
    env = dict(os.environ)
    wav = str(Path(tmp) / "severed.wav")
    render = [sys.executable, "-m", "severed", "render", "--show", str(SHOW),
              "--config", str(SITE), "--seconds", str(seconds), "--out", wav, "--quiet"]
    timed(render, cwd=ROOT, env=env)  # warm-up (file caches, .pyc)
    cpus, walls = [], []
    for _ in range(runs):
        cpu, wall, _, _ = timed(render, cwd=ROOT, env=env)
        cpus.append(cpu)
        walls.append(wall)
    # RSS and the in-process figures from one child that reports them itself.
    child = [sys.executable, "-c", CHILD, repr(time.time()), str(SITE), str(SHOW),
             str(seconds), wav]
    _, _, _, out = timed(child, cwd=ROOT, env=env)
    info = json.loads(out.strip().splitlines()[-1])
    return {"cpu": statistics.median(cpus), "wall": statistics.median(walls),
            "cpus": cpus, **info}


PEER_COMMANDS = {
    "csound": (["csound", "--smacro:DUR={dur}", "-o", "{out}", "innie.csd"], "csound"),
    "pd": (["pd", "-nogui", "-batch", "-nrt", "-noaudio", "-nomidi", "-noprefs", "-r", "48000",
            "-open", "innie.pd", "-send", "innie-start {ms} {out}"], "pd"),
    "scsynth": (None, "scsynth"),
    "numpy": ([sys.executable, "innie_numpy.py", "{out}", "{dur}"], None),
}


def peer_figures(seconds, tmp):
    results = {}
    if not PEERS.is_dir():
        return results
    for name, (cmd, binary) in PEER_COMMANDS.items():
        if binary and not shutil.which(binary):
            continue
        out = str(Path(tmp) / f"{name}.wav")
        fill = {"dur": f"{seconds:g}", "ms": f"{seconds * 1000:g}", "out": out}
        try:
            if name == "scsynth":
                osc = str(Path(tmp) / "innie.osc")
                subprocess.run([sys.executable, "innie_sc.py", f"{seconds:g}", osc], cwd=PEERS,
                               check=True, capture_output=True)
                cmd_run = ["scsynth", "-N", osc, "_", out, "48000", "WAV", "int16", "-o", "2", "-i", "0"]
            else:
                if name == "numpy":
                    if importlib.util.find_spec("scipy") is None:
                        continue
                cmd_run = [part.format(**fill) for part in cmd]
            timed(cmd_run, cwd=PEERS)  # warm-up
            cpu, wall, rss_kb, _ = timed(cmd_run, cwd=PEERS)
            results[name] = {"cpu": cpu, "wall": wall, "maxrss_kb": rss_kb}
        except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
            results[name] = {"error": str(exc)[:200]}
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ours = severed_figures(args.runs, args.seconds, tmp)
        peers = {} if args.no_peers else peer_figures(args.seconds, tmp)
    sec = args.seconds
    period_ms = ours["block_frames"] / ours["sample_rate"] * 1000
    print(f"reference scene, {sec:g} s at {ours['sample_rate']} Hz, block {ours['block_frames']} "
          f"frames ({period_ms:.1f} ms); {platform.node()} {platform.machine()}, "
          f"python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    print(f"  whole process (median of {len(ours['cpus'])}): {ours['cpu']:.3f} s CPU, "
          f"{ours['cpu'] / sec * 1000:.1f} ms CPU per audio second, wall {ours['wall']:.2f} s, "
          f"real-time factor {sec / ours['cpu']:.0f}x")
    print(f"  steady state: {ours['steady_cpu'] / ours['steady_audio_s'] * 1000:.2f} ms CPU per audio second")
    print(f"  start-up to first block: {ours['startup_cpu']:.3f} s CPU, {ours['startup_wall']:.3f} s wall")
    print(f"  peak RSS: {ours['maxrss_kb'] / 1024:.1f} MiB")
    # Wall time is what the device waits for, but on a shared machine it also counts the
    # time other processes held the core; the thread's CPU time is the engine's own.
    for label, key in (("wall", "block_times"), ("CPU", "block_cpu_times")):
        bt = [t * 1000 for t in ours[key]]
        print(f"  block render time ({label}): median {statistics.median(bt):.3f} ms, "
              f"p99 {percentile(bt, 99):.3f} ms, p99.9 {percentile(bt, 99.9):.3f} ms, "
              f"max {max(bt):.3f} ms (p99.9 = {percentile(bt, 99.9) / period_ms:.1%} "
              "of the block period)")
    for name, r in peers.items():
        if "error" in r:
            print(f"  peer {name}: failed: {r['error']}")
            continue
        print(f"  peer {name}: {r['cpu']:.3f} s CPU ({r['cpu'] / sec * 1000:.1f} ms per audio second), "
              f"peak RSS {r['maxrss_kb'] / 1024:.1f} MiB; severed/{name} CPU ratio "
              f"{ours['cpu'] / r['cpu']:.2f}")


if __name__ == "__main__":
    main()
