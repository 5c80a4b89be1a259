"""Shared pieces of the reliability tests: the soak module (benchmarks/soak.py), the
dev site and the lumon show, and a capturing sink; ``tomlgen`` importable."""

import importlib.util
import os
import pathlib
import sys

import numpy as np
import pytest

from severed.hardware.sinks import NullSink

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


class Capture(NullSink):
    """Keeps every block written (copies)."""

    def __init__(self):
        super().__init__()
        self.blocks = []

    def write(self, block):
        self.blocks.append(block.copy())

    def audio(self):
        return np.concatenate(self.blocks) if self.blocks else np.zeros((0, 2), np.float32)
