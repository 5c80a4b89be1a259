import textwrap

import pytest

from severed.config import (check_show_for_site, detect_kind, load_scenario,
                            load_scenario_text, load_show_text, load_site_text)
from severed.config.model import Scenario, ScenarioStep
from severed.errors import ConfigError

SCENARIO = """\
seed = 7
duration_s = 120

[[timeline]]
at_s = 40
command = "scene"
scene = "innie"

[[timeline]]
at_s = 10
sensor = "door"
level = 1

[[timeline]]
at_s = 10
command = "volume"
db = -6

[[timeline]]
at_s = 50
command = "trigger"
event = "reward.press"

[[timeline]]
at_s = 60
command = "mute"
"""

SITE = """\
[sensors.door]
kind = "door"
pin = 17
[sensors.motion]
kind = "pir"
pin = 27
[sensors.reward]
kind = "button"
pin = 23
"""

SHOW = """\
[show]
initial_scene = "outie"
[scenes.outie]
[scenes.innie]
[[transitions]]
from = "outie"
to = "innie"
on = "door.closed"
"""


def scenario(text, **kw):
    return load_scenario_text(textwrap.dedent(text), "sc.toml", **kw)


def problems(text, **kw):
    with pytest.raises(ConfigError) as info:
        scenario(text, **kw)
    return info.value.problems


def test_scenario_steps_sorted_stably_by_time():
    s = scenario(SCENARIO)
    assert s == Scenario(path="sc.toml", duration_s=120.0, seed=7, steps=(
        ScenarioStep(at_s=10.0, sensor="door", level=1),
        ScenarioStep(at_s=10.0, command="volume", args={"db": -6.0}),
        ScenarioStep(at_s=40.0, command="scene", args={"scene": "innie"}),
        ScenarioStep(at_s=50.0, command="trigger", args={"event": "reward.press"}),
        ScenarioStep(at_s=60.0, command="mute", args={}),
    ))


def test_scenario_needs_duration_and_valid_steps():
    p = problems("""\
        sed = 1
        [[timeline]]
        at_s = 1
        sensor = "door"
        level = 2
        [[timeline]]
        at_s = 2
        command = "volume"
        [[timeline]]
        at_s = 3
        command = "scene"
        db = 3
        scene = "x"
        [[timeline]]
        at_s = 4
        sensor = "door"
        level = 1
        command = "mute"
        [[timeline]]
        at_s = -1
        command = "unmute"
        """)
    assert p == [
        "sc.toml:1: sed: unknown key (did you mean 'seed'?)",
        "sc.toml: duration_s: is required",
        "sc.toml:5: timeline[1].level: 2 is not one of 0, 1",
        "sc.toml:6: timeline[2].db: is required with command 'volume'",
        "sc.toml:12: timeline[3].db: does not apply to command 'scene'",
        "sc.toml:14: timeline[4]: needs either sensor and level (a sensor edge) or command",
        "sc.toml:20: timeline[5].at_s: -1 is below the minimum 0",
    ]


def test_cross_checks_against_site_and_show():
    site = load_site_text(SITE, "site.toml")
    show = load_show_text(SHOW, "show.toml")
    text = SCENARIO.replace('sensor = "door"', 'sensor = "dor"') \
                   .replace('scene = "innie"', 'scene = "inie"') \
                   .replace('event = "reward.press"', 'event = "reward.closed"')
    p = problems(text, show=show, site=site)
    assert p == [
        "sc.toml:7: timeline[1].scene: no scene 'inie' in show 'show' (did you mean 'innie'?)",
        "sc.toml:11: timeline[2].sensor: no sensor 'dor' in the site config (did you mean 'door'?)",
        "sc.toml:22: timeline[4].event: a button sensor is press or release, not 'closed'",
    ]
    assert len(scenario(SCENARIO, show=show, site=site).steps) == 5


def test_step_after_the_end_is_a_warning():
    warnings = []
    scenario("duration_s = 5\n[[timeline]]\nat_s = 6\ncommand = 'mute'\n", warnings=warnings)
    assert warnings == ["sc.toml:3: timeline[1].at_s: warning: 6 s is after the end "
                        "(duration_s = 5); it never happens"]


def test_detect_kind(tmp_path):
    for kind, text in (("scenario", SCENARIO), ("site", SITE), ("show", SHOW)):
        f = tmp_path / f"{kind}.toml"
        f.write_text(text)
        assert detect_kind(f) == kind
    f = tmp_path / "odd.toml"
    f.write_text("x = 1\n")
    with pytest.raises(ConfigError, match="cannot tell what this file is"):
        detect_kind(f)
    f.write_text(SITE + SHOW)
    with pytest.raises(ConfigError, match="mixes the tables of a show and a site"):
        detect_kind(f)


def test_load_scenario_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(SCENARIO)
    assert load_scenario(f).seed == 7


def test_show_checked_against_site(tmp_path):
    f = tmp_path / "show.toml"
    f.write_text(SHOW.replace('on = "door.closed"', 'on = "door.press"\nif_sensor = { motoin = "start" }')
                 + '[tension]\nsensors = ["reward", "lamp"]\n')
    from severed.config import load_show
    show = load_show(str(f))
    site = load_site_text(SITE, "site.toml")
    errors, warnings = check_show_for_site(show, site)
    assert errors == [
        f"{f}:8: transitions[1].on: 'door' is a door sensor: its states are closed and open, "
        "not 'press'",
        f"{f}:9: transitions[1].if_sensor.motoin: no sensor 'motoin' in the site config "
        "site.toml (did you mean 'motion'?)",
        f"{f}:11: tension.sensors: no sensor 'lamp' in the site config site.toml",
    ]
    assert warnings == []


def test_reaction_events_checked_against_site(tmp_path):
    f = tmp_path / "show.toml"
    f.write_text(SHOW.replace("[scenes.innie]\n", '[scenes.innie.layers.ding]\ntype = "cue"\n')
                 + '[[reactions]]\non = "motoin.start"\ntrigger = "ding"\n')
    from severed.config import load_show
    errors, _ = check_show_for_site(load_show(str(f)), load_site_text(SITE, "site.toml"))
    assert errors == [f"{f}:11: reactions[1].on: no sensor 'motoin' in the site config "
                      "site.toml (did you mean 'motion'?)"]
