"""Layer types a show can use, in ``LAYER_TYPES`` (type name -> class).

Each type's module is imported when a show first asks for the type (see
``LayerRegistry``); a new layer module adds its types to ``MODULES``.
"""

from severed.engine.layers.base import (LAYER_TYPES, MIX_PARAMS, Layer, LayerContext, SceneCut,
                                        register)

_PACKAGE = "severed.engine.layers"

#: Every built-in layer type and the module that defines it.
MODULES = {
    "pad": "tonal", "tone": "tonal", "hum": "tonal",
    "noise": "texture", "clicks": "texture",
    "sampler": "sampler",
    "drone": "drone",
    "motif": "motif",
    "rhythm": "rhythm",
    "glitch": "glitch", "silence": "glitch",
    "cue": "cue",
}

LAYER_TYPES.declare({name: f"{_PACKAGE}.{module}" for name, module in MODULES.items()})

__all__ = ["LAYER_TYPES", "MIX_PARAMS", "MODULES", "Layer", "LayerContext", "SceneCut", "register"]
