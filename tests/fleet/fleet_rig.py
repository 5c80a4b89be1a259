"""What the fleet tests (and benchmarks/bench_fleet.py) share beside their fixtures: the
broker's accounts, the booths' show, a booth as a real daemon, a poll with a deadline,
and a technician's MQTT client. A module of its own (not conftest) so that test files import it by a name no
other test folder uses."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

PASSWORDS = {"elevator": "lift-4271", "corridor": "hall-9913", "office": "desk-5580",
             "technician": "tech-3318", "stray": "stray-0042"}

# The show every booth plays: the door takes the floor from "up" to "down" and back.
SHOW = """
[show]
name = "floor"
initial_scene = "up"
crossfade_s = 0.5
[scenes.up.layers.t]
type = "tone"
freq_hz = 220
gain_db = -40
[scenes.down.layers.t]
type = "tone"
freq_hz = 110
gain_db = -40
[[transitions]]
from = "up"
to = "down"
on = "door.closed"
[[transitions]]
from = "down"
to = "up"
on = "door.open"
"""


def wait_for(predicate, timeout_s, what):
    """Poll ``predicate`` until it returns something true; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


class Booth:
    def __init__(self, directory, name, broker, *, group="floor", leader="elevator",
                 password=None, user=None, keepalive_s=2, extra=""):
        self.dir = directory / name
        self.dir.mkdir(exist_ok=True)
        self.name = name
        self.socket = str(self.dir / "control.sock")
        self.event_log = self.dir / "events.jsonl"
        (self.dir / "show.toml").write_text(SHOW)
        (self.dir / "password").write_text((password or PASSWORDS.get(name, "")) + "\n")
        group_lines = f'group = "{group}"\nleader = "{leader}"\n' if group else ""
        self.config = self.dir / "site.toml"
        self.config.write_text(f"""
[site]
name = "{name}"
show = "show.toml"
pin_factory = "mock"
event_log = "{self.event_log}"
[audio]
device = "null"
block_frames = 1024
[sensors.door]
kind = "door"
pin = 17
[fleet]
host = "{broker.host}"
port = {broker.port}
username = "{user or name}"
password_file = "password"
keepalive_s = {keepalive_s}
heartbeat_s = 5
{group_lines}{extra}
""")
        self.proc = None
        self.stderr = self.dir / "stderr.txt"

    def start(self):
        env = dict(os.environ, SEVERED_CONTROL=self.socket)
        env.pop("NOTIFY_SOCKET", None)
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "severed", "run", "--simulate", "--config",
             str(self.config), "--state-dir", str(self.dir / "state")],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.stderr, "a"))
        return self

    def wait_ready(self, timeout_s=30):
        wait_for(lambda: self.proc.poll() is not None or self._answers(), timeout_s,
                 f"{self.name}'s control socket")
        assert self.proc.poll() is None, self.log()

    def _answers(self):
        try:
            self.request("ping")
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def request(self, cmd, **fields):
        from severed.service.control import ControlClient

        with ControlClient(self.socket, timeout_s=5.0) as client:
            return client.request(cmd, **fields)

    def status(self):
        return self.request("status")["status"]

    def trigger(self, event):
        return self.request("trigger", event=event)

    def records(self, type_=None):
        if not self.event_log.exists():
            return []
        out = []
        for line in self.event_log.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if type_ is None or record.get("type") == type_:
                out.append(record)
        return out

    def log(self):
        return self.stderr.read_text() if self.stderr.exists() else ""

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self, wait=True):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
        if wait and self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Watcher:
    """A technician on the broker: every message it is allowed to see, in order."""

    def __init__(self, broker, user="technician", password=None, topics=("severed/#",)):
        from severed.fleet.mqtt import Connection
        from severed.fleet.settings import FleetConfig

        cfg = FleetConfig(host=broker.host, port=broker.port, username=user, keepalive_s=5)
        self.messages = []  # (monotonic time, topic, payload str)
        self.refused = None
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.topics = topics
        self.conn = Connection(cfg, client_id=f"test-{user}-{id(self)}",
                               password=password if password is not None else PASSWORDS.get(user, ""),
                               on_connect=self._on_connect, on_message=self._on_message,
                               on_subscribe=lambda mid, refused: setattr(self, "refused", refused))
        self.conn.start()

    def _on_connect(self, error):
        self.error = error
        if error is None:
            self.conn.subscribe([(t, 1) for t in self.topics])
            self._connected.set()

    def _on_message(self, topic, payload):
        with self._lock:
            self.messages.append((time.monotonic(), topic, payload.decode("utf-8", "replace")))

    def wait_connected(self, timeout_s=5):
        assert self._connected.wait(timeout_s), "the watcher could not connect"
        return self

    def last(self, topic):
        with self._lock:
            for _, t, payload in reversed(self.messages):
                if t == topic:
                    return payload
        return None

    def last_json(self, topic):
        payload = self.last(topic)
        return json.loads(payload) if payload else None

    def since(self, t0, topic):
        with self._lock:
            return [(t, p) for t, tp, p in self.messages if tp == topic and t >= t0]

    def publish(self, topic, payload, retain=False):
        if not isinstance(payload, str):
            payload = json.dumps(payload)
        self.conn.publish(topic, payload, qos=1, retain=retain)

    def close(self):
        self.conn.stop()
