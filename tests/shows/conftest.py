"""Renders of the built-in lumon show, shared by the show tests.

Each scenario is rendered once per test session through the real render loop (the
same path as ``severed render``) and kept; the precomputed instruments are rendered
once into the engine's memory cache.
"""

import dataclasses

import numpy as np
import pytest

from severed.commands.common import load_inputs
from severed.config import load_scenario_text, load_show_text
from severed.hardware.sinks import NullSink
from severed.loop import EventLog, RenderLoop

SR = 48000


class Capture(NullSink):
    def __init__(self):
        super().__init__()
        self.blocks = []

    def write(self, block):
        self.blocks.append(block.copy())

    def audio(self):
        return np.concatenate(self.blocks)


def lumon_text(disable=()):
    """The lumon show file, with the layers named "scene.layer" in ``disable`` off."""
    import importlib.resources
    text = (importlib.resources.files("severed") / "shows" / "lumon.toml").read_text()
    for key in disable:
        scene, layer = key.split(".")
        header = f"[scenes.{scene}.layers.{layer}]\n"
        assert header in text, key
        text = text.replace(header, header + "enabled = false\n")
    return text


def step_cmd(t, scene):
    return f'[[timeline]]\nat_s = {t}\ncommand = "scene"\nscene = "{scene}"\n'


def step_sensor(t, sensor, level):
    return f'[[timeline]]\nat_s = {t}\nsensor = "{sensor}"\nlevel = {level}\n'


class Render:
    def __init__(self, audio, records):
        self.audio = audio
        self.records = records

    def scene_times(self, to):
        return [r["t"] for r in self.records if r["type"] == "scene" and r["to"] == to]

    def sensor_times(self, sensor, state):
        return [r["t"] for r in self.records
                if r["type"] == "sensor" and r["sensor"] == sensor and r["state"] == state]


_RENDERS = {}


def render(steps, seconds, seed=1, disable=(), mains_hz=50.0, block=None):
    key = (steps, seconds, seed, tuple(disable), mains_hz, block)
    if key not in _RENDERS:
        site, _, _ = load_inputs()
        if mains_hz != site.mains_hz:
            site = dataclasses.replace(site, mains_hz=mains_hz)
        show = load_show_text(lumon_text(disable), "lumon.toml")
        scenario = load_scenario_text(f"seed = {seed}\nduration_s = {seconds}\n" + steps,
                                      "scenario.toml", show=show, site=site)
        sink = Capture()
        loop = RenderLoop(show, site, sink, scenario=scenario, seed=seed,
                          block_frames=block, event_log=EventLog(keep=None))
        loop.run(seconds=seconds)
        _RENDERS[key] = Render(sink.audio(), list(loop.event_log.recent))
    return _RENDERS[key]


# The visitor's ride down: seen at 0.5 s, the door closes at 2 s (conditioned 50 ms
# later), the ride, the held breath, the floor.
RIDE = step_sensor(0.5, "motion", 1) + step_sensor(1.5, "motion", 0) + step_sensor(2.0, "door", 1)


@pytest.fixture(scope="session")
def ride():
    return render(RIDE, 16.0, seed=4, disable=("innie.chip",))


@pytest.fixture(scope="session")
def outie():
    return render("", 30.0, seed=5)


@pytest.fixture(scope="session")
def innie():
    return render(step_cmd(0.01, "innie"), 30.0, seed=6)


# Four separate movements (a PIR holds its output for 3 s: starts closer than that
# are one movement to the show).
MOTION = "".join(step_sensor(t, "motion", 1) + step_sensor(t + 0.5, "motion", 0)
                 for t in (1.0, 5.0, 9.0, 13.0))


@pytest.fixture(scope="session")
def innie_moving():
    return render(step_cmd(0.01, "innie") + MOTION, 30.0, seed=6)
