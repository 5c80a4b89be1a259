#!/usr/bin/env python3
"""Benchmark: the reference scene ("Innie floor"), 60 s at 48 kHz stereo, one core,
interleaved with the peer engines.

Each round runs, one after another, so that the machine's drift (2x within an hour on
a shared VM) hits every engine alike:
- severed, whole process: ``severed render`` into a 16-bit WAV (start-up included);
- severed, steady state, in a child that renders in-process at the live block size
  (the site's, 2048) and at 256 frames: CPU per audio second, start-up to the first
  block (CPU and wall), peak RSS, per-block render times;
- each peer engine of ../shared/bench/peers that is installed (Csound, Pure Data,
  SuperCollider's scsynth; ``bash benchmarks/setup_peers.sh`` installs them), whole
  process, its CPU and peak RSS.
Then it prints the medians and, round by round, the ratios: severed (steady state and
whole process) over each peer, and the cost of 256-frame blocks over 2048-frame ones.

    python benchmarks/bench_reference.py [--rounds 5] [--seconds 60] [--no-peers]

One core: BLAS threads are pinned to one, and every process is bound to CPU 0 where
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
# The shared peer workloads sit beside the checkout; SEVERED_BENCH_PEERS says where else.
PEERS = Path(os.environ.get("SEVERED_BENCH_PEERS", ROOT.parent / "shared" / "bench" / "peers"))

# Run in a child: render, and report start-up and per-block figures as JSON.
CHILD = r"""
import json, resource, sys, time
t_wall0 = float(sys.argv[1])
from severed.commands.common import load_inputs
from severed.hardware.sinks import WavSink
from severed.loop import RenderLoop
site, show, _ = load_inputs(sys.argv[2], sys.argv[3])
seconds = float(sys.argv[4])
block = int(sys.argv[6]) or None
sink = WavSink(sys.argv[5], site.audio.sample_rate, site.audio.channels)
times, cpu_times = [], []
with sink:
    loop = RenderLoop(show, site, sink, seed=1, block_frames=block)
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


def severed_whole(seconds, tmp):
    """``severed render`` of the scene in a fresh process: (CPU s, wall s)."""
    wav = str(Path(tmp) / "severed.wav")
    render = [sys.executable, "-m", "severed", "render", "--show", str(SHOW),
              "--config", str(SITE), "--seconds", str(seconds), "--out", wav, "--quiet"]
    cpu, wall, _, _ = timed(render, cwd=ROOT, env=dict(os.environ))
    return cpu, wall


def severed_child(seconds, tmp, block=0):
    """In-process figures from a child rendering at ``block`` frames (0: the site's)."""
    wav = str(Path(tmp) / "severed-child.wav")
    child = [sys.executable, "-c", CHILD, repr(time.time()), str(SITE), str(SHOW),
             str(seconds), wav, str(block)]
    _, _, _, out = timed(child, cwd=ROOT, env=dict(os.environ))
    return json.loads(out.strip().splitlines()[-1])


PEER_COMMANDS = {
    "csound": (["csound", "--smacro:DUR={dur}", "-o", "{out}", "innie.csd"], "csound"),
    "pd": (["pd", "-nogui", "-batch", "-nrt", "-noaudio", "-nomidi", "-noprefs", "-r", "48000",
            "-open", "innie.pd", "-send", "innie-start {ms} {out}"], "pd"),
    "scsynth": (None, "scsynth"),
    "numpy": ([sys.executable, "innie_numpy.py", "{out}", "{dur}"], None),
}


def peer_command(name, seconds, tmp):
    """The command line that renders the scene in peer ``name``, or None when it is not
    installed."""
    cmd, binary = PEER_COMMANDS[name]
    if not PEERS.is_dir() or (binary and not shutil.which(binary)):
        return None
    out = str(Path(tmp) / f"{name}.wav")
    if name == "scsynth":
        osc = str(Path(tmp) / "innie.osc")
        subprocess.run([sys.executable, "innie_sc.py", f"{seconds:g}", osc], cwd=PEERS,
                       check=True, capture_output=True)
        return ["scsynth", "-N", osc, "_", out, "48000", "WAV", "int16", "-o", "2", "-i", "0"]
    if name == "numpy" and importlib.util.find_spec("scipy") is None:
        return None
    fill = {"dur": f"{seconds:g}", "ms": f"{seconds * 1000:g}", "out": out}
    return [part.format(**fill) for part in cmd]


def peer_run(cmd):
    """One timed run of a peer: {cpu, wall, maxrss_kb} or {error}."""
    try:
        cpu, wall, rss_kb, _ = timed(cmd, cwd=PEERS)
        return {"cpu": cpu, "wall": wall, "maxrss_kb": rss_kb}
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        return {"error": str(exc)[:200]}


def span(values):
    return f"{min(values):.2f}-{max(values):.2f}" if values else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    sec = args.seconds
    peers = [] if args.no_peers else ["csound", "pd", "scsynth"]
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        commands = {name: peer_command(name, sec, tmp) for name in peers}
        commands = {k: v for k, v in commands.items() if v is not None}
        if peers and not commands:
            print(f"no peer engine found (workloads: {PEERS}; set SEVERED_BENCH_PEERS, and "
                  "install the engines with benchmarks/setup_peers.sh)")
        severed_whole(min(sec, 5.0), tmp)  # warm-up (file caches, .pyc)
        for name, cmd in commands.items():
            peer_run(cmd)
        for _ in range(args.rounds):
            r = {"whole": severed_whole(sec, tmp)[0], "live": severed_child(sec, tmp),
                 "small": severed_child(sec, tmp, 256)}
            for name, cmd in commands.items():
                r[name] = peer_run(cmd)
            rounds.append(r)
    live = rounds[-1]["live"]
    period_ms = live["block_frames"] / live["sample_rate"] * 1000

    def steady(info):  # ms CPU per audio second, steady state
        return info["steady_cpu"] / info["steady_audio_s"] * 1000

    med = statistics.median
    print(f"reference scene, {sec:g} s at {live['sample_rate']} Hz, {args.rounds} rounds "
          f"interleaved; {platform.node()} {platform.machine()} ({os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}), python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    whole = [r["whole"] for r in rounds]
    print(f"  severed whole process (median): {med(whole):.3f} s CPU, "
          f"{med(whole) / sec * 1000:.1f} ms CPU per audio second (start-up included)")
    live_ms = [steady(r["live"]) for r in rounds]
    small_ms = [steady(r["small"]) for r in rounds]
    print(f"  severed steady state, blocks of {live['block_frames']}: {med(live_ms):.2f} ms CPU "
          f"per audio second (rounds {span(live_ms)})")
    print(f"  severed steady state, blocks of 256: {med(small_ms):.2f} ms CPU per audio second; "
          f"256 / {live['block_frames']} cost ratio, round by round: "
          f"{span([s / l for s, l in zip(small_ms, live_ms)])}")
    startup = [r["live"]["startup_cpu"] for r in rounds]
    startup_wall = [r["live"]["startup_wall"] for r in rounds]
    rss = [r["live"]["maxrss_kb"] / 1024 for r in rounds]
    print(f"  start-up to first block: {med(startup):.3f} s CPU (rounds {span(startup)}), "
          f"{med(startup_wall):.3f} s wall")
    print(f"  peak RSS of the render: {med(rss):.1f} MiB (rounds {span(rss)})")
    # Wall time is what the device waits for, but on a shared machine it also counts the
    # time other processes held the core; the thread's CPU time is the engine's own.
    for label, key in (("wall", "block_times"), ("CPU", "block_cpu_times")):
        bt = [t * 1000 for t in live[key]]
        print(f"  block render time ({label}, last round): median {statistics.median(bt):.3f} "
              f"ms, p99 {percentile(bt, 99):.3f} ms, p99.9 {percentile(bt, 99.9):.3f} ms, "
              f"max {max(bt):.3f} ms (p99.9 = {percentile(bt, 99.9) / period_ms:.1%} of the "
              "block period)")
    for name in commands:
        ok = [r[name] for r in rounds if "error" not in r[name]]
        if not ok:
            print(f"  peer {name}: failed: {rounds[0][name]['error']}")
            continue
        cpu = [p["cpu"] for p in ok]
        print(f"  peer {name}: {med(cpu):.3f} s CPU ({med(cpu) / sec * 1000:.2f} ms per audio "
              f"second, whole process), peak RSS {med([p['maxrss_kb'] for p in ok]) / 1024:.1f} "
              f"MiB")
        pairs = [(r, r[name]["cpu"] / sec * 1000) for r in rounds if "error" not in r[name]]
        print(f"    severed/{name}, round by round: steady state "
              f"{span([steady(r['live']) / p for r, p in pairs])}, whole process "
              f"{span([r['whole'] / sec * 1000 / p for r, p in pairs])}")


if __name__ == "__main__":
    main()
