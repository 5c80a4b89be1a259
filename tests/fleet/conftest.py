"""Booths as real daemons (``severed run --simulate``) on a real Mosquitto broker.

The fixtures: ``broker``, ``booths`` (``fleet_rig.Booth``: a site config with a
``[fleet]`` section, the daemon as a process, its control socket and event log) and
``watcher`` (a technician's MQTT client that keeps every message it sees). The tests skip, saying why,
only when Mosquitto is not installed (``apt install mosquitto mosquitto-clients``;
installation/dev.sh and .ci/run install it)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleet_rig import PASSWORDS, Booth, Watcher  # noqa: E402
from mosquitto_broker import Broker, find_mosquitto  # noqa: E402

pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed (the dev extra "
                                               "has it: pip install -e '.[dev]')")


@pytest.fixture
def broker(tmp_path):
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed (apt install mosquitto mosquitto-clients)")
    directory = tmp_path / "broker"
    directory.mkdir()
    b = Broker(directory, PASSWORDS).start()
    yield b
    b.kill()


@pytest.fixture
def booths(tmp_path, broker):
    """``booths("elevator", "corridor", ...)`` starts them (all in parallel) and waits
    until each answers on its control socket; all are stopped after the test."""
    made = []

    def start(*names, wait=True, **kwargs):
        new = [Booth(tmp_path, name, broker, **kwargs).start() for name in names]
        made.extend(new)
        if wait:
            for booth in made:
                booth.wait_ready()
        return new

    yield start
    for booth in made:
        booth.stop(wait=False)  # all fade out at once
    for booth in made:
        booth.stop()


@pytest.fixture
def watcher(broker):
    made = []

    def make(**kwargs):
        w = Watcher(broker, **kwargs)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()
