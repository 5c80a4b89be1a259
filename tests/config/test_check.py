"""``severed check`` end to end, as a technician runs it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEVERED = ROOT / ".venv" / "bin" / "severed"
EXAMPLE_SITE = ROOT / "installation" / "severed.toml"

SITE = """\
[site]
show = "show.toml"
[audio]
device = "null"
[sensors.door]
kind = "door"
pin = 17
[sensors.motion]
kind = "pir"
pin = 27
"""

SHOW = """\
[show]
name = "tiny"
initial_scene = "outie"
[scenes.outie]
[scenes.innie]
[scenes.flash]
overlay = true
[[transitions]]
from = "outie"
to = "innie"
on = "door.closed"
[[transitions]]
from = "innie"
to = "outie"
after_s = 30
"""

SCENARIO = """\
duration_s = 60
[[timeline]]
at_s = 1
sensor = "door"
level = 1
[[timeline]]
at_s = 5
command = "scene"
scene = "outie"
"""


def severed(*args, cwd=None):
    proc = subprocess.run([str(SEVERED), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ), timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def files(tmp_path):
    (tmp_path / "site.toml").write_text(SITE)
    (tmp_path / "show.toml").write_text(SHOW)
    (tmp_path / "visit.toml").write_text(SCENARIO)
    return tmp_path


def test_good_files_are_ok(files):
    rc, out, err = severed("check", files / "visit.toml", files / "site.toml", files / "show.toml")
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0] == (f"{files / 'site.toml'}: ok (site config 'severed': show 'tiny', "
                        "2 sensors, 48000 Hz, device 'null')")
    assert lines[1] == (f"{files / 'show.toml'}: ok (show 'tiny', 2 scenes, 1 overlays, "
                        "0 layers, 2 transitions)")
    assert lines[2] == (f"{files / 'visit.toml'}: ok (scenario, 60 s, 2 steps, seed 0; "
                        "checked against the site and show)")
    # the overlay nobody switches on is reported, as a warning
    assert err.splitlines() == [f"{files / 'show.toml'}:6: scenes.flash: warning: no "
                                "transition reaches this overlay from the initial scene "
                                "(only a cmd.scene command can play it)"]


def test_every_problem_in_every_file_and_exit_1(files):
    (files / "site.toml").write_text(SITE.replace('device = "null"', 'device = "null"\n'
                                                  'sample_rate = 8000\nblok_frames = 512'))
    (files / "visit.toml").write_text(SCENARIO.replace('scene = "outie"', 'scene = "outi"'))
    (files / "broken.toml").write_text("[show\n")
    rc, out, err = severed("check", files / "site.toml", files / "visit.toml",
                           files / "broken.toml", "--show", files / "show.toml", "-q")
    assert rc == 1
    assert out == ""
    assert "Traceback" not in err
    assert err.splitlines() == [
        f"{files / 'broken.toml'}:1: TOML syntax: Expected ']' at the end of a table "
        "declaration (column 6)",
        f"{files / 'site.toml'}:6: audio.blok_frames: unknown key (did you mean "
        "'block_frames'?)",
        f"{files / 'site.toml'}:5: audio.sample_rate: 8000 is not one of 44100, 48000, "
        "88200, 96000",
        f"{files / 'visit.toml'}:9: timeline[2].scene: no scene 'outi' in show 'tiny' "
        "(did you mean 'outie'?)",
    ]


def test_site_with_a_show_that_does_not_fit_its_sensors(files):
    (files / "show.toml").write_text(SHOW.replace('on = "door.closed"', 'on = "button.press"'))
    rc, out, err = severed("check", files / "site.toml")
    assert rc == 1 and out == ""
    assert err.splitlines()[-1] == (f"{files / 'show.toml'}:11: transitions[1].on: no sensor "
                                    f"'button' in the site config {files / 'site.toml'}")


def test_kind_option_and_undetectable_file(files):
    (files / "odd.toml").write_text("colour = 'blue'\n")
    rc, out, err = severed("check", files / "odd.toml")
    assert rc == 1 and "cannot tell what this file is" in err
    rc, out, err = severed("check", "--kind", "scenario", files / "odd.toml")
    assert rc == 1
    assert err.splitlines() == [
        f"{files / 'odd.toml'}:1: colour: unknown key",
        f"{files / 'odd.toml'}: duration_s: is required"]


def test_missing_file(files):
    rc, out, err = severed("check", files / "nope.toml")
    assert rc == 1 and err.strip().endswith("nope.toml: cannot read: No such file or directory")


def test_example_site_config_is_valid():
    from severed.config import load_site

    warnings = []
    site = load_site(EXAMPLE_SITE, warnings=warnings)
    assert warnings == []
    by = {s.name: s for s in site.sensors}
    assert (by["door"].kind, by["door"].pin, by["door"].pull, by["door"].active_state) == \
        ("door", 17, "up", "low")
    assert (by["motion"].kind, by["motion"].pin, by["motion"].pull,
            by["motion"].active_state) == ("pir", 27, "down", "high")
    assert (by["reward"].kind, by["reward"].pin, by["reward"].pull,
            by["reward"].active_state) == ("button", 23, "up", "low")
    assert by["motion"].warmup_s == 60 and by["motion"].merge_s == 3


def test_example_site_config_sets_every_option():
    """The example documents every key: each declared field appears in it."""
    import tomllib

    from severed.config.site import (AUDIO_FIELDS, HOURS_FIELDS, SENSOR_FIELDS,
                                     SITE_FIELDS)

    text = EXAMPLE_SITE.read_text()
    data = tomllib.loads(text)
    for section, fields in (("site", SITE_FIELDS), ("audio", AUDIO_FIELDS),
                            ("hours", HOURS_FIELDS)):
        # A key without a default (the DAC's name) is shown commented out.
        shown = {f.name for f in fields if f.default is not None or f.required}
        assert shown == set(data[section]), section
        for f in fields:
            if f.name not in shown:
                assert f"\n# {f.name} = " in text, f.name
    for name, table in data["sensors"].items():
        assert {f.name for f in SENSOR_FIELDS} == set(table), name


def test_example_site_config_passes_check_with_its_show():
    from severed.config import builtin_shows

    rc, out, err = severed("check", EXAMPLE_SITE)
    if "lumon" not in builtin_shows():
        pytest.skip("the built-in show lumon is not written yet")
    assert rc == 0, err
    assert out.startswith(f"{EXAMPLE_SITE}: ok (site config 'lobby'")


def test_development_site_config_is_valid():
    """The site config used when none is given (package data) passes the checks."""
    from importlib import resources

    from severed.config import load_site

    path = resources.files("severed") / "data" / "dev-site.toml"
    if not path.is_file():
        pytest.skip("no development site config in the package")
    site = load_site(str(path))
    assert site.pin_factory == "mock" and {s.name for s in site.sensors} >= {"door", "motion"}


AMP100_SITE = """\
[site]
show = "show.toml"
[audio]
device = "null"
dac = "hifiberry-amp100"
[sensors.door]
kind = "door"
pin = {door}
[sensors.motion]
kind = "pir"
pin = 27
"""


def test_amp100_site_with_the_door_on_its_reset_pin_fails_check(files):
    (files / "site.toml").write_text(AMP100_SITE.format(door=17))
    rc, out, err = severed("check", files / "site.toml")
    assert rc == 1 and out == ""
    assert "Traceback" not in err
    assert err.splitlines() == [
        f"{files / 'site.toml'}:8: sensors.door.pin: sensor 'door' is on BCM 17, which the "
        "HiFiBerry Amp100 ([audio] dac = \"hifiberry-amp100\") takes (reset line of its "
        "DAC): move the sensor to a pin free on that board (BCM 5, 6, 12, 13, 16, 22, 23, "
        "24, 25 or 26)"]


def test_amp100_site_with_the_door_on_5_passes_check(files):
    (files / "site.toml").write_text(AMP100_SITE.format(door=5))
    rc, out, err = severed("check", files / "site.toml")
    assert rc == 0, err
    assert out.startswith(f"{files / 'site.toml'}: ok (site config")
    assert out.splitlines()[0].endswith(", DAC HiFiBerry Amp100)")  # the board, by name
    assert "site.toml" not in err  # the show's own warning may be there; none on the site


def test_misspelt_dac_fails_check_with_a_suggestion(files):
    (files / "site.toml").write_text(AMP100_SITE.format(door=5).replace(
        "hifiberry-amp100", "hifiberry-amp10"))
    rc, out, err = severed("check", files / "site.toml")
    assert rc == 1 and "Traceback" not in err
    assert err.startswith(f"{files / 'site.toml'}:5: audio.dac: 'hifiberry-amp10' is not a "
                          "DAC severed knows (did you mean 'hifiberry-amp100'?); known: none, ")
