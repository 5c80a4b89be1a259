"""[fleet] in the site config, and the group's leader rule."""

import pytest

from severed.config.site import load_site_text
from severed.errors import ConfigError
from severed.fleet.group import GONE_AFTER_S, Group
from severed.fleet.settings import FLEET_FIELDS


def load(text, tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(text)
    return load_site_text(text, str(path))


def test_without_a_fleet_section_nothing_changes(tmp_path):
    assert load('[site]\nname = "lift"\n', tmp_path).fleet is None


def test_defaults_and_derived_topics(tmp_path):
    (tmp_path / "pw").write_text("secret\n")
    cfg = load('[site]\nname = "lift"\n[fleet]\nhost = "broker.local"\nusername = "lift"\n'
               'password_file = "pw"\ngroup = "floor"\n', tmp_path).fleet
    assert (cfg.host, cfg.port, cfg.keepalive_s, cfg.lead_ms) == ("broker.local", 1883, 10, 400.0)
    assert cfg.base == "severed/lift" and cfg.group_base == "severed/groups/floor"
    assert cfg.client_name == "severed-lift"
    assert cfg.password_file == str(tmp_path / "pw")  # relative to the config file
    tls = load('[site]\nname = "lift"\n[fleet]\ntls = true\n', tmp_path).fleet
    assert tls.port == 8883


def test_every_problem_is_named_by_file_line_and_key(tmp_path):
    with pytest.raises(ConfigError) as info:
        load('[site]\nname = "lift"\n[fleet]\nhost = ""\nport = 70000\nbase_topic = "a/#"\n'
             'leader = "x y"\nlead_ms = 10\nkeepalive = 5\npassword_file = "pw"\n', tmp_path)
    path = tmp_path / "site.toml"
    assert info.value.problems == [
        f"{path}:9: fleet.keepalive: unknown key (did you mean 'keepalive_s'?)",
        f"{path}:4: fleet.host: must not be empty",
        f"{path}:5: fleet.port: 70000 is above the maximum 65535",
        f"{path}:6: fleet.base_topic: 'a/#' is not a topic to publish on: no + or # "
        "wildcards, spaces, empty levels or leading/trailing /",
        f"{path}:7: fleet.leader: 'x y': use letters, digits, _ and - (it is a topic level)",
        f"{path}:8: fleet.lead_ms: 10 is below the minimum 50",
        f"{path}:10: fleet.password_file: needs a username to go with it",
    ]


def test_every_key_is_documented_in_docs_fleet():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "fleet.md").read_text()
    assert [f.name for f in FLEET_FIELDS if f"| `{f.name}` |" not in doc] == []


def test_the_configured_leader_leads_while_it_is_heard():
    g = Group("floor", me="office", leader="elevator")
    assert g.leader(0.0) == "office"  # alone so far
    g.heard("elevator", 1.0)
    g.heard("corridor", 1.0)
    assert g.leader(1.5) == "elevator" and g.note == ""
    assert g.members(1.5) == ["corridor", "elevator", "office"]
    # Silent for GONE_AFTER_S: the first name among the rest leads, and says why.
    g.heard("corridor", 4.0)
    assert g.leader(1.0 + GONE_AFTER_S + 0.1) == "corridor"
    assert g.note == "leader elevator lost; corridor leads"


def test_without_a_configured_leader_the_first_name_leads():
    g = Group("floor", me="office")
    g.heard("corridor", 0.0)
    assert g.leader(0.1) == "corridor"
    assert g.leader(GONE_AFTER_S + 0.1) == "office"


def test_only_newer_changes_are_news():
    g = Group("floor", me="office")
    assert g.news({"scene": "down", "at": 10.0})
    assert not g.news({"scene": "up", "at": 10.0})
    assert not g.news({"scene": "up", "at": 9.0})
    assert not g.news({"scene": "up", "at": "soon"})
    assert g.news({"scene": "up", "at": 11.0}) and g.current["scene"] == "up"
