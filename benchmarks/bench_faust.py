#!/usr/bin/env python3
"""Hand-written kernels against Faust-generated C, on the same jobs, per 2048-frame block.

The compiled core could have been DSP written in Faust (its libraries hold band-limited
oscillators and well-regarded reverbs such as zita_rev1) with the generated C committed.
This measures that choice: each job is written in Faust, compiled to C by the installed
``faust`` (``-lang c -double``: internal double precision like our recursions, float32
samples), built with the same gcc flags as the extension, and called through ctypes on
planar buffers (Faust's layout); beside it, the project's kernel doing the same work on
its interleaved (frames, channels) block, through its Python class. Jobs:

- a stereo biquad low-pass (RBJ, 1 kHz, Q 0.707): Faust ``fi.tf2``, ours ``Biquad``;
- the reference pad's 8 band-limited saws panned into stereo: Faust ``os.sawtooth``
  (polynomial transition region), ours ``Oscillator.render_mix`` (mip-mapped tables);
- a stereo reverb: Faust ``re.zita_rev1_stereo`` (8-line FDN with allpass diffusion),
  ours ``Reverb`` (the scene reverb; a different, lighter design).

Prints microseconds per block (best of 7 rounds) and the ratio. Needs faust and gcc:

    python benchmarks/bench_faust.py [--blocks 300]
"""

import argparse
import ctypes
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from severed.engine.dsp.filters import Biquad, rbj_coeffs
from severed.engine.dsp.oscillators import Oscillator
from severed.engine.dsp.reverb import Reverb

SR = 48000
FRAMES = 2048
PAD_HZ = (55.0, 55.3, 82.4, 82.0, 110.0, 110.6, 130.8, 164.8)
PAN_L = tuple(math.cos((0.5 + 0.5 * (-1 if v % 2 == 0 else 1)) * math.pi / 2) for v in range(8))
PAN_R = tuple(math.sin((0.5 + 0.5 * (-1 if v % 2 == 0 else 1)) * math.pi / 2) for v in range(8))

SHIM = """
#include <stdlib.h>
void *make(int sr) { %(cls)s *d = new%(cls)s(); init%(cls)s(d, sr); return d; }
void run(void *d, int n, FAUSTFLOAT **in, FAUSTFLOAT **out) { compute%(cls)s(d, n, in, out); }
"""


def faust_jobs():
    (b0, b1, b2), (a1, a2) = rbj_coeffs("lowpass", SR, 1000.0, 0.7071, 0.0)
    tup = lambda xs: "(" + ", ".join(f"{x!r}" for x in xs) + ")"  # noqa: E731
    return {
        "biquad": (f'import("stdfaust.lib");\n'
                   f'process = par(i, 2, fi.tf2({b0!r}, {b1!r}, {b2!r}, {a1!r}, {a2!r}));\n', 2, 2),
        "saws": (f'import("stdfaust.lib");\nf = {tup(PAD_HZ)};\ngl = {tup(PAN_L)};\n'
                 f'gr = {tup(PAN_R)};\n'
                 'process = par(i, 8, os.sawtooth(ba.take(i + 1, f))) <: '
                 '(par(i, 8, *(ba.take(i + 1, gl))) :> _), (par(i, 8, *(ba.take(i + 1, gr))) :> _);\n',
                 0, 2),
        "reverb": ('import("stdfaust.lib");\n'
                   'process = re.zita_rev1_stereo(0, 200, 6000, 2.5, 2.5, 48000);\n', 2, 2),
    }


def build(name, code, tmp):
    """Faust -> C -> shared library; returns (library, dsp pointer)."""
    dsp = Path(tmp) / f"{name}.dsp"
    dsp.write_text(code)
    c = Path(tmp) / f"{name}.c"
    subprocess.run(["faust", "-lang", "c", "-double", "-cn", name, "-o", str(c), str(dsp)],
                   check=True, capture_output=True)
    text = ("#define FAUSTFLOAT float\n#include <faust/gui/CInterface.h>\n" + c.read_text()
            + SHIM % {"cls": name})
    c.write_text(text)
    so = Path(tmp) / f"{name}.so"
    subprocess.run(["gcc", "-O3", "-ffp-contract=off", "-fPIC", "-shared",
                    "-o", str(so), str(c), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(so))
    lib.make.restype = ctypes.c_void_p
    lib.make.argtypes = [ctypes.c_int]
    lib.run.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    return lib, lib.make(SR)


def planar(n):
    bufs = [np.zeros(FRAMES, np.float32) for _ in range(n)]
    ptrs = (ctypes.POINTER(ctypes.c_float) * max(n, 1))(
        *[b.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) for b in bufs])
    return bufs, ptrs


def measure(step, blocks, rounds=7):
    step()
    best = math.inf
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(blocks):
            step()
        best = min(best, (time.process_time() - t0) / blocks * 1e6)
    return best


def ours():
    x = np.random.default_rng(0).standard_normal((FRAMES, 2)).astype(np.float32) * 0.1
    out = np.zeros_like(x)
    bq = Biquad(SR, "lowpass", 1000.0, q=0.7071)
    osc = Oscillator(SR, "saw", voices=8)
    pan = np.array([PAN_L, PAN_R], np.float32).T.copy()
    rv = Reverb(SR, decay_s=2.5, damping=0.4, predelay_ms=0, channels=2, max_frames=FRAMES)
    return {"biquad": lambda: bq.process(x, out),
            "saws": lambda: osc.render_mix(out, FRAMES, list(PAD_HZ), pan),
            "reverb": lambda: rv.process(x, out)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=300)
    args = ap.parse_args()
    if not shutil.which("faust"):
        sys.exit("bench_faust: faust is not installed (apt install faust)")
    version = subprocess.run(["faust", "--version"], capture_output=True, text=True).stdout
    print(f"{FRAMES}-frame blocks at {SR} Hz, best of 7 rounds of {args.blocks}; "
          f"{version.splitlines()[0].strip()}")
    print(f"{'job':8s} {'Faust us':>9s} {'ours us':>8s} {'ours/Faust':>11s}")
    mine = ours()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (code, n_in, n_out) in faust_jobs().items():
            lib, dsp = build(name, code, tmp)
            ins, in_ptrs = planar(n_in)
            for b in ins:
                b[:] = rng.standard_normal(FRAMES) * 0.1
            _, out_ptrs = planar(n_out)
            faust_us = measure(lambda: lib.run(dsp, FRAMES, in_ptrs, out_ptrs), args.blocks)
            our_us = measure(mine[name], args.blocks)
            print(f"{name:8s} {faust_us:9.1f} {our_us:8.1f} {our_us / faust_us:11.2f}")


if __name__ == "__main__":
    main()
