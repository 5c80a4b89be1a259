"""The render loop end to end: scenario edges become conditioned events, scene changes
land on their exact sample, and the render command writes what it says."""

import json
import subprocess
import sys
import wave

import numpy as np
import pytest

from severed.commands.common import load_inputs
from severed.config import load_scenario_text, load_show_text
from severed.loop import RenderLoop

from capture_sink import Capture

SHOW = """
[show]
name = "doors"
initial_scene = "quiet"
[scenes.quiet.layers.t]
type = "tone"
freq_hz = 220
gain_db = -60
[scenes.loud.layers.t]
type = "tone"
freq_hz = 220
gain_db = -12
[[transitions]]
from = "quiet"
to = "loud"
on = "door.closed"
crossfade_s = 0.01
curve = "linear"
[[transitions]]
from = "loud"
to = "quiet"
after_s = 1.0
crossfade_s = 0.01
curve = "linear"
"""

SCENARIO = """
seed = 3
duration_s = 4
[[timeline]]
at_s = 1.0
sensor = "door"
level = 1
[[timeline]]
at_s = 1.01
sensor = "door"
level = 0
[[timeline]]
at_s = 1.02
sensor = "door"
level = 1
"""


def run_loop(block, tmp_path):
    site, _, _ = load_inputs()
    show = load_show_text(SHOW, "doors.toml")
    scenario = load_scenario_text(SCENARIO, "visit.toml", show=show, site=site)
    sink = Capture()
    loop = RenderLoop(show, site, sink, scenario=scenario, block_frames=block, seed=3)
    loop.run(seconds=scenario.duration_s)
    return loop, sink


@pytest.mark.parametrize("block", [2048, 500])
def test_bouncing_door_gives_one_scene_change_on_its_sample(block, tmp_path):
    loop, sink = run_loop(block, tmp_path)
    records = loop.event_log.recent
    scenes = [r for r in records if r["type"] == "scene"]
    door = [r for r in records if r["type"] == "sensor" and r["sensor"] == "door"]
    # The bounce (1.00 on, 1.01 off, 1.02 on) is one door.closed, at its first edge (the
    # door's first_edge debounce: the bounces fall in the 50 ms lockout after it).
    assert [r["state"] for r in door] == ["closed"]
    assert door[0]["t"] == pytest.approx(1.0, abs=1e-6)
    assert scenes[0]["to"] == "loud" and scenes[0]["t"] == pytest.approx(1.0, abs=1e-6)
    # The after_s timer brings it back within a block of 1 s later.
    assert scenes[1]["to"] == "quiet"
    assert 2.0 <= scenes[1]["t"] <= 2.0 + block / 48000 + 1e-6
    # The sound follows: quiet (-60 dB) before, loud (-12 dB) from the change on.
    audio = sink.audio()[:, 0]
    onset = int(round(1.0 * 48000))
    before = np.abs(audio[onset - 4800:onset - 10]).max()
    after = np.abs(audio[onset + 600:onset + 4800]).max()
    assert 20 * np.log10(before) < -55 and 20 * np.log10(after) > -14


def test_same_inputs_same_samples_across_block_sizes(tmp_path):
    _, a = run_loop(2048, tmp_path)
    _, b = run_loop(500, tmp_path)
    np.testing.assert_allclose(a.audio(), b.audio(), atol=2e-5)


def test_render_command_writes_wav_events_and_plot(tmp_path):
    scenario = tmp_path / "visit.toml"
    scenario.write_text(SCENARIO)
    show = tmp_path / "doors.toml"
    show.write_text(SHOW)
    out, events, plot = tmp_path / "out.wav", tmp_path / "events.jsonl", tmp_path / "p.png"
    proc = subprocess.run([sys.executable, "-m", "severed", "render", "--show", str(show),
                           "--scenario", str(scenario), "--out", str(out), "--events",
                           str(events), "--plot", str(plot)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 2, 2)
        assert w.getnframes() == 4 * 48000
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert records[0]["type"] == "start"
    assert any(r["type"] == "scene" and r["to"] == "loud" for r in records)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_command_reports_bad_show_without_traceback(tmp_path):
    show = tmp_path / "bad.toml"
    show.write_text(SHOW.replace('type = "tone"', 'type = "tonee"', 1))
    proc = subprocess.run([sys.executable, "-m", "severed", "render", "--show", str(show),
                           "--seconds", "1", "--out", str(tmp_path / "x.wav")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "bad.toml" in proc.stderr and "tone" in proc.stderr
