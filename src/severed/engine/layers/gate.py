"""A scene's gate: how glitch cuts and scheduled silences silence the other layers.

A layer only writes its own buffer, so a cut cannot reach its neighbours directly.
Instead, the layers that make cuts (``glitch``, ``silence``) write a gain curve for
the block into their scene's :class:`Gate`, and the layers that obey cuts
(``motif``, ``rhythm``, ``drone``, ``cue``, ``glitch`` itself, ``buzz``) multiply their
output by it. Put the cut-making layers first in the scene's table: the engine
renders layers in file order, so the curve is ready when the others ask. Layer types
that do not obey the gate (``pad``, ``hum``, ``noise``, ...) play through cuts.

The curve belongs to one block: it is tagged with the Controls object the engine
hands every layer of a scene for that block, so a gate never applies to another
block, scene or engine.
"""

import numpy as np

_GATES = {}


class Gate:
    def __init__(self, max_frames):
        self.curve = np.ones(max_frames, np.float32)
        self.controls = None  # the block the curve belongs to
        self.open = True  # the curve is all ones

    def begin(self, controls, frames):
        """Called by each cut-making layer: start a fresh curve on a new block."""
        if self.controls is not controls:
            self.controls = controls
            if not self.open:
                self.curve[:frames] = 1.0
                self.open = True

    def apply(self, out, frames, controls):
        """Multiply out[:frames] by the curve when it belongs to this block."""
        if self.open or self.controls is not controls:
            return
        c = self.curve[:frames]
        for ch in range(out.shape[1]):  # 1-D in-place products: no temporaries
            out[:frames, ch] *= c


def scene_of(ctx):
    return ctx.name.split(".", 1)[0]


def gate_for(ctx):
    """The gate of the layer's scene, made on first use (by any layer of the scene)."""
    key = (scene_of(ctx), ctx.max_frames)
    gate = _GATES.get(key)
    if gate is None:
        gate = _GATES[key] = Gate(ctx.max_frames)
    return gate


class GateFollower:
    """Mixin for layers that obey their scene's cuts: call ``self.gated(out, frames,
    controls)`` at the end of ``process``."""

    def _gate_init(self, ctx):
        self._gate = gate_for(ctx)

    def gated(self, out, frames, controls):
        self._gate.apply(out, frames, controls)
