"""Layer types a show can use. Importing this package registers every built-in type
in ``LAYER_TYPES`` (type name -> class)."""

from severed.engine.layers.base import LAYER_TYPES, MIX_PARAMS, Layer, LayerContext, register
from severed.engine.layers import tonal, texture, sampler, drone, motif, rhythm, glitch, cue  # noqa: F401,E501  (registers the types)

__all__ = ["LAYER_TYPES", "MIX_PARAMS", "Layer", "LayerContext", "register"]
