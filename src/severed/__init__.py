"""severed: sound installation firmware for a Raspberry Pi.

A headless daemon plays a show (scenes of layered, partly procedural sound) and moves
between its scenes on sensor events: an elevator door, motion sensors, a button.
"""

import os

# The engine's matrix products are small: BLAS threads would only compete with the
# render thread for the Pi's cores (and each costs memory). Set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
