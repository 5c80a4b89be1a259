"""The compiled core is the only product path: without it, severed says what is
missing and how to build it, and renders nothing."""

import subprocess
import sys

import pytest

from severed.errors import CompiledCoreMissing, SeveredError

# Runs the CLI with the extension made unimportable, as in a checkout never built.
WITHOUT_KERNELS = """
import sys
sys.modules["severed.engine._kernels"] = None
from severed.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_missing_core_is_a_severed_error():
    assert issubclass(CompiledCoreMissing, SeveredError)
    assert issubclass(CompiledCoreMissing, ImportError)


def test_render_without_the_core_says_how_to_build_it(tmp_path):
    out = tmp_path / "x.wav"
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_KERNELS, "render", "--show", "lumon",
         "--seconds", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "severed: error: the compiled DSP core severed.engine._kernels is missing" \
        in run.stderr
    assert "installation/dev.sh setup" in run.stderr and "pip install -e ." in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()


def test_the_built_core_loads():
    from severed.engine.compiled import kernels
    assert callable(kernels.iir)


def test_long_offline_calls_let_other_threads_run():
    """A kernel call over a long buffer (an instrument's note, a stem) releases the
    interpreter lock: a Python thread counts while it runs. A live block's call is
    short and keeps it: the thread does not get to run."""
    import threading

    import numpy as np

    from severed.engine.dsp.filters import Biquad

    long_x = np.ones((1_000_000, 1), np.float32)
    f = Biquad(48000, "lowpass", 500.0, channels=1, max_frames=len(long_x))

    def count_during(x):
        counter = [0]
        go, stop = threading.Event(), threading.Event()

        def count():
            go.wait()
            while not stop.is_set():
                counter[0] += 1

        old = sys.getswitchinterval()
        sys.setswitchinterval(0.2)  # the worker runs only where the lock is let go
        worker = threading.Thread(target=count)
        try:
            worker.start()  # it waits for go, which releases the lock
            go.set()  # from here it needs the lock, which this thread keeps ...
            for _ in range(40):  # ... unless the kernel lets go of it (the worker may
                f.process(x, x)  # need a few calls' time to be scheduled)
                if counter[0]:
                    break
            seen = counter[0]
        finally:
            stop.set()
            sys.setswitchinterval(old)
            worker.join()
        return seen

    assert count_during(long_x[:2048]) == 0
    assert count_during(long_x) > 0
