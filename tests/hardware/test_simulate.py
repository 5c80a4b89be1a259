"""ScenarioDriver and KeyboardControl on MockFactory pins."""

import dataclasses
import io
import os
import termios
import threading
import time

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from severed.config.model import Scenario, ScenarioStep, SensorSpec
from severed.hardware.sensors import SensorBank
from severed.hardware.simulate import KeyboardControl, ScenarioDriver

SPECS = (
    SensorSpec("door", "door", 17, pull="up", active_state="low"),
    SensorSpec("motion", "pir", 4, pull="down", active_state="high"),
    SensorSpec("reward", "button", 27, pull="up", active_state="low"),
)


class FastClock:
    """Runs ``speed`` times faster than real time."""

    def __init__(self, speed):
        self.speed = speed
        self.origin = time.monotonic()

    def __call__(self):
        return 1000.0 + (time.monotonic() - self.origin) * self.speed


@pytest.fixture
def bank():
    Device.pin_factory = MockFactory()
    edges = []
    lock = threading.Lock()
    clock = FastClock(20.0)

    def on_edge(t, name, level):
        with lock:
            edges.append((t, name, level))

    b = SensorBank(SPECS, on_edge=on_edge, clock=clock)
    b.edges, b.clock = edges, clock
    yield b
    b.close()
    Device.pin_factory.reset()
    Device.pin_factory = None


def test_driver_plays_sensor_steps_at_their_times(bank):
    steps = (ScenarioStep(1.0, "door", 1), ScenarioStep(2.0, "motion", 1),
             ScenarioStep(2.5, command="volume", args={"db": -6}),
             ScenarioStep(3.0, "door", 0), ScenarioStep(3.5, "gate", 1),
             ScenarioStep(4.0, "motion", 0))
    commands = []
    driver = ScenarioDriver(bank, Scenario(None, 5.0, steps=steps), clock=bank.clock,
                            on_command=commands.append, poll_s=0.002)
    driver.start()
    t0 = driver._t0
    assert driver.wait(timeout=2.0)  # 4 scenario seconds are 0.2 s real
    driver.stop()
    got = [(name, level) for _, name, level in bank.edges]
    assert got == [("door", 1), ("motion", 1), ("door", 0), ("motion", 0)]
    for (t, _, _), at_s in zip(bank.edges, (1.0, 2.0, 3.0, 4.0)):
        assert at_s <= t - t0 < at_s + 0.5  # never early; late by a thread wake-up
    assert [c.args for c in commands] == [{"db": -6}]
    assert [s.at_s for _, s in driver.played] == [1.0, 2.0, 2.5, 3.0, 4.0]  # gate skipped
    # Levels follow active_state: door closed = pin low, motion = pin high.
    assert Device.pin_factory.pin(17).state == 1 and Device.pin_factory.pin(4).state == 0


def test_driver_stops_promptly_while_waiting(bank):
    steps = (ScenarioStep(10_000.0, "door", 1),)
    driver = ScenarioDriver(bank, Scenario(None, 20_000.0, steps=steps), clock=bank.clock)
    driver.start()
    time.sleep(0.02)
    start = time.monotonic()
    driver.stop()
    assert time.monotonic() - start < 0.3
    assert bank.edges == [] and driver.played == []


def test_driver_on_a_bank_that_is_not_mock_skips_steps_with_a_warning(caplog):
    Device.pin_factory = None
    no_gpio = SensorBank((), pin_factory="auto")
    driver = ScenarioDriver(no_gpio, Scenario(None, 1.0, steps=(ScenarioStep(0.0, "door", 1),)))
    driver.start()
    assert driver.wait(timeout=1.0)
    assert driver.played == [] and "door" in caplog.text


def test_keyboard_keys_drive_sensors_on_a_terminal(bank):
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    out = io.StringIO()
    quit_called = threading.Event()
    stdin = os.fdopen(slave, "rb", buffering=0, closefd=False)
    keys = KeyboardControl(bank, status=lambda: "scene outie", on_quit=quit_called.set,
                           stdin=stdin, stdout=out, redraw_s=0.01)
    try:
        assert keys.start()
        during = termios.tcgetattr(slave)
        assert not during[3] & termios.ICANON and not during[3] & termios.ECHO
        os.write(master, b"dmr")
        deadline = time.monotonic() + 2.0
        while len(bank.edges) < 4 and time.monotonic() < deadline:
            time.sleep(0.005)  # the press of r ends by itself
        os.write(master, b"xq")  # an unbound key, quit
        assert quit_called.wait(2.0)
        keys.stop()
        after = termios.tcgetattr(slave)
    finally:
        keys.stop()
        os.close(master)
        os.close(slave)
    assert [(n, lvl) for _, n, lvl in bank.edges] == [
        ("door", 1), ("motion", 1), ("reward", 1), ("reward", 0)]
    # The terminal is given back exactly as it was.
    assert during != before and after == before
    assert "scene outie" in out.getvalue() and "door closed" in out.getvalue()
    assert "d door (open/close)" in out.getvalue() and "q quit" in out.getvalue()
    assert "m motion (motion 5 s)" in out.getvalue()


def test_keyboard_restores_terminal_settings(bank):
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        stdin = os.fdopen(slave, "rb", buffering=0, closefd=False)
        keys = KeyboardControl(bank, stdin=stdin, stdout=io.StringIO(), redraw_s=0.01)
        assert keys.start()
        assert termios.tcgetattr(slave) != before
        keys.stop()
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_keyboard_does_nothing_without_a_terminal(bank):
    keys = KeyboardControl(bank, stdin=io.StringIO(""), stdout=io.StringIO())
    assert keys.start() is False
    keys.key("d")  # keys can still be fed directly
    assert [(n, lvl) for _, n, lvl in bank.edges] == [("door", 1)]
    keys.stop()


class Clock:
    def __init__(self):
        self.t = 50.0

    def __call__(self):
        return self.t


def test_digit_keys_reach_any_sensor(bank):
    clock = Clock()
    keys = KeyboardControl(bank, stdin=io.StringIO(""), stdout=io.StringIO(), clock=clock)
    keys.key("1")
    keys.key("1")
    keys.key("9")  # no ninth sensor
    assert [(n, lvl) for _, n, lvl in bank.edges] == [("door", 1), ("door", 0)]


def test_motion_is_a_pulse_like_a_pir_and_pressing_again_extends_it(bank):
    # A toggle left the simulated visitor moving for ever (until m again).
    clock = Clock()
    keys = KeyboardControl(bank, stdin=io.StringIO(""), stdout=io.StringIO(), clock=clock)
    keys.key("m")
    clock.t += 3.0
    keys.key("m")  # still moving: 5 s from now
    clock.t += 4.0
    keys.release_due()
    assert [(n, lvl) for _, n, lvl in bank.edges] == [("motion", 1)]
    clock.t += 1.5
    keys.release_due()
    assert [(n, lvl) for _, n, lvl in bank.edges] == [("motion", 1), ("motion", 0)]
    keys.key("r")
    clock.t += 0.3
    keys.release_due()
    assert [(n, lvl) for _, n, lvl in bank.edges][2:] == [("reward", 1), ("reward", 0)]


def test_a_key_that_moves_the_show_nowhere_says_why(bank):
    clock = Clock()
    asked = []

    def explain(event):
        asked.append(event)
        return "the show needs motion in the last 30 s" if event == "door.closed" else None

    keys = KeyboardControl(bank, status=lambda: "scene outie", stdin=io.StringIO(""),
                           stdout=io.StringIO(), explain=explain, clock=clock)
    keys.key("d")
    line = keys.status_line()
    assert line.endswith("door.closed: no scene change: the show needs motion in the "
                         "last 30 s"), line
    clock.t += 6.0  # the note goes, the keys come back
    assert keys.status_line().endswith("q quit]")
    keys.key("m")
    assert asked == ["door.closed", "motion.start"] and keys.note is None


def test_log_lines_are_printed_above_the_status_line_not_into_it(bank):
    import logging

    master, slave = os.openpty()
    terminal = io.StringIO()  # stdout and the log handler share one terminal
    console = logging.StreamHandler(terminal)
    console.setFormatter(logging.Formatter("LOG %(message)s"))
    root = logging.getLogger()
    root.addHandler(console)
    stdin = os.fdopen(slave, "rb", buffering=0, closefd=False)
    keys = KeyboardControl(bank, status=lambda: "scene outie", stdin=stdin, stdout=terminal,
                           redraw_s=0.01)
    try:
        assert keys.start()
        time.sleep(0.05)
        logging.getLogger("severed.loop").warning("scene outie -> descent")
        time.sleep(0.05)
        keys.stop()
        assert console in root.handlers  # given back
    finally:
        keys.stop()
        root.removeHandler(console)
        os.close(master)
        os.close(slave)
    text = terminal.getvalue()
    at = text.index("LOG scene outie -> descent\n")
    # The status line was erased just before: the log line starts a line of its own...
    assert text[:at].endswith("\r\x1b[K"), repr(text[at - 80:at + 40])
    # ... and the status line is drawn again after it.
    assert text[at:].split("\n", 1)[1].startswith("\rscene outie")


def test_scenario_through_pins_and_conditioning_gives_the_show_its_events(bank):
    from severed.hardware.conditioning import Conditioner

    steps = (ScenarioStep(1.0, "door", 1), ScenarioStep(1.01, "door", 0),  # a bounce
             ScenarioStep(1.02, "door", 1), ScenarioStep(3.0, "door", 0))
    # A long debounce (25 ms real at this clock's speed) so that a busy machine's
    # thread wake-ups cannot split the bounce.
    specs = (dataclasses.replace(SPECS[0], debounce_s=0.5),) + SPECS[1:]
    cond = Conditioner(specs, bank.clock(), initial_levels=bank.levels())
    driver = ScenarioDriver(bank, Scenario(None, 4.0, steps=steps), clock=bank.clock,
                            poll_s=0.001).start()
    t0 = driver._t0
    assert driver.wait(timeout=2.0)
    driver.stop()
    events = []
    for t, name, level in list(bank.edges):
        events += cond.edge(t, name, level)
    events += cond.poll(bank.clock() + 1.0)
    assert [e.type for e in events] == ["door.closed", "door.open"]
    # Debounced from the last edge of the bounce (never before 1.02 + 0.5), and the
    # open 0.5 s after the edge at 3.0; late only by thread wake-ups (fast clock).
    assert 1.52 <= events[0].t - t0 < 2.0
    assert 3.5 <= events[1].t - t0 < 4.0
