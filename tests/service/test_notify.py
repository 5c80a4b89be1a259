"""sd_notify against a real datagram socket standing in for systemd."""

import os
import socket
import threading
import time

import pytest

from severed.service.notify import Notifier, Watchdog, status_line, watchdog_interval_s


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    # AF_UNIX paths are limited to 108 bytes: pytest's tmp_path can be longer.
    path = os.path.join("/tmp", f"severed-notify-{os.getpid()}-{id(tmp_path)}.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()
    os.unlink(path)


def receive_all(sock, quiet_s=0.05):
    """Every message waiting on the socket, as strings."""
    messages = []
    sock.settimeout(quiet_s)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except socket.timeout:
        pass
    finally:
        sock.settimeout(2.0)
    return messages


def test_ready_status_stopping_reach_the_socket(notify_socket):
    notifier = Notifier()
    assert notifier.ready("scene outie") is True
    assert notify_socket.recv(4096).decode() == (
        f"READY=1\nMAINPID={os.getpid()}\nSTATUS=scene outie")
    assert notifier.status("scene innie,\n tension 0.40") is True
    assert notify_socket.recv(4096).decode() == "STATUS=scene innie, tension 0.40"
    assert notifier.stopping() is True
    assert notify_socket.recv(4096).decode() == "STOPPING=1"
    assert notifier.extend_timeout(90) is True
    assert notify_socket.recv(4096).decode() == "EXTEND_TIMEOUT_USEC=90000000"


def test_notify_socket_is_read_at_call_time(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert notifier.enabled is False
    assert notifier.ready() is False  # no-op outside systemd
    path = f"/tmp/severed-late-{os.getpid()}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        # Set after the Notifier exists: systemd-python must still find it.
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert notifier.enabled is True
        assert notifier.status("late") is True
        sock.settimeout(1.0)
        assert sock.recv(4096) == b"STATUS=late"
    finally:
        sock.close()
        os.unlink(path)


def test_a_vanished_socket_is_logged_not_raised(monkeypatch, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", "/tmp/severed-no-such-socket")
    assert Notifier().status("x") is False


def test_watchdog_interval_from_environment():
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "200000"}) == pytest.approx(0.1)
    assert watchdog_interval_s({"WATCHDOG_USEC": "junk"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    # WATCHDOG_PID names another process: the watchdog is not ours.
    assert watchdog_interval_s({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}, pid=5) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "5"},
                               pid=5) == pytest.approx(0.1)


class Progress:
    """A render loop stand-in whose block counter advances on its own thread."""

    def __init__(self):
        self.blocks_rendered = 0
        self.running = threading.Event()
        self.running.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.01):
            if self.running.is_set():
                self.blocks_rendered += 1

    def close(self):
        self._stop.set()
        self._thread.join()


def test_watchdog_pings_at_half_interval_while_progressing_and_stops_when_hung(
        notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # ping every 0.1 s
    loop = Progress()
    watchdog = Watchdog(Notifier(), progress=lambda: loop.blocks_rendered)
    assert watchdog.interval_s == pytest.approx(0.1)
    try:
        assert watchdog.start() is True
        stamps = []
        deadline = time.monotonic() + 0.65
        notify_socket.settimeout(0.5)
        while time.monotonic() < deadline:
            assert notify_socket.recv(4096) == b"WATCHDOG=1"
            stamps.append(time.monotonic())
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        assert len(stamps) >= 4
        # Half of WATCHDOG_USEC on average; single gaps may stretch on a loaded machine
        # (the reader may be late for one and on time for the next).
        assert sum(gaps) / len(gaps) == pytest.approx(0.1, abs=0.03), gaps
        assert all(0.04 < gap < 0.25 for gap in gaps), gaps

        loop.running.clear()  # the render loop hangs
        time.sleep(0.12)
        receive_all(notify_socket)  # at most one ping was in flight
        time.sleep(0.45)
        assert receive_all(notify_socket) == []  # four intervals: no ping

        loop.running.set()  # it recovers: pings resume
        notify_socket.settimeout(0.5)
        assert notify_socket.recv(4096) == b"WATCHDOG=1"
    finally:
        watchdog.stop()
        loop.close()
    assert not watchdog.active


def test_watchdog_sends_status_lines_only_when_they_change(notify_socket, monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    lines = iter(["scene outie", "scene outie", "scene innie"] + ["scene innie"] * 100)
    watchdog = Watchdog(Notifier(), progress=lambda: 0, status=lambda: next(lines),
                        status_every_s=0.05)
    assert watchdog.start() is True
    time.sleep(0.4)
    watchdog.stop()
    assert receive_all(notify_socket) == ["STATUS=scene outie", "STATUS=scene innie"]


def test_watchdog_is_a_no_op_outside_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    watchdog = Watchdog(Notifier(), progress=lambda: 1)
    assert watchdog.start() is False
    assert not watchdog.active
    watchdog.stop()


def test_a_failing_progress_probe_counts_as_no_progress(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "100000")

    def broken():
        raise RuntimeError("loop gone")

    watchdog = Watchdog(Notifier(), progress=broken)
    watchdog.start()
    time.sleep(0.3)
    assert watchdog.active  # the thread survived
    watchdog.stop()
    assert receive_all(notify_socket) == []


def test_status_line_is_one_line_with_faults():
    line = status_line({"scene": "innie", "overlays": ["barrier"], "tension": 0.4213,
                        "volume_db": -6, "muted": False, "underruns": 3,
                        "sensors": {"door": "closed", "motion": "fault"}, "faults": []})
    assert line == ("scene innie (+barrier), tension 0.42, volume -6.0 dB, 3 underruns, "
                    "sensor faults: motion")
    assert status_line({"scene": "outie", "muted": True, "sensors": {}}) == (
        "scene outie, muted, 0 underruns, sensors ok")
    assert status_line({"safe_mode": True}).startswith("SAFE MODE, scene -")
