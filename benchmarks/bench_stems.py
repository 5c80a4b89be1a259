#!/usr/bin/env python3
"""Benchmark: a long stem (a 90-minute WAV, about 1 GB) and the stem budget.

1. The check ``severed check`` and a reload make (``preflight.check_stems``): the time
   it takes on the long file (its header only) and its message, with the default
   budget (256 MiB once converted).
2. The conversion itself with the budget lifted (what a site that raises
   ``stem_budget_mb`` gets), in a child process: wall time, the child's peak resident
   memory (VmHWM) and its resident memory after, the entry's size. Run it against an
   older tree with ``PYTHONPATH=OLD/src`` to compare.

    nice -n 10 python benchmarks/bench_stems.py [--minutes 90] [--keep DIR]

The WAV is 16-bit stereo at 44.1 kHz (a CD rip: 10.6 MB a minute), converted to
48 kHz float32 (23 MiB a minute).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import wave

import numpy as np

CHILD = textwrap.dedent("""
    import os, sys, time
    from severed.precompute.cache import Cache
    from severed.precompute.stems import Stem
    path, directory = sys.argv[1], sys.argv[2]
    cache = Cache(directory, 48000)
    stem = Stem(path, work_dir=directory)
    stem.key_parts(48000)  # the content hash, read in 1 MiB pieces: not what is measured
    t0 = time.monotonic()
    audio = cache.get_or_render(stem, 48000, warn_missing=False)
    took = time.monotonic() - t0
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    mib = lambda k: int(fields[k].split()[0]) / 1024
    print(f"{took:.1f} {mib('VmHWM'):.1f} {mib('VmRSS'):.1f} {audio.shape[0]} "
          f"{audio.shape[1]} {type(audio).__name__}")
""")


def write_wav(path, minutes, rate=44100):
    """A sine sweep's worth of steady audio, written a minute at a time."""
    t = np.arange(rate * 60) / rate
    minute = (0.3 * np.sin(2 * np.pi * 220.0 * t) * 32767).astype("<i2")
    stereo = np.repeat(minute, 2).tobytes()
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        for _ in range(int(minutes)):
            w.writeframes(stereo)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=90.0)
    ap.add_argument("--keep", metavar="DIR", help="work here and keep the files")
    args = ap.parse_args(argv)
    work = args.keep or tempfile.mkdtemp(prefix="severed-bench-stems-")
    os.makedirs(work, exist_ok=True)
    wav = os.path.join(work, "long.wav")
    try:
        if not os.path.exists(wav):
            write_wav(wav, args.minutes)
        print(f"{wav}: {os.path.getsize(wav) / 1e9:.2f} GB, {args.minutes:g} min of 16-bit "
              "stereo at 44.1 kHz")

        from severed.config import load_show_text
        from severed.config.model import SiteConfig
        try:
            from severed.preflight import check_stems
        except ImportError:  # an older tree: it had no such check
            def check_stems(site, show):
                return ["(this tree has no stem check)"]
        show_path = os.path.join(work, "show.toml")
        text = ('[show]\nname = "long"\ninitial_scene = "a"\n[scenes.a.layers.muzak]\n'
                'type = "sampler"\nfile = "long.wav"\n')
        with open(show_path, "w") as f:
            f.write(text)
        show = load_show_text(text, show_path)
        t0 = time.monotonic()
        try:
            errors = check_stems(SiteConfig(path="/etc/severed/severed.toml"), show)
        except Exception as exc:  # noqa: BLE001 - an older tree's stems module
            errors = [f"(the stem check failed: {type(exc).__name__}: {exc})"]
        took = time.monotonic() - t0
        print(f"\n1. check and reload, default budget: {took * 1000:.1f} ms")
        for line in errors or ["(no error)"]:
            print(f"   {line}")

        cache = os.path.join(work, "cache")
        shutil.rmtree(cache, ignore_errors=True)
        done = subprocess.run([sys.executable, "-c", CHILD, wav, cache], check=True,
                              capture_output=True, text=True)
        took, hwm, rss, frames, channels, kind = done.stdout.split()
        size = sum(os.path.getsize(os.path.join(cache, n)) for n in os.listdir(cache))
        print(f"\n2. converted with the budget lifted: {float(took):.1f} s; child peak RSS "
              f"{float(hwm):.0f} MiB, after {float(rss):.0f} MiB; entry {size / 2**20:.0f} "
              f"MiB ({int(frames)} frames x {channels}, read back as {kind})")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
