"""The compiled DSP core (severed.engine._kernels), imported in one place.

Every per-sample loop of the render path runs in it; there is no slower stand-in. If
the extension was not built (a checkout used without `pip install`, or a build that
failed for want of gcc or the Python headers), importing this module raises
CompiledCoreMissing, which the ``severed`` command prints with the way to build it.
"""

from severed.errors import CompiledCoreMissing

try:
    from severed.engine import _kernels as kernels
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise CompiledCoreMissing(
        f"the compiled DSP core severed.engine._kernels is missing or does not load "
        f"({exc}). Build it with the package: in a checkout run "
        f"'bash installation/dev.sh setup' (or '.venv/bin/pip install -e .'); on a Pi "
        f"run installation/install.sh again. It needs gcc and the Python headers "
        f"(apt install gcc python3-dev).") from exc

__all__ = ["kernels"]
