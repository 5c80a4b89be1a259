"""The layer contract and the registry of layer types.

A layer is one sound source in a scene: a hum, a pad, a click train, a stem. The engine
owns its gain and reverb send (the mix parameters below); the layer only makes sound.

Rules for ``process`` (it runs on the render thread):
- add into ``out[:frames]`` (float32, shape (frames, channels)); never replace it;
- allocate nothing and do no I/O, locking or logging: scratch buffers are made in
  ``__init__`` for ``ctx.max_frames`` frames;
- no Python loop over samples: vectorise over the block;
- ramp every change of a parameter across the block (no sample-to-sample steps).

Cutting the whole scene (a glitch's dropout, a scheduled silence): a layer only writes
its own buffer, so a layer type that silences its scene sets ``CUTS_SCENE = True`` and
writes a gain curve into ``ctx.scene_cut`` (a :class:`SceneCut`) during ``process``:
``ctx.scene_cut.shape(gain, start, stop)`` multiplies frames ``start:stop`` of the
block's curve by ``gain`` (1 plays, 0 silent). After all its layers have rendered,
the scene multiplies everything it contributes to the block (every layer, its reverb
return) by the curve, when some layer shaped it (or, when it is the only scene heard,
the master does, after its sub-sonic high-pass); each scene has its own curve, made
with the scene. So layer order in a scene's table does not matter, a cut is silence
(pads, hums and noise beds included), and a cut in one scene never reaches another.
The scene's layers and reverb keep running under a cut: sound comes back as after a
dropout. The writer ramps the curve's edges (no clicks); the scene does not.
"""

import importlib
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from severed.engine.params import Automation, Const, Param

#: Parameters every layer has; the engine's mixer applies them.
MIX_PARAMS = (
    Param("gain_db", -12.0, min=-120.0, max=12.0, doc="level of the layer"),
    Param("reverb_send", 0.0, min=0.0, max=1.0, doc="share sent to the scene's reverb"),
    Param("enabled", True, automatable=False, kind=bool, doc="false leaves the layer out"),
    Param("after", [], kind=list, automatable=False,
          doc="scenes: play only on entries from one of them (empty: on every entry)"),
)

class LayerRegistry(MutableMapping):
    """Layer type name -> class, importing a type's module only when it is first asked
    for: a show that uses four types does not pay, at every boot, for importing the
    others (and the instruments behind them). Names are declared with their module up
    front (``declare``), so every known name can be listed and suggested without an
    import; ``register`` then fills in the class when its module runs."""

    def __init__(self):
        self._classes = {}
        self._modules = {}

    def declare(self, modules):
        """``modules``: type name -> the module whose import registers it."""
        self._modules.update(modules)

    def declared(self):
        return dict(self._modules)

    def __getitem__(self, name):
        if name not in self._classes and name in self._modules:
            importlib.import_module(self._modules[name])
        return self._classes[name]

    def __setitem__(self, name, cls):
        self._classes[name] = cls

    def __delitem__(self, name):
        del self._classes[name]

    def __contains__(self, name):
        return name in self._classes or name in self._modules

    def __iter__(self):
        return iter({**self._modules, **self._classes})

    def __len__(self):
        return len({**self._modules, **self._classes})


LAYER_TYPES = LayerRegistry()


def register(cls):
    """Class decorator: make a layer type known to shows under ``cls.TYPE``."""
    if cls.TYPE in LAYER_TYPES._classes:
        raise ValueError(f"layer type {cls.TYPE!r} registered twice")
    LAYER_TYPES[cls.TYPE] = cls
    return cls


class SceneCut:
    """One scene's cut curve for the block being rendered (see the module docstring).

    Writers (layers with ``CUTS_SCENE``) call ``shape``; the scene calls ``reopen``
    before its layers render and ``apply`` after. ``open`` is true while the curve is
    all ones; it stays false after a block that held a cut until the next block
    begins, so a probe reading it after ``render`` learns whether a cut acted."""

    def __init__(self, max_frames):
        self.curve = np.ones(max_frames, np.float32)
        self.open = True
        self.start = 0  # frames start:stop of the block hold the shaped part
        self.stop = 0

    def shape(self, gain, start, stop):
        """Multiply frames ``start:stop`` of the curve by ``gain`` (stop - start values)."""
        self.curve[start:stop] *= gain
        if self.open:
            self.open = False
            self.start, self.stop = start, stop
        else:
            self.start, self.stop = min(self.start, start), max(self.stop, stop)

    def reopen(self):
        """Back to all ones for a new block (only the shaped frames are rewritten)."""
        if not self.open:
            self.curve[self.start:self.stop] = 1.0
            self.open = True

    def apply(self, out, frames):
        """Multiply out[:frames] by the curve, if it was shaped (the scene's job, or the
        master's when the scene is heard alone)."""
        if self.open:
            return
        start, stop = self.start, min(self.stop, frames)
        c = self.curve[start:stop]
        for ch in range(out.shape[1]):  # 1-D in-place products: no temporaries
            out[start:stop, ch] *= c


@dataclass(frozen=True)
class LayerContext:
    """What a layer is given when it is built."""

    name: str  # "scene.layer", for messages
    sample_rate: int
    channels: int
    max_frames: int  # the largest block process() will be asked for
    rng: np.random.Generator  # this layer's own stream, derived from the render seed
    mains_hz: float = 50.0  # from the site config, for hum layers
    cache: object = None  # the precompute cache, for layers that read precomputed audio
    show_dir: str | None = None  # folder of the show file: relative stem paths start here
    scene_cut: SceneCut | None = None  # the scene's cut curve, for layers with CUTS_SCENE


class Layer:
    """Base of every layer type; subclasses set TYPE, PARAMS and implement process."""

    TYPE: ClassVar[str] = ""
    PARAMS: ClassVar[tuple] = ()
    DOC: ClassVar[str] = ""
    #: The engine skips a layer whose gain has settled at silence (-120 dB), to save
    #: CPU; a layer whose work matters beyond its own sound (one that cuts the other
    #: layers of its scene) sets this to run regardless.
    ALWAYS_RUN: ClassVar[bool] = False
    #: True for a layer type that writes its scene's cut curve (``ctx.scene_cut``). The
    #: scene runs such layers before the others, each into a buffer of its own, so
    #: that it knows whether the block holds a cut before it mixes anything.
    CUTS_SCENE: ClassVar[bool] = False
    #: True for a one-shot struck as its scene is entered (a bell): heard at full
    #: level from its first sample while the scene fades in (the fade would turn the
    #: strike into a swell); it follows the scene's fade out like any layer.
    STRUCK: ClassVar[bool] = False

    def __init__(self, ctx, params):
        """``params`` maps names in PARAMS to values validated by the show loader.

        After this, ``self.params[name]`` is an Automation for every automatable
        numeric parameter (call ``.value(controls)``) and a plain value for the rest;
        missing names get their defaults.
        """
        self.ctx = ctx
        self.params = normalise_params(self.PARAMS, params)

    def process(self, out, frames, controls):
        raise NotImplementedError

    def reset(self):
        """Clear tails and state (filters, envelopes, voices); keep the parameters."""

    def trigger(self, what="hit"):
        """Start a one-shot, for layers that have them."""

    def enter(self):
        """The layer's scene has just become the current scene (or an overlay was
        switched on): a chance to start a one-shot such as an arrival bell. Called on
        the render thread at the frame of the change, after ``reset()`` if the scene
        was silent."""

    @classmethod
    def param(cls, name):
        for p in cls.PARAMS:
            if p.name == name:
                return p
        raise KeyError(name)


def normalise_params(declared, given):
    """Fill defaults; wrap automatable numbers in Const; unwrap fixed ones to plain values."""
    out = {}
    for p in declared:
        v = given.get(p.name, p.default)
        numeric = p.kind in (float, int)
        if numeric and p.automatable:
            out[p.name] = v if isinstance(v, Automation) else Const(float(v))
        else:
            if isinstance(v, Const):
                v = v.v
            out[p.name] = p.kind(v) if numeric else v
    return out
