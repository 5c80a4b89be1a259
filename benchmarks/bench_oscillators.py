"""CPU cost of the DSP building blocks (oscillators, noise, drift, saturation), per
2048-frame block at 48 kHz.

Run: ``.venv/bin/python benchmarks/bench_oscillators.py [--blocks N]``

Prints process-time microseconds per block (the best of several rounds, so other load
on the machine inflates it as little as possible; the median is shown beside it) and
the milliseconds of CPU per second of audio that follow. A Pi Zero 2 W core is about
ten times slower than a desktop core.
"""

import argparse
import statistics
import time

import numpy as np

from severed.engine.dsp.modulation import Drift
from severed.engine.dsp.noise import Noise
from severed.engine.dsp.oscillators import Oscillator
from severed.engine.dsp.saturation import soft_clip

SAMPLE_RATE = 48000
FRAMES = 2048
PAD_HZ = np.array([55.0, 55.3, 82.4, 82.0, 110.0, 110.6, 130.8, 164.8])


def measure(step, blocks, rounds=7):
    """Per-block process time in microseconds: (best round, median round)."""
    step(0)  # warm up: tables, views
    per_block = []
    for r in range(rounds):
        start = time.process_time()
        for i in range(blocks):
            step(i)
        per_block.append((time.process_time() - start) / blocks * 1e6)
    return min(per_block), statistics.median(per_block)


def cases():
    out8 = np.zeros((8, FRAMES), np.float32)
    buf = np.zeros(FRAMES, np.float32)
    mono = np.zeros((1, FRAMES), np.float32)

    saw = Oscillator(SAMPLE_RATE, "saw", voices=8, max_frames=FRAMES)
    yield "8 saw voices, steady pitch", lambda i: saw.render(out8, FRAMES, 110.0)

    saw_drift = Oscillator(SAMPLE_RATE, "saw", voices=8, max_frames=FRAMES)
    drift = Drift(8, 10.0, 0.2, np.random.default_rng(1))
    block_s = FRAMES / SAMPLE_RATE

    def drifting(i):
        cents = drift.value(i * block_s)
        saw_drift.render(out8, FRAMES, PAD_HZ * 2.0 ** (np.asarray(cents) / 1200.0))
    yield "8 saw voices, drifting (Drift incl.)", drifting

    stereo = np.zeros((FRAMES, 2), np.float32)
    pan = np.tile(np.array([[0.9, 0.4], [0.4, 0.9]], np.float32), (4, 1))
    panned = Oscillator(SAMPLE_RATE, "saw", voices=8, max_frames=FRAMES)
    yield "8 saw voices panned into stereo", lambda i: panned.render_mix(stereo, FRAMES,
                                                                         110.0, pan)

    drift_only = Drift(8, 10.0, 0.2, np.random.default_rng(3))
    yield "Drift.value, 8 voices", lambda i: drift_only.value(i * block_s)

    sine = Oscillator(SAMPLE_RATE, "sine", voices=8, max_frames=FRAMES)
    partials = 120.0 * np.arange(1, 9)
    yield "8 sine partials, steady", lambda i: sine.render(out8, FRAMES, partials)

    one = Oscillator(SAMPLE_RATE, "square", voices=1, max_frames=FRAMES)
    yield "1 square voice, vibrato", lambda i: one.render(mono, FRAMES, 220.0 + (i % 7))

    for color in ("white", "pink", "brown"):
        noise = Noise(color, np.random.default_rng(4), channels=2, max_frames=FRAMES)
        yield f"{color} noise, stereo", lambda i, n=noise: n.render(stereo, FRAMES)

    x = (0.8 * np.sin(np.arange(FRAMES) * 0.05)).astype(np.float32)
    yield "soft_clip", lambda i: soft_clip(x, 2.0, out=buf)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=400, help="blocks per round")
    args = parser.parse_args()
    blocks_per_s = SAMPLE_RATE / FRAMES
    print(f"{FRAMES} frames per block at {SAMPLE_RATE} Hz; process time, best / median "
          f"of 7 rounds of {args.blocks} blocks")
    print(f"{'case':42s} {'us/block':>9s} {'median':>8s} {'ms CPU/s audio':>15s}")
    for name, step in cases():
        best, median = measure(step, args.blocks)
        print(f"{name:42s} {best:9.1f} {median:8.1f} {best * blocks_per_s / 1000:15.3f}")


if __name__ == "__main__":
    main()
