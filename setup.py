"""Build of severed's compiled DSP core; everything else is declared in setup.cfg.

The extension severed.engine._kernels is compiled from every C file in
src/severed/engine/kernels/ by `pip install .` (and `pip install -e .`, which builds it
in place beside the sources). It needs gcc and the Python headers (python3-dev), which
installation/dev.sh and installation/install.sh bring from apt; numpy's headers are not
needed (the kernels take arrays through the buffer protocol).

Extra compiler flags come from the environment as usual (CFLAGS); the sanitizer build
in tests/engine/kernels_sanitize.sh uses that.
"""

from glob import glob

from setuptools import Extension, setup

KERNELS = "src/severed/engine/kernels"

setup(
    ext_modules=[
        Extension(
            "severed.engine._kernels",
            sources=sorted(glob(f"{KERNELS}/*.c")),
            depends=sorted(glob(f"{KERNELS}/*.h")),
            # -ffp-contract=off: no fused multiply-adds (gcc fuses by default on
            # aarch64), so every machine computes the same samples as the tests' oracles.
            # -O3: gcc vectorises loops over a block's frames only from -O3 (the reverb:
            # 14 us a 2048-frame block, 35 us at -O2); it changes no arithmetic.
            extra_compile_args=["-O3", "-Wall", "-Wextra",
                                "-ffp-contract=off"],
        )
    ],
)
