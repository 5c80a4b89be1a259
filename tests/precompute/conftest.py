"""Recipes registered only for the test that asks for them; ``wavtools`` importable."""

import os
import sys

import pytest

from severed.precompute import recipes

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def temp_recipes():
    """Register recipes for one test: ``temp_recipes(name, fn, defaults)``."""
    added = []

    def add(name, fn, defaults=None, depends=()):
        recipes.recipe(name, defaults=defaults or {}, depends=depends)(fn)
        added.append(name)
        return name

    yield add
    for name in added:
        recipes.RECIPES.pop(name, None)
