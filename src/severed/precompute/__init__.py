"""Offline rendering of costly, fixed audio into a content-hashed cache.

- ``recipes``: named render functions (``@recipe``) and requests for them (``Recipe``);
- ``stems``: users' audio files (``Stem``), decoded (``decode``) and resampled
  (``resample``) once;
- ``cache``: the directory of rendered entries (``Cache.get_or_render``).

The ``sampler`` layer plays what the cache holds; ``severed precompute`` fills it at
install time so the daemon never renders at start-up.
"""

from severed.precompute.cache import Cache, cache_dir
from severed.precompute.recipes import RECIPES, Recipe, check_recipe, recipe
from severed.precompute.stems import Stem, resolve_stem_path

__all__ = ["Cache", "cache_dir", "RECIPES", "Recipe", "check_recipe", "recipe", "Stem",
           "resolve_stem_path"]
