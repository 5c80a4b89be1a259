"""What a full pass of Python's garbage collector costs the daemon, and what freezing
the objects made at start-up saves.

    .venv/bin/python benchmarks/bench_gc.py

Builds what the daemon holds once it plays (its modules, the lumon show and its
engine), then times ``gc.collect()`` (best of 5) before and after ``gc.freeze()``. A
full pass holds the interpreter lock, so the render thread waits for all of it: on a
Raspberry Pi Zero 2 W (a core about ten times slower) a pass longer than a few ms
eats into the blocks queued ahead of the DAC. The daemon freezes once it plays, and
again after a reload has let the replaced engine go (service/daemon.py).
"""

import gc
import logging
import time


def best_full_pass_ms(repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        gc.collect()
        times.append(1000.0 * (time.perf_counter() - t0))
    return min(times)


def main():
    logging.disable(logging.WARNING)  # no cache here: notes are rendered on first use
    from severed.commands.common import load_inputs
    from severed.engine.engine import Engine
    import severed.hardware.sensors  # noqa: F401  (the daemon's other parts)
    import severed.service.control  # noqa: F401
    import severed.service.daemon  # noqa: F401

    site, show, _ = load_inputs(None, "lumon")
    engine = Engine(show, sample_rate=48000, channels=2, max_frames=2048, seed=1,
                    mains_hz=site.mains_hz)
    tracked = len(gc.get_objects())
    before = best_full_pass_ms()
    gc.freeze()
    after = best_full_pass_ms()
    print(f"objects tracked by the collector: {tracked}")
    print(f"full collection: {before:.2f} ms; after gc.freeze(): {after:.3f} ms "
          f"(frozen: {gc.get_freeze_count()})")
    del engine


if __name__ == "__main__":
    main()
