"""Shared pieces of the reliability tests: the soak module (benchmarks/soak.py), the
dev site and the lumon show; ``tomlgen`` importable (by a name no other test folder
uses: every folder's conftest shares one module name)."""

import importlib.util
import os
import pathlib
import sys

import pytest


ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def load_soak():
    spec = importlib.util.spec_from_file_location("severed_soak", ROOT / "benchmarks" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def soak():
    return load_soak()


@pytest.fixture(scope="session")
def inputs():
    from severed.commands.common import load_inputs
    site, show, _ = load_inputs()
    return site, show
