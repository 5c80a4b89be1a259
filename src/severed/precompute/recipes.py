"""Named render functions whose output is worth keeping: the precompute recipes.

A recipe turns parameters and a sample rate into audio, float32 of shape
(frames, channels) with 1 or 2 channels. Register one with the decorator::

    from severed.precompute.recipes import recipe

    @recipe("felt_note", defaults={"freq_hz": 220.0, "length_s": 6.0},
            doc="a muted piano note with its reverb tail")
    def felt_note(params, sample_rate):
        ...
        return audio  # float32, (frames, channels)

A show asks for one by name with parameters (``Recipe("felt_note", {"freq_hz": 330})``);
the cache (``severed.precompute.cache``) keys the rendered audio by the name, the
parameters with their defaults filled in, the sample rate and the source code of the
recipe's module (plus any modules named in ``depends``): editing a recipe re-renders it.

Parameters must be JSON values (numbers, strings, booleans, lists, tables). Only the
keys in ``defaults`` are accepted; :func:`check_recipe` says what is wrong with a
request, for the layer that asks for it.
"""

import hashlib
import importlib
import inspect
import json
import math
from dataclasses import dataclass, field

import numpy as np

from severed.errors import ConfigError

RECIPES = {}

#: Packages whose import registers more recipes (the default show's instruments);
#: imported on the first question about a recipe, so a show may name them without
#: anything else having imported them first.
RECIPE_MODULES = ("severed.instruments",)
_loaded = False


def load_recipe_modules():
    """Import the packages in RECIPE_MODULES once (those not installed are skipped)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in RECIPE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


@dataclass(frozen=True)
class RecipeSpec:
    """A registered recipe: its render function, default parameters and meaning."""

    name: str
    fn: object  # fn(params, sample_rate) -> float32 (frames, channels)
    defaults: dict
    doc: str = ""
    depends: tuple = ()  # extra modules whose source counts as the recipe's code


@dataclass(frozen=True)
class Recipe:
    """A request for a recipe's audio: a registered name and some of its parameters."""

    name: str
    params: dict = field(default_factory=dict)

    @property
    def label(self):
        """Short name for messages and cache file names."""
        return self.name

    def spec(self):
        load_recipe_modules()
        try:
            return RECIPES[self.name]
        except KeyError:
            raise ConfigError(f"recipe {self.name!r}: no such recipe (known: "
                              f"{', '.join(sorted(RECIPES)) or 'none'})") from None

    def full_params(self):
        """The parameters with the recipe's defaults filled in."""
        merged = dict(self.spec().defaults)
        merged.update(self.params)
        return merged

    def key_parts(self, sample_rate):
        """Everything the rendered audio depends on, as JSON-able values."""
        spec = self.spec()
        return {"kind": "recipe", "name": self.name, "params": self.full_params(),
                "sample_rate": int(sample_rate), "code": code_hash(spec)}

    def render(self, sample_rate):
        """Render the audio now (seconds to minutes on a Pi): float32 (frames, channels)."""
        problems = check_recipe(self.name, self.params)
        if problems:
            raise ConfigError([f"recipe {self.name!r}: {p}" for p in problems])
        audio = self.spec().fn(self.full_params(), int(sample_rate))
        return checked_audio(audio, f"recipe {self.name!r}")


def recipe(name, defaults=None, doc="", depends=()):
    """Decorator: register ``fn(params, sample_rate)`` as recipe ``name``.

    ``depends`` lists modules (objects or dotted names) whose source the recipe's
    output also depends on, such as a shared synthesis module, so that editing them
    re-renders the recipe too.
    """
    def register(fn):
        if name in RECIPES:
            raise ValueError(f"recipe {name!r} registered twice")
        RECIPES[name] = RecipeSpec(name, fn, dict(defaults or {}), doc or (fn.__doc__ or ""),
                                   tuple(depends))
        return fn
    return register


def check_recipe(name, params):
    """Problems with a request for recipe ``name`` with ``params``, as messages."""
    load_recipe_modules()
    if name not in RECIPES:
        from severed.config.schema import did_you_mean
        return [f"no such recipe (known: {', '.join(sorted(RECIPES)) or 'none'})"
                + did_you_mean(name, RECIPES)]
    if not isinstance(params, dict):
        return ["recipe_params must be a table"]
    defaults = RECIPES[name].defaults
    problems = []
    for key, value in params.items():
        if key not in defaults:
            from severed.config.schema import did_you_mean
            problems.append(f"{key!r} is not a parameter of recipe {name!r} (parameters: "
                            f"{', '.join(sorted(defaults)) or 'none'})"
                            + did_you_mean(key, defaults))
            continue
        default = defaults[key]
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                problems.append(f"{key} must be a number, not {value!r}")
        elif type(default) is not type(value):
            problems.append(f"{key} must be {type(default).__name__}, not {value!r}")
    return problems


def checked_audio(audio, what):
    """``audio`` as C-contiguous float32 (frames, channels), channels 1 or 2; a
    CacheError naming ``what`` when it is not usable."""
    from severed.errors import CacheError

    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] not in (1, 2) or a.shape[0] == 0:
        raise CacheError(f"{what}: rendered audio of shape {a.shape}; expected "
                         "(frames, 1 or 2 channels) with at least one frame")
    a = np.ascontiguousarray(a, dtype=np.float32)
    step = 1 << 18  # checked in slices: no full-size temporary for a long stem
    for i in range(0, a.shape[0], step):
        if not np.isfinite(a[i:i + step]).all():
            raise CacheError(f"{what}: rendered audio contains NaN or infinity")
    return a


_CODE_HASHES = {}


def source_hash(modules):
    """A hash of the source files of ``modules`` (objects or dotted names)."""
    h = hashlib.sha256()
    for m in modules:
        module = importlib.import_module(m) if isinstance(m, str) else m
        path = inspect.getsourcefile(module)
        if path not in _CODE_HASHES:
            with open(path, "rb") as f:
                _CODE_HASHES[path] = hashlib.sha256(f.read()).hexdigest()
        h.update(_CODE_HASHES[path].encode())
    return h.hexdigest()[:32]


def code_hash(spec):
    """Hash of the source of the recipe's module and of what it depends on."""
    module = inspect.getmodule(spec.fn)
    return source_hash((module,) + tuple(spec.depends))


def canonical_json(value):
    """JSON with sorted keys and no spaces: equal values give equal text.

    Integral floats are written as integers so that ``440`` and ``440.0`` in a show
    file ask for the same entry."""
    return json.dumps(_canon(value), sort_keys=True, separators=(",", ":"),
                      allow_nan=False)


def _canon(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return int(f) if f.is_integer() and abs(f) < 2 ** 53 else f
    if isinstance(v, dict):
        return {str(k): _canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    raise TypeError(f"{v!r} is not a JSON value")


# ------------------------------------------------------------- built-in recipes
# Small examples of the mechanism; the show's instruments live in sibling modules.

@recipe("sine_ping", defaults={"freq_hz": 440.0, "length_s": 1.0, "attack_s": 0.005,
                               "decay_s": 0.3, "amplitude": 0.5, "channels": 1},
        doc="a sine with a short linear attack and an exponential decay")
def sine_ping(params, sample_rate):
    n = max(1, int(round(params["length_s"] * sample_rate)))
    t = np.arange(n) / sample_rate
    attack = max(params["attack_s"], 1.0 / sample_rate)
    env = np.minimum(t / attack, 1.0) * np.exp(-t / max(params["decay_s"], 1e-6))
    tone = params["amplitude"] * env * np.sin(2 * np.pi * params["freq_hz"] * t)
    channels = int(params["channels"])
    return np.repeat(tone.astype(np.float32)[:, None], max(1, min(channels, 2)), axis=1)


@recipe("noise_burst", defaults={"length_s": 0.1, "decay_s": 0.02, "amplitude": 0.5,
                                 "seed": 1},
        doc="white noise with an exponential decay, the same for a given seed")
def noise_burst(params, sample_rate):
    n = max(1, int(round(params["length_s"] * sample_rate)))
    rng = np.random.default_rng(int(params["seed"]))
    t = np.arange(n) / sample_rate
    env = np.exp(-t / max(params["decay_s"], 1e-6))
    return (params["amplitude"] * env * rng.uniform(-1, 1, n)).astype(np.float32)[:, None]
