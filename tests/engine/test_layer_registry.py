"""The layer registry: every declared type is defined by its module, and modules are
imported only when a show asks for one of their types."""

import importlib
import subprocess
import sys

from severed.engine.layers import LAYER_TYPES, MODULES


def test_every_declared_type_is_registered_by_its_module():
    for name, module in MODULES.items():
        cls = LAYER_TYPES[name]
        assert cls.TYPE == name
        assert cls.__module__ == f"severed.engine.layers.{module}"


def test_every_registered_type_is_declared():
    for module in set(MODULES.values()):
        importlib.import_module(f"severed.engine.layers.{module}")
    assert set(LAYER_TYPES) == set(MODULES)


def test_modules_load_only_when_a_type_is_asked_for():
    code = ("import sys\n"
            "from severed.engine.layers import LAYER_TYPES\n"
            "assert 'motif' in LAYER_TYPES\n"
            "assert 'severed.engine.layers.motif' not in sys.modules\n"
            "LAYER_TYPES['pad']\n"
            "assert 'severed.engine.layers.tonal' in sys.modules\n"
            "assert 'severed.instruments' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
