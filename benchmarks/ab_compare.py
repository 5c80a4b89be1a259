"""Is a change faster or slower? Two checkouts render the same lumon scene in turns.

    .venv/bin/python benchmarks/ab_compare.py BASE_CHECKOUT NEW_CHECKOUT SCENE [OVERLAY]
        [--rounds 60]

    git worktree add /tmp/base HEAD~3     # the code before the change
    .venv/bin/python benchmarks/ab_compare.py /tmp/base . innie barrier

A machine whose speed drifts (this one's moved by 2x within an hour) makes two
benchmark runs minutes apart incomparable. Here each checkout renders in a process of
its own, both warmed up, and they take turns chunk by chunk (12 blocks, 0.5 s of
audio), so both see the same background load; the figure to read is the median of the
paired ratios new / base, with its quartiles. Notes are rendered in memory (no cache):
only the steady state is timed.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

SR, BLOCK, CHUNK = 48000, 2048, 12


def worker(scene, overlay):
    """Render on request: read a block count per line, answer with its CPU seconds."""
    import logging

    import numpy as np

    logging.disable(logging.CRITICAL)
    from severed.commands.common import load_inputs
    from severed.engine.engine import Engine
    from severed.show import events as ev

    site, show, _ = load_inputs(None, "lumon")
    engine = Engine(show, sample_rate=SR, channels=2, max_frames=BLOCK, seed=1,
                    mains_hz=site.mains_hz)
    engine.start(scene, fade_s=0.05)
    if overlay:
        engine.apply(ev.SetOverlay(overlay, True, 0.5))
    out = np.zeros((BLOCK, 2), np.float32)
    for _ in range(int(5 * SR / BLOCK)):  # warm-up: notes rendered, fades done
        engine.render(out, BLOCK)
    print("ready", flush=True)
    for line in sys.stdin:
        t0 = time.process_time()
        for _ in range(int(line)):
            engine.render(out, BLOCK)
        print(time.process_time() - t0, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("scene")
    ap.add_argument("overlay", nargs="?")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.scene, args.overlay)
    procs = {}
    for name, checkout in (("base", args.base), ("new", args.new)):
        env = dict(os.environ, PYTHONPATH=os.path.join(os.path.abspath(checkout), "src"))
        argv = [sys.executable, os.path.abspath(__file__), "--worker", "-", "-", args.scene]
        procs[name] = subprocess.Popen(argv + ([args.overlay] if args.overlay else []),
                                       env=env, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
    for p in procs.values():
        if p.stdout.readline().strip() != "ready":
            sys.exit("a worker failed to start (see above)")
    times = {name: [] for name in procs}
    for r in range(args.rounds):
        for name in (("base", "new") if r % 2 == 0 else ("new", "base")):
            procs[name].stdin.write(f"{CHUNK}\n")
            procs[name].stdin.flush()
            times[name].append(float(procs[name].stdout.readline()))
    for p in procs.values():
        p.stdin.close()
        p.wait()
    audio_s = CHUNK * BLOCK / SR
    ratios = sorted(n / b for b, n in zip(times["base"], times["new"]))
    q = len(ratios) // 4
    label = args.scene + (f" + {args.overlay}" if args.overlay else "")
    print(f"{label}: ms CPU per audio second, median (min): "
          f"base {1000 * statistics.median(times['base']) / audio_s:.1f} "
          f"({1000 * min(times['base']) / audio_s:.1f}), "
          f"new {1000 * statistics.median(times['new']) / audio_s:.1f} "
          f"({1000 * min(times['new']) / audio_s:.1f}); "
          f"new / base {ratios[len(ratios) // 2]:.3f} "
          f"(quartiles {ratios[q]:.3f}-{ratios[-q - 1]:.3f}), {args.rounds} rounds")


if __name__ == "__main__":
    main()
