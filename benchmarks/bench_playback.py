#!/usr/bin/env python3
"""Benchmark: the reverb, the echo, the voice bank and the sampler, each against the
numpy implementation its compiled kernel replaced (kept in tests/engine/oracles/).

Both run in this process and take turns, case by case and round by round, so both see
the same background load (this machine's speed drifts 2x within an hour): the figure
to read is the median, over rounds, of the ratio numpy / kernel within a round. Times
are the thread's CPU time per block, median over the blocks of a round, at 48 kHz
stereo; printed for 2048-frame blocks and for 256-frame blocks (the cost per audio
second at 256 tells what small live blocks cost).

    .venv/bin/python benchmarks/bench_playback.py [--rounds 15] [--blocks 40]

Run from the checkout: the oracles are imported from tests/.
"""

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from severed.engine.dsp.delay import Delay  # noqa: E402
from severed.engine.dsp.reverb import Reverb  # noqa: E402
from severed.engine.layers.base import LayerContext  # noqa: E402
from severed.engine.layers.sampler import Sampler  # noqa: E402
from severed.engine.layers.voices import VoiceBank  # noqa: E402
from severed.engine.params import Controls, Ramp  # noqa: E402
from severed.precompute import recipes  # noqa: E402
from tests.engine.oracles.delay import OracleDelay  # noqa: E402
from tests.engine.oracles.reverb import OracleReverb  # noqa: E402
from tests.engine.oracles.sampler import OracleSampler  # noqa: E402
from tests.engine.oracles.voices import OracleVoiceBank  # noqa: E402

FS = 48000


def tone(seconds, channels, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    x = np.exp(-t * 0.8) * np.sin(2 * np.pi * 110.0 * 2 ** (seed / 12) * t)
    chans = [x + 0.001 * rng.standard_normal(len(t)) for _ in range(channels)]
    return (0.3 * np.stack(chans, axis=1)).astype(np.float32)


SOURCES = [tone(7.0, 1 + s % 2, s) for s in range(4)]


@recipes.recipe("bench_tone", defaults={"channels": 1})
def _bench_tone(params, sr):
    return tone(4.0, int(params["channels"]), 3)


def cases(frames):
    """(name, make(kind) -> step()) where kind is "numpy" or "kernel"."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((frames, 2)) * 0.1).astype(np.float32)
    out = np.zeros_like(x)

    def reverb(kind, moving=False):
        cls = OracleReverb if kind == "numpy" else Reverb
        verb = cls(FS, decay_s=4.5, damping=0.55, predelay_ms=40.0, max_frames=frames)
        state = {"i": 0}

        def step():
            if moving:
                state["i"] += 1
                verb.set(decay_s=3.0 + state["i"] % 2, damping=0.3 + 0.1 * (state["i"] % 2))
            verb.process(x, out)
        return step

    def delay(kind):
        cls = OracleDelay if kind == "numpy" else Delay
        echo = cls(FS, 0.35, feedback=0.4, damping=0.3, max_frames=frames)
        state = {"i": 0}

        def step():
            state["i"] += 1
            echo.set(delay_s=0.35 + 0.01 * (state["i"] % 2))
            echo.process(x, out)
        return step

    def voices(kind):
        # 16 notes sounding at once (two phrases of eight), mono and stereo sources,
        # rates 0.5..2: the motif layer at its busiest.
        bank = (OracleVoiceBank if kind == "numpy" else VoiceBank)(2, frames, FS)
        for s in SOURCES:
            bank.add_source(s)
        rates = [0.5, 0.63, 0.75, 0.89, 1.0, 1.19, 1.5, 2.0]
        for i in range(16):
            bank.start(i % 4, delay=i * 200, gain=0.1, rate=rates[i % 8])

        def step():
            if len(bank.notes) < 16:
                bank.reset()
                for i in range(16):
                    bank.start(i % 4, delay=i * 200, gain=0.1, rate=rates[i % 8])
            bank.render(out, frames)
        return step

    def sampler(kind, params):
        ctx = LayerContext("bench.sampler", FS, 2, frames, np.random.default_rng(5))
        layer = (OracleSampler if kind == "numpy" else Sampler)(ctx, dict(params))
        state = {"t": 0}

        def step():
            layer.process(out, frames, Controls(t=state["t"] / FS, scene_s=state["t"] / FS))
            state["t"] += frames
        return step

    yield "Reverb, static", lambda k: reverb(k)
    yield "Reverb, decay/damping moving", lambda k: reverb(k, moving=True)
    yield "Delay 350 ms, gliding", delay
    yield "Voice bank, 16 notes", voices
    yield "Sampler loop, rate ramping", lambda k: sampler(
        k, dict(recipe="bench_tone", mode="loop", rate=Ramp(0.8, 1.25, 60.0)))
    yield "Sampler every 0.2 s, 4 voices", lambda k: sampler(
        k, dict(recipe="bench_tone", recipe_params={"channels": 2}, mode="every_s",
                every_s=0.2, voices=4))


def block_cost(step, blocks):
    for _ in range(3):
        step()
    times = []
    for _ in range(blocks):
        t0 = time.thread_time()
        step()
        times.append(time.thread_time() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--blocks", type=int, default=40)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    print(f"{'case':34} {'frames':>6} {'numpy us':>9} {'kernel us':>9} "
          f"{'ratio (q1..q3)':>18} {'kernel us/audio s':>18}")
    for frames in (2048, 256):
        for name, make in cases(frames):
            steps = {kind: make(kind) for kind in ("numpy", "kernel")}
            per = {"numpy": [], "kernel": []}
            ratios = []
            for r in range(args.rounds):
                order = ("numpy", "kernel") if r % 2 == 0 else ("kernel", "numpy")
                got = {kind: block_cost(steps[kind], args.blocks) for kind in order}
                for kind in got:
                    per[kind].append(got[kind])
                ratios.append(got["numpy"] / got["kernel"])
            q = statistics.quantiles(ratios, n=4)
            old, new = statistics.median(per["numpy"]), statistics.median(per["kernel"])
            print(f"{name:34} {frames:6d} {old * 1e6:9.1f} {new * 1e6:9.1f} "
                  f"{statistics.median(ratios):7.1f}x ({q[0]:.1f}..{q[2]:.1f}) "
                  f"{new * 1e6 * FS / frames:18.0f}")


if __name__ == "__main__":
    main()
