"""A reload applies the sensor section: the daemon's own reload (as on SIGHUP) and the
control socket's, against the real render loop and SensorBank on gpiozero's
MockFactory. A manual clock moves one 10 ms block per rendered block."""

import dataclasses
import logging

import pytest
from gpiozero import Button, Device
from gpiozero.pins.mock import MockFactory

from severed.config import load_show_text
from severed.config.model import AudioConfig, SensorSpec, SiteConfig
from severed.hardware.simulate import KeyboardControl
from severed.hardware.sinks import NullSink
from severed.loop import RenderLoop
from severed.service import daemon as daemon_mod
from severed.service.daemon import Daemon, sensor_changes
from severed.service.handler import ControlHandler

from lift_show import lift_show

SR = 48000
BLOCK = 480

SHOW = lift_show("""
[[transitions]]
from = "up"
to = "down"
on = "door.closed"
crossfade_s = 0.1
""")

DOOR = SensorSpec("door", "door", 17)
MOTION = SensorSpec("motion", "pir", 27, pull="down", active_state="high", debounce_s=0.1)


def site_with(*sensors):
    return SiteConfig(path="/etc/severed/severed.toml", name="test", pin_factory="mock",
                      audio=AudioConfig(device="null", block_frames=BLOCK),
                      sensors=tuple(sensors))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Rig:
    """A daemon with its sensors started on a shared MockFactory and a render loop the
    test steps by hand (no threads)."""

    def __init__(self, factory, sensors=(DOOR, MOTION)):
        self.factory = factory
        self.clock = Clock()
        self.show = load_show_text(SHOW, "lift.toml")
        self.next = (site_with(*sensors), self.show)  # what the config file says now
        site = site_with(*sensors)
        self.daemon = Daemon(site, self.show, config_path=site.path, simulate=True,
                             loader=lambda path: self.next)
        self.daemon.loop = RenderLoop(self.show, site, NullSink(), live=True,
                                      clock=self.clock, block_frames=BLOCK)
        self.daemon._start_sensors()

    @property
    def loop(self):
        return self.daemon.loop

    def reload(self, *sensors):
        self.next = (site_with(*sensors), self.show)
        assert self.daemon.reload()
        self.step()

    def step(self, blocks=1):
        for _ in range(blocks):
            self.clock.now += BLOCK / SR
            self.loop.render_block()

    def records(self, sensor="door"):
        return [r["state"] for r in self.loop.event_log.recent
                if r.get("sensor") == sensor and r["type"] in ("sensor", "fault")]

    def delay_until(self, state, sensor="door", limit=100):
        """Seconds of clock from now until the block that logs ``sensor``'s ``state``."""
        seen = self.records(sensor).count(state)
        t0 = self.clock.now
        for _ in range(limit):
            self.step()
            if self.records(sensor).count(state) > seen:
                return self.clock.now - t0
        raise AssertionError(f"no {sensor} {state} within {limit} blocks")

    def set_pin(self, pin, high):
        mock = self.factory.pin(pin)
        if high:
            mock.drive_high()
        else:
            mock.drive_low()


@pytest.fixture
def factory():
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    Device.pin_factory = None
    factory.reset()


@pytest.fixture
def rig(factory):
    rig = Rig(factory)
    yield rig
    rig.daemon._close_bank()


def within_a_block_of(delay_s, debounce_s):
    return debounce_s - 1e-9 <= delay_s <= debounce_s + BLOCK / SR + 1e-9


def sensor_lines(caplog):
    return [(r.getMessage(), getattr(r, "SENSOR", None), getattr(r, "PIN", None))
            for r in caplog.records if r.name == "severed.daemon"
            and r.getMessage().startswith("sensor ")]


def test_a_retuned_debounce_is_logged_and_applies_without_reopening_the_pins(rig, caplog):
    caplog.set_level(logging.INFO, logger="severed.daemon")
    bank = rig.daemon.bank
    rig.reload(dataclasses.replace(DOOR, debounce_s=0.2), MOTION)
    assert rig.daemon.bank is bank  # only conditioning changed: the devices stay open
    assert sensor_lines(caplog) == [("sensor door: debounce_s 0.05 -> 0.2", "door", 17)]
    rig.set_pin(17, high=False)  # the door closes (active low)
    delay = rig.delay_until("closed")
    assert within_a_block_of(delay, 0.2), delay


def test_a_door_closed_before_the_reload_stays_closed_on_its_new_pin(rig, caplog):
    caplog.set_level(logging.INFO, logger="severed.daemon")
    rig.set_pin(17, high=False)
    rig.step(10)
    assert rig.records() == ["closed"] and rig.loop.state.scene == "down"
    rig.reload(dataclasses.replace(DOOR, pin=22, debounce_s=0.1), MOTION)
    rig.step(50)
    assert rig.records() == ["closed"]  # no new event
    assert rig.loop.status()["sensors"]["door"] == "active"
    assert rig.loop.state.sensor_state("door") == "closed"
    assert rig.daemon.bank.spec("door").pin == 22
    assert rig.daemon.bank.levels()["door"] == 1  # the simulated pin was set as it was
    assert sensor_lines(caplog) == [("sensor door: pin 17 -> 22, debounce_s 0.05 -> 0.1",
                                     "door", 22)]
    # The old pin is no longer the door; the new one is.
    rig.set_pin(17, high=True)
    rig.step(20)
    assert rig.records() == ["closed"]
    rig.set_pin(22, high=True)
    assert within_a_block_of(rig.delay_until("open"), 0.1)


def test_a_refused_pin_keeps_the_old_sensors_working_and_says_why(rig, caplog):
    caplog.set_level(logging.INFO, logger="severed.daemon")
    bank = rig.daemon.bank
    # GPIO18 is the DAC's bit clock: SensorBank refuses it (the loader would too; a
    # loader that let it through must not cost the show its sensors).
    rig.reload(dataclasses.replace(DOOR, pin=18), MOTION)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "sensor door" in errors[0].getMessage() and "GPIO18" in errors[0].getMessage()
    assert "keeping the sensors as they were" in errors[0].getMessage()
    assert (errors[0].SENSOR, errors[0].PIN) == ("door", 18)
    assert rig.daemon.bank is not bank and rig.daemon.bank.spec("door").pin == 17
    assert rig.daemon.site.sensors == (DOOR, MOTION)
    rig.step()
    assert rig.loop.site.sensors == (DOOR, MOTION)
    rig.set_pin(17, high=False)
    assert within_a_block_of(rig.delay_until("closed"), 0.05)
    assert rig.daemon.status()["faults"] == []


def test_a_busy_pin_keeps_the_old_sensors_working_and_says_why(rig, caplog):
    caplog.set_level(logging.INFO, logger="severed.daemon")
    rig.set_pin(17, high=False)
    rig.step(10)
    blocker = Button(22, pin_factory=rig.factory)  # another program holds GPIO22
    try:
        rig.reload(dataclasses.replace(DOOR, pin=22), MOTION)
    finally:
        blocker.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR
              and r.name == "severed.daemon"]
    assert len(errors) == 1 and "door" in errors[0] and "GPIO22" in errors[0], errors
    assert "in use" in errors[0]
    assert rig.daemon.bank.spec("door").pin == 17 and rig.daemon.bank.faults == {}
    rig.step(20)
    assert rig.records() == ["closed"]  # still closed, nothing reported anew
    rig.set_pin(17, high=True)
    assert within_a_block_of(rig.delay_until("open"), 0.05)


def test_added_and_removed_sensors(rig, caplog):
    caplog.set_level(logging.INFO, logger="severed.daemon")
    hall = SensorSpec("hall", "input", 5, debounce_s=0.02)
    rig.reload(DOOR, hall)
    assert sorted(m for m, _, _ in sensor_lines(caplog)) == [
        "sensor hall: added (input on GPIO5)", "sensor motion: removed (was pir on GPIO27)"]
    assert rig.loop.status()["sensors"] == {"door": "inactive", "hall": "inactive"}
    rig.set_pin(27, high=True)  # motion's old pin: nothing listens any more
    rig.set_pin(5, high=False)
    assert within_a_block_of(rig.delay_until("active", sensor="hall"), 0.02)
    assert rig.records("motion") == []


def test_the_control_socket_reload_reopens_sensors_too(rig):
    handler = ControlHandler(daemon_mod._ReloadingLoop(rig.daemon), rig.daemon.site,
                             rig.show, config_path=rig.daemon.config_path,
                             loader=lambda path: rig.next)
    rig.next = (site_with(dataclasses.replace(DOOR, pin=22), MOTION), rig.show)
    reply = handler({"cmd": "reload"})
    assert reply.get("show") == "lift", reply
    rig.step()
    assert rig.daemon.bank.spec("door").pin == 22
    assert rig.daemon.site.sensors[0].pin == 22
    rig.set_pin(22, high=False)
    assert within_a_block_of(rig.delay_until("closed"), 0.05)


def test_simulated_inputs_drive_the_new_bank_after_a_reload(rig):
    keys = KeyboardControl(daemon_mod._CurrentBank(rig.daemon))
    rig.reload(dataclasses.replace(DOOR, pin=22), MOTION)
    keys.key("d")  # the keyboard's door key closes the door, on its new pin
    assert rig.factory.pin(22).state is False
    assert within_a_block_of(rig.delay_until("closed"), 0.05)


def test_a_sensor_out_of_service_at_start_is_tried_again_on_reload(factory, caplog):
    caplog.set_level(logging.INFO, logger="severed.daemon")
    blocker = Button(17, pin_factory=factory)
    rig = Rig(factory)
    try:
        assert "door" in rig.daemon.bank.faults
        rig.step()
        assert rig.records() == ["fault"]
        blocker.close()  # the wiring is fixed; same config, reload
        rig.reload(DOOR, MOTION)
        assert rig.daemon.bank.faults == {}
        assert rig.records() == ["fault", "recovered"]
        assert any(m == "sensor door: open again" for m in
                   (r.getMessage() for r in caplog.records))
        rig.set_pin(17, high=False)
        assert within_a_block_of(rig.delay_until("closed"), 0.05)
    finally:
        blocker.close()
        rig.daemon._close_bank()


def test_safe_mode_reload_opens_no_sensors(factory, caplog):
    rig = Rig(factory, sensors=())
    rig.daemon.safe_mode = True
    try:
        rig.reload(DOOR)
        assert rig.daemon.bank.specs == () and rig.daemon.site.sensors == ()
        rig.step()
        assert rig.loop.status()["sensors"] == {}
        assert "safe mode plays without sensors" in caplog.text
    finally:
        rig.daemon._close_bank()


def test_sensor_changes_lists_each_changed_sensor_once():
    old = (DOOR, MOTION)
    new = (dataclasses.replace(DOOR, hold_s=1.5, pull="none"), MOTION)
    assert sensor_changes(old, new) == [("door", 17, "pull up -> none, hold_s 0 -> 1.5")]
    assert sensor_changes(old, old) == []


# ------------------------------------------------------------- the real process

PROCESS_SHOW = """[show]
name = "one"
initial_scene = "a"
[scenes.a.layers.t]
type = "tone"
freq_hz = 220
gain_db = -30
"""

PROCESS_SITE = """[site]
show = "{show}"
pin_factory = "mock"
[audio]
device = "wav:{wav}"
[sensors.door]
kind = "door"
pin = {pin}
debounce_s = {debounce}
"""


def test_sighup_and_the_reload_command_apply_sensor_changes_in_the_running_daemon(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    show = tmp_path / "show.toml"
    show.write_text(PROCESS_SHOW)
    site = tmp_path / "site.toml"

    def write_site(pin, debounce):
        site.write_text(PROCESS_SITE.format(show=show, wav=tmp_path / "o.wav", pin=pin,
                                            debounce=debounce))

    write_site(17, 0.05)
    sock = tmp_path / "control.sock"
    env = dict(os.environ, SEVERED_CONTROL=str(sock))
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen([sys.executable, "-m", "severed", "run", "--simulate", "--config",
                             str(site), "--state-dir", str(tmp_path / "state")], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def ask(*args):
        done = subprocess.run([sys.executable, "-m", "severed", *args], env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sock.exists()
        write_site(17, 0.2)
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        write_site(22, 0.2)
        ask("reload")
        status = json.loads(ask("status", "--json"))
        assert status["sensors"] == {"door": "open"} and status["faults"] == []
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "sensor door: debounce_s 0.05 -> 0.2" in err
    assert "sensor door: pin 17 -> 22" in err
    assert "keeping the sensors as they were" not in err


def test_a_replaced_engine_is_collected_once_it_has_faded(rig):
    import gc
    import weakref

    class Node:
        pass

    # A reference cycle frozen with the rest at start-up, as the old engine's are.
    cycle = Node()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    gc.freeze()
    try:
        del cycle
        rig.reload(DOOR, MOTION)
        due = rig.daemon._settle_memory_at
        assert due is not None
        rig.daemon.settle_memory_if_due(due - 1.0)  # still crossfading: nothing yet
        assert gone() is not None
        rig.daemon.settle_memory_if_due(due)
        assert gone() is None and rig.daemon._settle_memory_at is None
        assert gc.get_freeze_count() > 0  # what lives on is frozen again
    finally:
        gc.unfreeze()
