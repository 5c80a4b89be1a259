"""Booths as real daemons (``severed run --simulate``) on a real Mosquitto broker.

``Booth`` writes a site config with a ``[fleet]`` section, starts the daemon as a process,
talks to it over its control socket and reads its event log. ``Watcher`` is a
technician's MQTT client that keeps every message it sees. The tests skip, saying why,
only when Mosquitto is not installed (``apt install mosquitto mosquitto-clients``;
installation/dev.sh and .ci/run install it)."""

import json
import os
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleet_rig import PASSWORDS, SHOW, Watcher, wait_for  # noqa: E402,F401
from mosquitto_broker import Broker, find_mosquitto  # noqa: E402

pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed (the dev extra "
                                               "has it: pip install -e '.[dev]')")


@pytest.fixture
def broker(tmp_path):
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed (apt install mosquitto mosquitto-clients)")
    directory = tmp_path / "broker"
    directory.mkdir()
    b = Broker(directory, PASSWORDS).start()
    yield b
    b.kill()


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


@pytest.fixture
def booths(tmp_path, broker):
    """``booths("elevator", "corridor", ...)`` starts them (all in parallel) and waits
    until each answers on its control socket; all are stopped after the test."""
    made = []

    def start(*names, wait=True, **kwargs):
        new = [Booth(tmp_path, name, broker, **kwargs).start() for name in names]
        made.extend(new)
        if wait:
            for booth in made:
                booth.wait_ready()
        return new

    yield start
    for booth in made:
        booth.stop(wait=False)  # all fade out at once
    for booth in made:
        booth.stop()


@pytest.fixture
def watcher(broker):
    made = []

    def make(**kwargs):
        w = Watcher(broker, **kwargs)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()
