"""The leader's decisions, without a broker: what it publishes for the changes its
show machine hands over."""

import json
import types

import pytest

pytest.importorskip("paho.mqtt.client")

from severed.eventlog import EventLog  # noqa: E402
from severed.fleet.link import BoothLink  # noqa: E402
from severed.fleet.settings import FleetConfig  # noqa: E402
from severed.show.events import ChangeScene  # noqa: E402


class Loop:
    sample_rate = 48000
    sink = None

    def __init__(self):
        self.event_log = EventLog()
        self.scheduled = []
        self.posted = []

    def schedule_scene(self, at, scene, **data):
        self.scheduled.append((at, scene))

    def post(self, event):
        self.posted.append(event)


class Conn:
    connected = True
    error = None

    def __init__(self):
        self.sent = []

    def publish(self, topic, payload, qos=0, retain=False):
        self.sent.append((topic, payload))
        return True


def leader(wall):
    scenes = {"up": types.SimpleNamespace(overlay=False),
              "down": types.SimpleNamespace(overlay=False)}
    link = BoothLink(FleetConfig(site="lift", group="floor", leader="lift"), Loop(), None,
                     status=lambda: {"scene": "up"}, scenes=lambda: scenes,
                     wall=lambda: wall[0])
    link.conn = Conn()
    link.grouped = True
    return link


def decisions(link):
    return [json.loads(p)["scene"] for t, p in link.conn.sent if t == "severed/groups/floor/scene"]


def test_a_new_change_is_decided_while_another_is_pending_but_a_refiring_one_is_not():
    wall = [1000.0]
    link = leader(wall)
    link._decide("up", None, None, "group formed")  # starts at 1000.4
    wall[0] = 1000.1
    door = ChangeScene("up", "down", 0.5, reason="door.closed")
    link._held.extend([door, door, door])  # the same change, held in three blocks
    link._settle_held(True)
    assert decisions(link) == ["up", "down"]
    assert [s for _, s in link.loop.scheduled] == ["up", "down"]
    assert link.loop.scheduled[1][0] == pytest.approx(1000.5)
    wall[0] = 1000.6  # once started, the same change again is a new one
    link._held.append(door)
    link._settle_held(True)
    assert decisions(link) == ["up", "down", "down"]


def test_without_the_broker_a_held_change_plays_here():
    link = leader([0.0])
    link.conn.connected = False
    link._held.append(ChangeScene("up", "down", 0.5, reason="door.closed"))
    link._settle_held(False)
    assert decisions(link) == []
    (event,) = link.loop.posted
    assert event.type == "cmd.scene" and event.data == {"scene": "down", "crossfade_s": 0.5}


def test_without_paho_the_message_says_what_to_install(monkeypatch):
    import sys

    from severed.errors import SeveredError
    from severed.fleet.mqtt import Connection

    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)  # import fails
    with pytest.raises(SeveredError, match=r"apt install python3-paho-mqtt.*severed\[fleet\]"):
        Connection(FleetConfig(site="lift"))


def test_an_unreadable_password_file_is_named(tmp_path):
    from severed.errors import SeveredError
    from severed.fleet.mqtt import Connection

    missing = tmp_path / "nope"
    with pytest.raises(SeveredError, match=f"password_file {missing}: cannot read it"):
        Connection(FleetConfig(site="lift", username="lift", password_file=str(missing)))
