"""A sink that keeps what it is given, for tests that measure the rendered audio
(importable from every test folder: tests/conftest.py puts this folder on the path)."""

import numpy as np

from severed.hardware.sinks import NullSink


class Capture(NullSink):
    """Keeps every block written (copies)."""

    def __init__(self):
        super().__init__()
        self.blocks = []

    def write(self, block):
        self.blocks.append(block.copy())

    def audio(self):
        return np.concatenate(self.blocks) if self.blocks else np.zeros((0, 2), np.float32)
