"""Faults around a group of booths on a real Mosquitto: the broker killed and started
again, the leader killed, a member restarted. The sound never waits for any of it."""

import os
import signal
import subprocess
import sys
import time

from fleet_rig import PASSWORDS, wait_for


def fleet_of(booth):
    return booth.status().get("fleet", {})


def role(booth):
    return (fleet_of(booth).get("group") or {}).get("role")


def test_broker_lost_mid_show_and_back(booths, watcher, broker):
    elevator, corridor = booths("elevator", "corridor")
    for booth in (elevator, corridor):
        wait_for(lambda b=booth: role(b) in ("leader", "member"), 20, f"{booth.name} grouped")
    before = {b.name: (b.status()["engine_s"], time.monotonic()) for b in (elevator, corridor)}

    broker.kill()
    t0 = time.monotonic()
    for booth in (elevator, corridor):
        wait_for(lambda b=booth: role(b) == "standalone", 2, f"{booth.name} standalone")
    standalone_s = time.monotonic() - t0
    assert standalone_s < 1.0
    # Standalone: a door plays its scene change here and now, with no group time.
    corridor.trigger("door.closed")
    change = wait_for(lambda: [r for r in corridor.records("scene") if r["to"] == "down"], 20,
                      "the corridor's own change")[0]
    assert "at" not in change and change["reason"] == "door.closed"
    assert elevator.status()["scene"] == "up"
    for booth in (elevator, corridor):
        status = booth.status()
        assert status["underruns"] == 0
        # The render loop kept real time through it (the null sink is paced like a card).
        engine_s, then = before[booth.name]
        played, elapsed = status["engine_s"] - engine_s, time.monotonic() - then
        assert played > elapsed - 0.25, (played, elapsed)
        assert status["fleet"]["connected"] is False
        assert "no broker" in status["fleet"]["group"]["note"]

    broker.start()
    tech = watcher().wait_connected()
    for name in ("elevator", "corridor"):
        wait_for(lambda n=name: tech.last(f"severed/{n}/status") == "online", 20,
                 f"{name} online again")
    # The group forms again (the broker forgot its retained scene: the leader's is the
    # group's) and the corridor comes back to it.
    wait_for(lambda: role(corridor) == "member" and role(elevator) == "leader", 20,
             "the group formed again")
    back = wait_for(lambda: [r for r in corridor.records("scene")
                             if r["to"] == "up" and r["t"] > change["t"]], 20,
                    "the corridor rejoining")
    assert back[0]["leader"] == "elevator" and back[0]["reason"] == "group formed"
    assert [r["to"] for r in corridor.records("scene")] == ["down", "up"]
    assert corridor.status()["underruns"] == 0 and elevator.status()["underruns"] == 0


def test_leader_lost_then_a_member_restarts(booths, watcher):
    elevator, corridor, office = booths("elevator", "corridor", "office")
    tech = watcher().wait_connected()
    for booth in (elevator, corridor, office):
        wait_for(lambda b=booth: role(b) in ("leader", "member"), 20, f"{booth.name} grouped")

    # The leader dies: its last will shows it offline; the next in name order leads.
    elevator.kill()
    t0 = time.monotonic()
    wait_for(lambda: tech.last("severed/elevator/status") == "offline", 20, "elevator offline")
    assert time.monotonic() - t0 < 3.0  # within the keepalive (2 s) and its grace
    group = wait_for(lambda: (fleet_of(corridor).get("group") or {}).get("leader") == "corridor"
                     and fleet_of(corridor)["group"], 20, "corridor leading")
    assert group["note"] == "leader elevator lost; corridor leads"
    state = wait_for(lambda: "lost" in (tech.last_json("severed/office/state")["group"]["note"]
                                        or ""), 20, "office's state saying so")
    assert state

    # The group goes on: the office's door changes both remaining booths together.
    office.trigger("door.closed")
    changes = [wait_for(lambda b=b: [r for r in b.records("scene") if "at" in r
                                     and r["to"] == "down"], 20, f"{b.name} down")[0]
               for b in (corridor, office)]
    assert changes[0]["at"] == changes[1]["at"] and changes[0]["leader"] == "corridor"
    assert abs(changes[0]["heard_at"] - changes[1]["heard_at"]) * 1000 <= 5.0

    # A member restarts: it comes back in the group's current scene.
    office.kill()
    wait_for(lambda: tech.last("severed/office/status") == "offline", 20, "office offline")
    office.start().wait_ready()
    wait_for(lambda: office.status()["scene"] == "down", 20, "office back in scene down")

    def rejoined():  # the event log's own thread writes the records a moment later
        records = office.records()
        starts = [i for i, r in enumerate(records) if r["type"] == "start"]
        if len(starts) < 2:  # the restart's start record is not there yet
            return []
        return [r for r in records[starts[-1]:] if r["type"] == "scene"]
    rejoin = wait_for(rejoined, 5, "office's scene record")
    assert rejoin[0]["to"] == "down" and rejoin[0]["at"] == changes[0]["at"]
    assert role(office) == "member"

    # A technician on any booth sees them all, the dead one too.
    env = dict(os.environ, SEVERED_MQTT_PASSWORD=PASSWORDS["technician"])
    listing = subprocess.run([sys.executable, "-m", "severed", "fleet", "--config",
                              str(corridor.config)], env=env, capture_output=True, text=True,
                             timeout=20)
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line.split() for line in listing.stdout.splitlines()[1:]}
    assert rows["elevator"][1] == "OFFLINE"
    assert rows["corridor"][1:5] == ["online", "down", "floor", "leader"]
    assert rows["office"][1:5] == ["online", "down", "floor", "member"]
    assert rows["office"][6] == "0"  # underruns
    wrong = subprocess.run([sys.executable, "-m", "severed", "fleet", "--config",
                            str(corridor.config)], env=dict(env, SEVERED_MQTT_PASSWORD="x"),
                           capture_output=True, text=True, timeout=20)
    assert wrong.returncode == 1
    assert "severed: error: broker 127.0.0.1:" in wrong.stderr
    assert "refused the login" in wrong.stderr


def test_broker_unreachable_at_boot_then_joins(booths, watcher, broker):
    broker.kill()
    corridor, = booths("corridor", group=None)
    status = wait_for(lambda: "fleet" in corridor.status() and corridor.status(), 20,
                      "the fleet link's status")
    assert status["fleet"]["connected"] is False and status["blocks_rendered"] > 0
    broker.start()
    tech = watcher().wait_connected()
    wait_for(lambda: tech.last("severed/corridor/status") == "online", 20, "corridor online")
    assert corridor.status()["fleet"] == {"broker": f"127.0.0.1:{broker.port}",
                                          "connected": True, "topics": "severed/corridor",
                                          "problems": []}
    assert corridor.status()["underruns"] == 0
    # A clean stop says goodbye itself (the broker sends no will after a clean disconnect).
    corridor.stop()
    assert corridor.proc.returncode == 0
    wait_for(lambda: tech.last("severed/corridor/status") == "offline", 20, "corridor offline")


def test_a_broker_that_hangs_is_left_before_the_keepalive_says_so(booths, broker):
    elevator, corridor = booths("elevator", "corridor", keepalive_s=60)
    for booth in (elevator, corridor):
        wait_for(lambda b=booth: role(b) in ("leader", "member"), 20, f"{booth.name} grouped")
    broker.proc.send_signal(signal.SIGSTOP)  # the connection stays open; nothing answers
    try:
        t0 = time.monotonic()
        for booth in (elevator, corridor):
            wait_for(lambda b=booth: role(b) == "standalone", 20, f"{booth.name} standalone")
        assert time.monotonic() - t0 < 6.0  # its own hello missing for 3.5 s, not 90 s
        status = corridor.status()
        assert status["fleet"]["connected"] is True
        assert status["fleet"]["group"]["note"] == ("the broker passes nothing back: "
                                                    "playing standalone")
        corridor.trigger("door.closed")
        wait_for(lambda: corridor.status()["scene"] == "down", 20, "the corridor's own change")
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    for booth in (elevator, corridor):
        wait_for(lambda b=booth: role(b) in ("leader", "member"), 20, f"{booth.name} back")
    # Back in the group: the group's scene is the leader's (its retained change).
    wait_for(lambda: corridor.status()["scene"] == "up", 20, "the corridor following again")
