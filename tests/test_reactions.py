"""Reactions end to end: a sensor event plays a layer's one-shot on its own sample,
in the scene where it happened, without a scene change."""

import numpy as np
import pytest

from severed.commands.common import load_inputs
from severed.config import load_scenario_text, load_show_text
from severed.loop import RenderLoop

from capture_sink import Capture

SR = 48000
LOOKAHEAD = int(round(0.005 * SR))  # the master limiter delays everything by 5 ms

SHOW = """
[show]
initial_scene = "office"
[scenes.office.layers.stapler]
type = "cue"
recipe = "stapler"
on_enter = false
gain_db = -6
[scenes.lobby.layers.stapler]
type = "cue"
recipe = "stapler"
on_enter = false
[[transitions]]
from = "office"
to = "lobby"
on = "door.closed"
crossfade_s = 0.01
[[reactions]]
from = "office"
on = "motion.start"
trigger = "stapler"
"""

# Motion starts at 1.0 s (0.1 s debounce: the event is at 1.1 s) in the office, and
# again at 5.0 s, after the door has taken the show to the lobby, where nothing reacts.
SCENARIO = """
duration_s = 6.5
[[timeline]]
at_s = 1.0
sensor = "motion"
level = 1
[[timeline]]
at_s = 1.5
sensor = "motion"
level = 0
[[timeline]]
at_s = 2.0
sensor = "door"
level = 1
[[timeline]]
at_s = 5.0
sensor = "motion"
level = 1
"""


def dbfs(x):
    return 20 * np.log10(max(float(np.abs(x).max()), 1e-12))


@pytest.fixture(scope="module")
def rendered():
    site, _, _ = load_inputs()
    show = load_show_text(SHOW, "reactions.toml")
    scenario = load_scenario_text(SCENARIO, "s.toml", show=show, site=site)
    sink = Capture()
    loop = RenderLoop(show, site, sink, scenario=scenario, block_frames=1024, seed=1)
    loop.run(seconds=scenario.duration_s)
    return loop.event_log.recent, sink.audio()[:, 0]


def test_the_one_shot_starts_on_the_event_sample(rendered):
    records, audio = rendered
    triggers = [r for r in records if r["type"] == "trigger"]
    assert [(r["scene"], r["layer"]) for r in triggers] == [("office", "stapler")]
    assert triggers[0]["t"] == pytest.approx(1.1, abs=1e-6)
    onset = int(round(1.1 * SR)) + LOOKAHEAD
    assert dbfs(audio[:onset]) < -100  # nothing before: the cue does not play on entry
    assert dbfs(audio[onset:onset + int(0.005 * SR)]) > -40  # the stapler, at once
    assert not [r for r in records if r["type"] == "scene" and r["t"] < 2.0]


def test_no_reaction_in_a_scene_it_does_not_name(rendered):
    records, audio = rendered
    motion = [r for r in records if r["type"] == "sensor" and r["state"] == "start"]
    assert [round(r["t"], 3) for r in motion] == [1.1, 5.1]
    # The lobby has a stapler too, but the reaction is the office's: silence after the
    # office's stapler has died away, through the second motion start.
    lobby = int(round(2.5 * SR))
    assert dbfs(audio[lobby:]) < -100
