"""Booths as daemons on a real Mosquitto: status and its last will, retained state,
commands and replies, the ACL, and a group's scene changes starting together."""

import json
import time

from fleet_rig import Watcher, wait_for

ALIGN_MS = 5.0


def scene_changes(booth):
    return [r for r in booth.records("scene")]


def group_changes(booth, to):
    """Scene records of ``booth`` into ``to`` that the group scheduled."""
    return [r for r in booth.records("scene") if r["to"] == to and "at" in r]


def test_status_state_commands_and_a_group_change(booths, watcher, broker):
    elevator, corridor, office = booths("elevator", "corridor", "office")
    tech = watcher().wait_connected()

    # status online (retained) and a state for each; the group forms, led by the
    # configured leader.
    for name in ("elevator", "corridor", "office"):
        wait_for(lambda n=name: tech.last(f"severed/{n}/status") == "online", 20,
                 f"{name} online")

    def group_of(name):
        state = tech.last_json(f"severed/{name}/state")
        return state and state["group"]["role"] != "standalone" and state["group"]

    for name in ("elevator", "corridor", "office"):
        group = wait_for(lambda n=name: group_of(n), 20, f"{name} in its group")
        assert group["leader"] == "elevator"
        assert group["role"] == ("leader" if name == "elevator" else "member")
    state = tech.last_json("severed/office/state")
    assert state["scene"] == "up" and state["show"] == "floor"
    assert state["underruns"] == 0 and state["sensors"] == {"door": "open"}

    # A late subscriber gets the retained status and state at once.
    late = Watcher(broker, topics=("severed/+/status", "severed/+/state")).wait_connected()
    try:
        wait_for(lambda: late.last("severed/corridor/status") == "online", 3, "retained status")
        assert late.last_json("severed/corridor/state")["site"] == "corridor"
    finally:
        late.close()

    # Commands: the control socket's replies, its checks included.
    tech.publish("severed/office/command", {"cmd": "volume", "db": -6, "id": "v1"})
    reply = wait_for(lambda: _reply(tech, "office", "v1"), 20, "the volume reply")
    assert reply["ok"] is True and reply["posted"]["db"] == -6.0
    wait_for(lambda: tech.last_json("severed/office/state")["volume_db"] == -6.0, 20,
             "the state to show the new volume")
    tech.publish("severed/office/command", {"cmd": "volume", "db": 99, "id": "v2"})
    reply = wait_for(lambda: _reply(tech, "office", "v2"), 20, "the refusal")
    socket_reply = _socket_reply(office, db=99)
    assert reply["ok"] is False and reply["error"] == socket_reply["error"]
    assert "outside -80..12" in reply["error"]
    tech.publish("severed/office/command", "not json")
    wait_for(lambda: any("malformed" in p for _, p in tech.since(0, "severed/office/reply")),
             20, "the malformed-request reply")

    # The group: the corridor's door closes; the leader hears it and decides; every
    # member starts the change at the same wall-clock time on its own sample clock.
    corridor.trigger("door.closed")
    members = (elevator, corridor, office)
    changes = [wait_for(lambda b=b: group_changes(b, "down"), 20, f"{b.name} going down")[0]
               for b in members]
    assert len({c["at"] for c in changes}) == 1, changes
    assert all("late_ms" not in c for c in changes), changes
    heard = [c["heard_at"] for c in changes]
    spread_ms = (max(heard) - min(heard)) * 1000
    assert spread_ms <= ALIGN_MS, changes
    assert changes[0]["reason"] == "door.closed" and changes[0]["leader"] == "elevator"
    # No member changed on its own before the group did.
    for booth in members:
        assert [r["to"] for r in scene_changes(booth)] == ["down"], booth.records("scene")
    # The scene change reached the events topic of each booth, and the state.
    for name in ("elevator", "corridor", "office"):
        wait_for(lambda n=name: tech.last_json(f"severed/{n}/state")["scene"] == "down", 20,
                 f"{name}'s state in scene down")
    events = [json.loads(p) for _, p in tech.since(0, "severed/office/events")]
    assert any(e["type"] == "scene" and e["to"] == "down" for e in events)

    # A technician's scene command on a member goes to the leader, and the group follows.
    tech.publish("severed/office/command", {"cmd": "scene", "name": "up", "id": "s1"})
    assert wait_for(lambda: _reply(tech, "office", "s1"), 20, "the scene reply")["ok"]
    changes = [wait_for(lambda b=b: group_changes(b, "up"), 20, f"{b.name} going up")[0]
               for b in members]
    assert len({c["at"] for c in changes}) == 1
    heard = [c["heard_at"] for c in changes]
    assert (max(heard) - min(heard)) * 1000 <= ALIGN_MS


def _reply(watcher, name, request_id):
    for _, payload in reversed(watcher.since(0, f"severed/{name}/reply")):
        try:
            reply = json.loads(payload)
        except ValueError:
            continue
        if reply.get("id") == request_id:
            return reply
    return None


def _socket_reply(booth, **fields):
    from severed.errors import ControlError

    try:
        return booth.request("volume", **fields)
    except ControlError as exc:  # the client raises on ok: false
        return {"ok": False, "error": str(exc)}


def test_the_acl_keeps_booths_to_their_own_topics(booths, watcher, broker):
    elevator, = booths("elevator", group=None, extra="home_assistant = true\n")
    tech = watcher(topics=("severed/#", "homeassistant/#")).wait_connected()
    wait_for(lambda: tech.last_json("severed/elevator/state"), 20, "elevator's state")

    # Home Assistant: the booth as a device, and what it sets arrives as commands.
    node = "homeassistant/{}/severed_elevator/{}/config"
    select = wait_for(lambda: tech.last_json(node.format("select", "scene")), 20, "discovery")
    assert select["options"] == ["up", "down"]
    assert select["command_topic"] == "severed/elevator/set/scene"
    assert select["availability_topic"] == "severed/elevator/status"
    for component, obj in (("number", "volume"), ("switch", "mute"), ("sensor", "tension"),
                           ("sensor", "underruns"), ("binary_sensor", "online")):
        assert tech.last_json(node.format(component, obj))["unique_id"] == f"severed_elevator_{obj}"
    tech.publish("severed/elevator/set/mute", "ON")
    wait_for(lambda: tech.last_json("severed/elevator/state")["muted"] is True, 20, "mute")
    tech.publish("severed/elevator/set/mute", "OFF")
    tech.publish("severed/elevator/set/volume", "-12")
    wait_for(lambda: tech.last_json("severed/elevator/state")["volume_db"] == -12.0
             and tech.last_json("severed/elevator/state")["muted"] is False, 20, "volume")

    # Anonymous and a wrong password get nothing; a booth may not command another.
    anonymous = watcher(user="", password="")
    wrong = watcher(user="corridor", password="guess")
    wait_for(lambda: getattr(anonymous, "error", None) and getattr(wrong, "error", None), 20,
             "the refusals")
    assert "not authorised" in anonymous.error or "refused the login" in anonymous.error
    assert "refused the login" in wrong.error
    corridor = watcher(user="corridor", topics=("severed/corridor/#",)).wait_connected()
    corridor.publish("severed/elevator/command", {"cmd": "mute", "id": "m"})
    # ... nor forge its state, nor read another's topics.
    corridor.publish("severed/elevator/state", {"scene": "forged"}, retain=True)
    snoop = watcher(user="corridor", topics=("severed/elevator/#",)).wait_connected()
    tech.publish("severed/elevator/command", {"cmd": "ping", "id": "p"})
    wait_for(lambda: _reply(tech, "elevator", "p"), 20, "the technician's ping reply")
    time.sleep(0.3)
    assert _reply(tech, "elevator", "m") is None
    assert elevator.status()["muted"] is False and elevator.status()["volume_db"] == -12.0
    assert tech.last_json("severed/elevator/state")["scene"] == "up"
    # Mosquitto's ACL file grants the subscription and delivers nothing.
    assert snoop.messages == []


def test_a_wrong_password_or_a_denied_topic_is_a_clear_message_not_a_crash(booths, tmp_path):
    import subprocess
    import sys

    bad, = booths("corridor", group=None, password="not-the-password", wait=False)
    # "stray" may log in, but the ACL gives it no group and its topics are another's.
    denied, = booths("stray", group="floor", leader="",
                     extra='base_topic = "severed/elevator"\n')

    def problems(booth):
        return booth.status().get("fleet", {}).get("problems")

    text = wait_for(lambda: problems(bad), 20, "the login problem")[0]
    assert "refused the login" in text
    wait_for(lambda: len(problems(denied) or []) >= 2, 20, "the ACL problems")
    assert problems(denied) == [
        "the broker does not pass this booth's messages on severed/elevator/status back to "
        "it: the ACL must let user 'stray' read and write severed/elevator/# (see "
        "docs/fleet.md)",
        "the broker does not pass this booth's messages on severed/groups/floor/hello back "
        "to it: the ACL must let user 'stray' read and write severed/groups/floor/# (see "
        "docs/fleet.md)"]
    for booth, expected in ((bad, "broker refused the login"),
                            (denied, "broker does not pass this booth's messages")):
        env = {"SEVERED_CONTROL": booth.socket, "PATH": "/usr/bin:/bin"}
        status = subprocess.run([sys.executable, "-m", "severed", "status"], env=env,
                                capture_output=True, text=True, timeout=20)
        assert status.returncode == 0, status.stderr
        assert f"fleet      PROBLEM: the {expected}" in status.stdout
        doctor = subprocess.run([sys.executable, "-m", "severed", "doctor", "--config",
                                 str(booth.config)], env=env, capture_output=True, text=True,
                                timeout=60)
        line = next(l for l in doctor.stdout.splitlines() if "fleet" in l)
        assert "fail" in line.lower() and expected in line, doctor.stdout
        # Still playing.
        assert booth.proc.poll() is None
        assert booth.status()["blocks_rendered"] > 0
