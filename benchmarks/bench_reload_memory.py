#!/usr/bin/env python3
"""Benchmark: the playing daemon's resident memory, and what reloads do to it.

Starts the real daemon (``severed run --simulate``) on the dev site with the sound
going to a null device paced in real time, the built-in lumon show, its own control
socket; then:

1. steady state: it plays ``--warm`` seconds with every scene entered once (scene
   commands), then RSS is sampled;
2. reloads: ``--reloads`` reloads, one every ``--gap`` seconds (each swap crossfades for
   2 s), alternating ``severed reload`` over the control socket and SIGHUP, the last
   ``--race`` of them fired back to back with no gap (SIGHUPs and socket reloads
   racing); VmRSS is read from /proc after each, and VmHWM (the peak) at the end;
3. after the reloads it waits ``--settle`` seconds (the daemon collects a replaced
   engine once its crossfade is long over) and samples again.

The figures: RSS after the first reload, after the last, their difference (the target:
at most 10 MiB after 100 reloads), after settling, and the peak (the worst moment),
against the budget (``STEADY_BUDGET_MIB``, ``WORST_BUDGET_MIB``); exits 1 when one is
missed.

    nice -n 10 python benchmarks/bench_reload_memory.py [--reloads 100] [--gap 4]

It needs the lumon show's entries in the dev cache (``severed precompute``; run first
if missing, it is not timed).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from severed.commands.common import dev_site_path
from severed.service.control import ControlClient


#: The playing daemon's resident memory budget on a Pi Zero 2 W (512 MB, about 420 MB
#: of it for Linux): steady, and at the worst moment (reloads back to back: engines
#: built while others fade out). What is left is for the system, the page cache (stems
#: are memory mapped from it), an SSH session and the CLI. docs/reliability.md.
STEADY_BUDGET_MIB = 128
WORST_BUDGET_MIB = 160


def read_status(pid):
    """{field: MiB} of VmRSS, VmHWM, RssAnon, RssFile from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


def wait_for_socket(path, proc, timeout_s=120.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited ({proc.returncode}) before answering")
        try:
            with ControlClient(path, timeout_s=5.0) as client:
                return client.request("status")
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    raise SystemExit(f"no answer on {path} within {timeout_s:g} s")


def request(path, cmd, **args):
    with ControlClient(path, timeout_s=60.0) as client:
        return client.request(cmd, **args)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reloads", type=int, default=100)
    ap.add_argument("--gap", type=float, default=4.0,
                    help="seconds between reloads (the build, the 2 s crossfade, the collection)")
    ap.add_argument("--race", type=int, default=20,
                    help="of the reloads, this many last ones back to back")
    ap.add_argument("--warm", type=float, default=20.0,
                    help="seconds of play (every scene entered) before the first reload")
    ap.add_argument("--settle", type=float, default=150.0)
    args = ap.parse_args(argv)

    work = tempfile.mkdtemp(prefix="severed-bench-mem-")
    site = os.path.join(work, "site.toml")
    with open(dev_site_path()) as f:
        text = f.read()
    cache = os.path.expanduser("~/.cache/severed")
    text = text.replace('cache_dir = "~/.cache/severed"', f'cache_dir = "{cache}"')
    text = text.replace("[audio]\n", '[audio]\ndevice = "null"\n', 1)
    with open(site, "w") as f:
        f.write(text)
    subprocess.run([sys.executable, "-m", "severed", "precompute", "--config", site,
                    "--quiet"], check=True, stdout=subprocess.DEVNULL)
    sock = os.path.join(work, "control.sock")
    proc = subprocess.Popen([sys.executable, "-m", "severed", "run", "--simulate",
                             "--config", site, "--control", sock, "--state-dir", work,
                             "--out", os.path.join(work, "out.wav")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, "daemon.log"), "w"))
    rows = []
    try:
        status = wait_for_socket(sock, proc)["status"]
        start = read_status(proc.pid)
        scenes = ["outie", "descent", "arrival", "innie", "testing_floor", "ascent",
                  "mde", "idle", "outie"]
        for scene in scenes:
            request(sock, "scene", name=scene)
            time.sleep(args.warm / len(scenes))
        steady = read_status(proc.pid)
        print(f"daemon pid {proc.pid}, show {status.get('show')}; RSS at start "
              f"{start['VmRSS']:.1f} MiB, after {args.warm:g} s with every scene played "
              f"{steady['VmRSS']:.1f} MiB (anon {steady['RssAnon']:.1f}, file "
              f"{steady['RssFile']:.1f}), peak so far {steady['VmHWM']:.1f}")
        t0 = time.monotonic()
        for i in range(1, args.reloads + 1):
            racing = i > args.reloads - args.race
            if i % 2:
                reply = request(sock, "reload")
                if not reply.get("ok", True):
                    raise SystemExit(f"reload {i} refused: {json.dumps(reply)}")
            else:
                os.kill(proc.pid, signal.SIGHUP)
            if not racing:
                time.sleep(args.gap)
            if i <= 5 or i % 10 == 0 or i == args.reloads:
                if racing:
                    time.sleep(0.05)
                s = read_status(proc.pid)
                rows.append((i, s))
                print(f"reload {i:4d} ({time.monotonic() - t0:6.1f} s): RSS "
                      f"{s['VmRSS']:7.1f} MiB (anon {s['RssAnon']:6.1f}, file "
                      f"{s['RssFile']:5.1f}), peak {s['VmHWM']:7.1f}", flush=True)
        time.sleep(args.gap + 2.0)  # the last swap and its crossfade
        after = read_status(proc.pid)
        print(f"after the last crossfade: RSS {after['VmRSS']:.1f} MiB")
        time.sleep(args.settle)
        settled = read_status(proc.pid)
        if proc.poll() is not None:
            raise SystemExit(f"the daemon died ({proc.returncode}): see {work}/daemon.log")
        first = rows[0][1]["VmRSS"]
        print(f"\nafter {args.settle:g} s more: RSS {settled['VmRSS']:.1f} MiB "
              f"(anon {settled['RssAnon']:.1f}, file {settled['RssFile']:.1f})")
        print(f"first reload {first:.1f} MiB; after {args.reloads} reloads "
              f"{after['VmRSS']:.1f} MiB ({after['VmRSS'] - first:+.1f}); settled "
              f"{settled['VmRSS']:.1f} ({settled['VmRSS'] - first:+.1f}); target: within "
              f"10 MiB of the first reload's level")
        print(f"steady (every scene played, no reload): {steady['VmRSS']:.1f} MiB (budget "
              f"{STEADY_BUDGET_MIB}); worst moment (VmHWM over the whole run): "
              f"{settled['VmHWM']:.1f} MiB (budget {WORST_BUDGET_MIB})")
        within = (after["VmRSS"] - first <= 10.0 and steady["VmRSS"] <= STEADY_BUDGET_MIB
                  and settled["VmHWM"] <= WORST_BUDGET_MIB)
        print("PASS" if within else "FAIL")
        shutil.rmtree(work, ignore_errors=True)  # kept when the daemon died: its log
        return 0 if within else 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
