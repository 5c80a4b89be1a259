"""The daemon end to end, as a process: simulated sensors, a real systemd notify
socket, the control socket, signals. It plays into a WAV file (the site says so),
whatever sound card this machine has."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import wave

import pytest

SCENARIO = """
seed = 5
duration_s = 4
[[timeline]]
at_s = 0.5
sensor = "motion"
level = 1
[[timeline]]
at_s = 1.0
sensor = "door"
level = 1
"""


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    yield path, sock
    sock.close()


def messages(sock, until, stop_when=None):
    got = []
    while time.monotonic() < until:
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            continue
        if stop_when and stop_when(got[-1]):
            break
    return got


def site_playing_into(tmp_path):
    """The dev site, but written into out.wav whatever sound card this machine has (a
    laptop's ALSA default would otherwise take the sound, and the file never come)."""
    from severed.commands.common import dev_site_path

    text = open(dev_site_path()).read()
    assert '\n[audio]\n' in text
    site = tmp_path / "dev-site-into-wav.toml"
    site.write_text(text.replace("\n[audio]\n", f'\n[audio]\ndevice = '
                                                f'"wav:{tmp_path / "out.wav"}"\n'))
    return site


def start(tmp_path, *args, notify=None):
    env = dict(os.environ, SEVERED_CONTROL=str(tmp_path / "control.sock"))
    env.pop("NOTIFY_SOCKET", None)
    if notify:
        env["NOTIFY_SOCKET"] = notify
    site = [] if "--config" in args else ["--config", str(site_playing_into(tmp_path))]
    cmd = [sys.executable, "-m", "severed", "run", *site, "--state-dir",
           str(tmp_path / "state"), *args]
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_scenario_run_reports_ready_plays_and_ends_cleanly(tmp_path, notify_socket):
    scenario = tmp_path / "visit.toml"
    scenario.write_text(SCENARIO)
    path, sock = notify_socket
    proc = start(tmp_path, "--simulate", str(scenario), notify=path)
    got = messages(sock, time.monotonic() + 20, stop_when=lambda m: "STOPPING=1" in m)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    ready = [m for m in got if "READY=1" in m]
    assert ready and "STOPPING=1" in got[-1]
    assert "scene outie" in ready[0]
    # The door closed with motion seen: the descent, in the written audio and the log.
    with wave.open(str(tmp_path / "out.wav")) as w:
        assert w.getnframes() / w.getframerate() >= 3.5
    assert "descent" in err or "descent" in " ".join(got)


def test_sigterm_fades_out_and_exits_zero_within_a_second(tmp_path):
    proc = start(tmp_path, "--simulate")
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "control.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "control.sock").exists()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
        assert time.monotonic() - t0 < 1.5
        assert proc.returncode == 0
    finally:
        proc.kill()


def test_status_over_the_control_socket(tmp_path):
    proc = start(tmp_path, "--simulate")
    try:
        sock_path = tmp_path / "control.sock"
        deadline = time.monotonic() + 20
        while not sock_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = dict(os.environ, SEVERED_CONTROL=str(sock_path))
        status = subprocess.run([sys.executable, "-m", "severed", "status", "--json"], env=env,
                                capture_output=True, text=True, timeout=20)
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["scene"] == "outie"
        assert data["pin_factory"] == "mock"
        assert data["blocks_rendered"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)


def test_reload_with_a_broken_show_keeps_the_running_one(tmp_path):
    site = tmp_path / "site.toml"
    show = tmp_path / "show.toml"
    show.write_text('[show]\nname = "one"\ninitial_scene = "a"\n'
                    '[scenes.a.layers.t]\ntype = "tone"\nfreq_hz = 220\ngain_db = -30\n')
    site.write_text(f'[site]\nshow = "{show}"\npin_factory = "mock"\n'
                    f'[audio]\ndevice = "wav:{tmp_path / "o.wav"}"\n')
    proc = start(tmp_path, "--simulate", "--config", str(site))
    try:
        sock_path = tmp_path / "control.sock"
        deadline = time.monotonic() + 20
        while not sock_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        show.write_text(show.read_text().replace('type = "tone"', 'type = "tonne"'))
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        env = dict(os.environ, SEVERED_CONTROL=str(sock_path))
        status = subprocess.run([sys.executable, "-m", "severed", "status", "--json"], env=env,
                                capture_output=True, text=True, timeout=20)
        assert json.loads(status.stdout)["show"] == "one"
        assert proc.poll() is None  # still playing
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=5)
    assert "reload refused" in err and "tonne" in err


SAFE_RUN = """
import sys
import severed.service.daemon as daemon
daemon.HEALTHY_AFTER_S = 1.0
from severed.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_repeated_crashes_give_safe_mode_and_a_healthy_run_forgets_them(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    now = time.time()
    (state / "starts.json").write_text(json.dumps({"starts": [now - 30, now - 20, now - 10]}))
    site = tmp_path / "site.toml"
    site.write_text('[site]\npin_factory = "mock"\n[audio]\ndevice = "null"\n')
    sock = tmp_path / "control.sock"
    proc = subprocess.Popen([sys.executable, "-c", SAFE_RUN, "run", "--config", str(site),
                             "--state-dir", str(state), "--control", str(sock)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = dict(os.environ, SEVERED_CONTROL=str(sock))
        status = subprocess.run([sys.executable, "-m", "severed", "status", "--json"],
                                env=env, capture_output=True, text=True, timeout=20)
        data = json.loads(status.stdout)
        assert data["safe_mode"] is True and data["show"] == "safe"
        # Playing for HEALTHY_AFTER_S clears the record: a power cut now would not count.
        deadline = time.monotonic() + 10
        while (state / "starts.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (state / "starts.json").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "safe mode" in err
