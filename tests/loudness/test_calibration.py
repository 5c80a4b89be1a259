"""Loudness targets that hold: each scene with a loudness_lufs renders at it (BS.1770
integrated loudness, within 1 LU), whatever its layers' gains; the measurement is made
offline, kept in the cache under the scene's content, and applied by the engine."""

import dataclasses
import logging
import math

import numpy as np
import pytest

from severed.commands.common import load_inputs
from severed.config import load_show, load_show_text
from severed.loop import EventLog, RenderLoop
from severed.loudness import calibration
from severed.loudness.meter import integrated_loudness
from severed.precompute.cache import Cache

from capture_sink import Capture

SR = 48000

TONES = """
[show]
name = "tones"
initial_scene = "a"
[scenes.a]
loudness_lufs = -20
[scenes.a.layers.t]
type = "tone"
freq_hz = 440
gain_db = -40
[scenes.b]
loudness_lufs = -30
[scenes.b.layers.n]
type = "noise"
color = "pink"
gain_db = -12
[scenes.c.layers.t]
type = "tone"
freq_hz = 220
gain_db = -30
[[transitions]]
from = "a"
to = "b"
after_s = 20
crossfade_s = 0
curve = "cut"
"""


@pytest.fixture(autouse=True)
def short_renders(request, monkeypatch):
    """The tone show's scenes are steady: 10 s tell their loudness as well as 60 s."""
    if "lumon" not in request.node.name:
        monkeypatch.setattr(calibration, "RENDER_S", 10.0)


def tones(text=TONES):
    return load_show_text(text, "tones.toml")


def play(show, cache, seconds, seed=4, block=1000):
    site, _, _ = load_inputs()
    sink = Capture()
    loop = RenderLoop(show, site, sink, seed=seed, block_frames=block, cache=cache,
                      event_log=EventLog(keep=None))
    loop.run(seconds=seconds)
    return loop, sink.audio()


def test_scenes_play_at_their_targets_once_measured(tmp_path):
    cache = Cache(tmp_path / "cache")
    measured = []
    results = calibration.calibrate(tones(), cache, progress=measured.append)
    assert measured == ["a", "b"]  # c has no target
    by = {r.scene: r for r in results}
    alone, _ = calibration.render_scene(tones(), "a", cache, seconds=10.0)
    unit = integrated_loudness(alone, SR)  # the tone at its layer's -40 dB: about -40.7
    assert by["a"].measured_lufs == pytest.approx(unit, abs=0.02)
    assert by["a"].gain_db == pytest.approx(-20.0 - by["a"].measured_lufs)
    loop, audio = play(tones(), cache, 40.0)
    assert loop.engine.scenes["c"].loudness_gain == 1.0
    assert loop.status()["loudness_unmeasured"] == []
    assert integrated_loudness(audio[2 * SR:19 * SR], SR) == pytest.approx(-20.0, abs=0.2)
    assert integrated_loudness(audio[22 * SR:], SR) == pytest.approx(-30.0, abs=0.5)


def test_a_moved_target_needs_no_new_measurement_an_edited_layer_does(tmp_path):
    cache = Cache(tmp_path / "cache")
    calibration.calibrate(tones(), cache)
    measured = []
    moved = tones(TONES.replace("loudness_lufs = -20", "loudness_lufs = -26"))
    results = calibration.calibrate(moved, cache, progress=measured.append)
    assert measured == [] and results[0].target_lufs == -26.0
    louder = tones(TONES.replace("gain_db = -40", "gain_db = -34"))
    results = calibration.calibrate(louder, cache, progress=measured.append)
    assert measured == ["a"]
    # six dB more in the layer, six dB less from the calibration: the same loudness
    first = calibration.calibrate(tones(), cache)[0].measured_lufs
    assert results[0].measured_lufs == pytest.approx(first + 6.0, abs=0.02)
    _, audio = play(louder, cache, 10.0)
    assert integrated_loudness(audio[2 * SR:], SR) == pytest.approx(-20.0, abs=0.2)


def test_without_a_measurement_a_scene_plays_at_unit_gain_and_one_warning_says_so(
        tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="severed.loudness")
    loop, audio = play(tones(), Cache(tmp_path / "empty"), 5.0)
    assert loop.engine.scenes["a"].loudness_gain == 1.0
    assert loop.status()["loudness_unmeasured"] == ["a", "b"]  # for severed doctor
    unit, _ = calibration.render_scene(tones(), "a", Cache(None), seconds=5.0)
    assert integrated_loudness(audio[2 * SR:], SR) == pytest.approx(
        integrated_loudness(unit[2 * SR:], SR), abs=0.02)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "no calibration for scenes a, b of show tones" in warnings[0]
    assert "run `severed precompute`" in warnings[0]


def test_a_cache_that_cannot_be_written_keeps_the_measurement_for_the_run(tmp_path,
                                                                            caplog):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    cache = Cache(blocked / "cache")
    results = calibration.calibrate(tones(), cache)
    assert "cannot be written" in caplog.text
    assert [r.scene for r in calibration.lookup(
        play(tones(), cache, 0.1)[0].engine, cache) if r.measured_lufs is not None] == \
        ["a", "b"]
    assert results[0].gain_db == pytest.approx(-20.0 - results[0].measured_lufs)


def test_a_silent_scene_gets_no_gain(tmp_path):
    silent = TONES.replace("gain_db = -40", "gain_db = -120")
    results = calibration.calibrate(tones(silent), Cache(tmp_path / "c"))
    assert results[0].measured_lufs == -math.inf and results[0].gain_db == 0.0
    assert calibration.calibrate(tones(silent), Cache(tmp_path / "c"))[0].measured_lufs \
        == -math.inf  # kept as such, not measured again


# ------------------------------------------------------------ the built-in show

@pytest.fixture(scope="module")
def lumon_cache(tmp_path_factory):
    """The lumon show's instruments and loudness measurements, made once."""
    cache = Cache(tmp_path_factory.mktemp("lumon-cache"))
    calibration.calibrate(load_show("lumon"), cache)
    return cache


def moved_lumon():
    show = load_show("lumon")
    scenes = dict(show.scenes)
    scenes["innie"] = dataclasses.replace(scenes["innie"], loudness_lufs=-18.0)
    scenes["outie"] = dataclasses.replace(scenes["outie"], loudness_lufs=-36.0)
    return dataclasses.replace(show, scenes=scenes)


@pytest.mark.parametrize("which, scene, target", [
    ("moved", "innie", -18.0), ("moved", "outie", -36.0),
    ("lumon", "testing_floor", -26.0), ("lumon", "mde", -26.0)])
def test_each_lumon_scene_renders_at_its_target(lumon_cache, which, scene, target):
    """A representative render other than the measured ones (another seed, another
    block size) at the nominal tension, with the gain the engine takes from the
    cache: within 1 LU of the target, even with innie 5 dB up and outie 4 dB down."""
    show = moved_lumon() if which == "moved" else load_show("lumon")
    assert show.scenes[scene].loudness_lufs == target
    # the moved targets use the measurements of lumon's own: nothing is measured again
    results = calibration.calibrate(show, lumon_cache, progress=pytest.fail)
    gain = {r.scene: r.gain_db for r in results}[scene]
    audio, engine = calibration.render_scene(show, scene, lumon_cache, seed=23,
                                             block_frames=1536, gain_db=gain)
    loudness = integrated_loudness(audio, SR)
    assert loudness == pytest.approx(target, abs=1.0), (scene, loudness, gain)
    # the engine of a RenderLoop applies the same gain from the cache
    loop = RenderLoop(show, load_inputs()[0], Capture(), cache=lumon_cache)
    assert loop.engine.scenes[scene].loudness_gain == pytest.approx(10 ** (gain / 20))
    assert np.abs(audio).max() <= 10 ** (-1.0 / 20) + 1e-4  # the limiter's ceiling
