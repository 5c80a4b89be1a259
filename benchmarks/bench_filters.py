"""Cost of the DSP building blocks: microseconds per 2048-frame stereo block at 48 kHz,
and milliseconds of CPU per second of audio.

Run: ``.venv/bin/python benchmarks/bench_filters.py [--quick]``

Figures are the best of several repeats (the least disturbed by other processes) and
the median; BLAS runs on one thread (OPENBLAS_NUM_THREADS=1 unless already set). A
Raspberry Pi Zero 2 W core is roughly ten times slower than this machine's.
"""

import argparse
import os
import statistics
import time

# One BLAS thread, as on the render thread of the Pi: a second one only contends with
# everything else for the cores (the kernels themselves use none).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after the BLAS thread setting)

from severed.engine.dsp.delay import Delay  # noqa: E402
from severed.engine.dsp.filters import Biquad, OnePole  # noqa: E402
from severed.engine.dsp.noise import Noise  # noqa: E402
from severed.engine.dsp.reverb import Reverb  # noqa: E402

FS = 48000
FRAMES = 2048
CHANNELS = 2


def measure(step, blocks, repeats):
    """Per-block seconds: (best, median) over repeats of `blocks` calls."""
    step()  # warm: tables, caches
    per = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(blocks):
            step()
        per.append((time.perf_counter() - t0) / blocks)
    return min(per), statistics.median(per)


def cases():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((FRAMES, CHANNELS)) * 0.25).astype(np.float32)
    out = np.zeros_like(x)

    bq = Biquad(FS, "lowpass", 1000.0, q=2.0)
    yield "Biquad lowpass, static", lambda: bq.process(x, out)

    lfo = Biquad(FS, "lowpass", 600.0, q=1.0)
    state = {"t": 0.0}

    def lfo_step():
        # A show's slow LFO (0.05 Hz, 300..900 Hz): set() every block.
        state["t"] += FRAMES / FS
        lfo.set(freq_hz=600.0 * 1.5 ** np.sin(2 * np.pi * 0.05 * state["t"]))
        lfo.process(x, out)
    yield "Biquad, slow LFO sweep", lfo_step

    fast = Biquad(FS, "bandpass", 500.0, q=4.0)
    fstate = {"i": 0}

    def fast_step():
        # Half an octave per block, up and down three octaves.
        fstate["i"] += 1
        phase = (fstate["i"] % 12) / 6.0
        fast.set(freq_hz=200.0 * 2 ** (3 * (phase if phase <= 1 else 2 - phase)))
        fast.process(x, out)
    yield "Biquad, fast sweep (1/2 oct/block)", fast_step

    op = OnePole(FS, "highpass", 30.0)
    yield "OnePole highpass, static", lambda: op.process(x, out)

    for color in ("white", "pink", "brown"):
        gen = Noise(color, np.random.default_rng(1), channels=CHANNELS, max_frames=FRAMES)
        yield f"Noise {color}", (lambda g=gen: g.render(out, FRAMES))

    verb = Reverb(FS, decay_s=4.0, damping=0.4, predelay_ms=30.0)
    yield "Reverb, static", lambda: verb.process(x, out)

    moving = Reverb(FS, decay_s=4.0, damping=0.4, predelay_ms=30.0)
    mstate = {"i": 0}

    def verb_moving():
        mstate["i"] += 1
        moving.set(decay_s=3.0 + (mstate["i"] % 2), damping=0.3 + 0.1 * (mstate["i"] % 2))
        moving.process(x, out)
    yield "Reverb, decay/damping moving", verb_moving

    echo = Delay(FS, 0.35, feedback=0.4, damping=0.3)
    yield "Delay 350 ms, static", lambda: echo.process(x, out)

    glide = Delay(FS, 0.35, feedback=0.4, damping=0.3)
    gstate = {"i": 0}

    def glide_step():
        gstate["i"] += 1
        glide.set(delay_s=0.35 + 0.01 * (gstate["i"] % 2))
        glide.process(x, out)
    yield "Delay 350 ms, gliding", glide_step


def memory_kib():
    """Memory each object holds (its buffers and tables), by tracemalloc."""
    import tracemalloc
    makers = {
        "Biquad": lambda: Biquad(FS, "lowpass", 1000.0),
        "OnePole": lambda: OnePole(FS, "highpass", 30.0),
        "Noise pink": lambda: Noise("pink", np.random.default_rng(0)),
        "Reverb": lambda: Reverb(FS),
        "Delay (2 s max)": lambda: Delay(FS, 0.35),
    }
    out = {}
    for name, make in makers.items():
        make()  # shared tables and imports are not counted
        tracemalloc.start()
        keep = make()
        out[name] = tracemalloc.get_traced_memory()[0] / 1024
        tracemalloc.stop()
        del keep
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    args = ap.parse_args()
    blocks, repeats = (20, 3) if args.quick else (100, 7)
    blocks_per_s = FS / FRAMES
    print(f"{FRAMES}-frame stereo blocks at {FS} Hz ({blocks_per_s:.2f} blocks/s)")
    print(f"{'block':38s} {'best us':>9s} {'median us':>10s} {'ms CPU/s':>9s}")
    for name, step in cases():
        best, med = measure(step, blocks, repeats)
        print(f"{name:38s} {best * 1e6:9.1f} {med * 1e6:10.1f} "
              f"{best * blocks_per_s * 1e3:9.2f}")
    print()
    for name, kib in memory_kib().items():
        print(f"{name:38s} {kib:9.0f} KiB")


if __name__ == "__main__":
    main()
