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
