"""Shared by every test folder: this folder on the import path (for ``capture_sink``),
and a made-up layer type, registered only for the tests that need it, so show checking
can be tested whatever layer types the engine offers."""

import os
import sys

import pytest

from severed.engine.layers.base import LAYER_TYPES, Layer
from severed.engine.params import Param

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class ToneTestLayer(Layer):
    TYPE = "testtone"
    PARAMS = (
        Param("freq_hz", 220.0, min=20.0, max=20000.0, doc="pitch"),
        Param("voices", 3, min=1, max=8, automatable=False, kind=int),
        Param("wave", "sine", automatable=False, kind=str, choices=("sine", "saw")),
        Param("sticky", False, automatable=False, kind=bool),
        Param("ratios", [1.0, 2.0], min=0.25, max=8.0, automatable=False, kind=list),
        Param("label", "", automatable=False, kind=str),
    )

    def process(self, out, frames, controls):
        pass


@pytest.fixture
def test_layer():
    assert "testtone" not in LAYER_TYPES
    LAYER_TYPES["testtone"] = ToneTestLayer
    yield ToneTestLayer
    del LAYER_TYPES["testtone"]
