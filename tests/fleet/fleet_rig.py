"""What the fleet tests (and benchmarks/bench_fleet.py) share beside their fixtures: the
broker's accounts, the booths' show, a poll with a deadline, and a technician's MQTT
client. A module of its own (not conftest) so that test files import it by a name no
other test folder uses."""

import json
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
