"""``severed loudness`` and the loudness step of ``severed precompute``."""

import os

import pytest

from severed.cli import main
from severed.loudness import calibration

SHOW = """
[show]
name = "pair"
initial_scene = "near"
[scenes.near]
loudness_lufs = -20
[scenes.near.layers.t]
type = "tone"
freq_hz = 440
gain_db = -30
[scenes.far]
loudness_lufs = -35
[scenes.far.layers.n]
type = "noise"
color = "pink"
gain_db = -20
[scenes.off.layers.t]
type = "tone"
gain_db = -40
[[transitions]]
from = "near"
to = "far"
after_s = 5
"""


@pytest.fixture(autouse=True)
def short_renders(monkeypatch):
    monkeypatch.setattr(calibration, "RENDER_S", 10.0)


@pytest.fixture
def show(tmp_path):
    path = tmp_path / "pair.toml"
    path.write_text(SHOW)
    return path


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_each_scenes_target_measured_loudness_and_gain(tmp_path, show, capsys):
    cache = tmp_path / "cache"
    code, out, err = run(["loudness", show, "--cache", cache, "--verify"], capsys)
    assert code == 0, out + err
    assert "measuring scene near" in err and "measuring scene far" in err
    lines = out.splitlines()
    assert "at tension 0.3, 2 x 10 s" in lines[0] and str(cache) in lines[0]
    assert lines[1].split() == ["scene", "target", "measured", "gain", "verified"]
    near = lines[2].split()
    assert near[:2] == ["near", "-20.0"]
    measured, gain, verified = float(near[2]), float(near[3]), float(near[5])
    assert gain == pytest.approx(-20.0 - measured, abs=0.11)
    assert verified == pytest.approx(-20.0, abs=0.2)
    assert lines[3].split()[:2] == ["far", "-35.0"]
    assert lines[4] == "no target (they play at their layers' gains): off"
    # measured once: the second run only reads the cache
    code, out, err = run(["loudness", show, "--cache", cache], capsys)
    assert code == 0 and "measuring" not in err


def test_a_target_out_of_reach_is_named_and_fails(tmp_path, show, capsys):
    show.write_text(SHOW.replace("gain_db = -30", "gain_db = -120"))
    code, out, _ = run(["loudness", show, "--cache", tmp_path / "c"], capsys)
    assert code == 1
    assert "silent: no gain reaches the target" in out.splitlines()[2]


def test_precompute_measures_and_prune_keeps_the_measurements(tmp_path, show, capsys):
    cache = tmp_path / "cache"
    code, out, err = run(["precompute", "--quiet", "--show", show, "--cache", cache,
                          "--prune"], capsys)
    assert code == 0, err
    assert "loudness: near " in out and "far " in out
    notes = sorted(f for f in os.listdir(cache) if f.startswith("loudness-"))
    assert [n.split("-")[1] for n in notes] == ["far", "near"]
    # the daemon's engine finds them
    code, out, err = run(["loudness", show, "--cache", cache], capsys)
    assert "measuring" not in err
