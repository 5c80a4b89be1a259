"""Simulated sensors: a scenario or the keyboard drives the mock pins of a SensorBank.

Both work through the pins (``bank.drive``), so everything downstream (gpiozero's
callbacks, edge stamping, conditioning, the show) runs exactly as with real sensors::

    bank = SensorBank(site.sensors, dac=site.audio.dac, pin_factory="mock",
                      on_edge=loop.post_edge)
    driver = ScenarioDriver(bank, scenario, on_command=loop.post_command).start()
    keys = KeyboardControl(bank, status=loop.status_line, on_quit=loop.stop,
                           explain=lambda event: machine.why_unmoved(state, event))
    keys.start()            # does nothing unless stdin is a terminal
    ...
    keys.stop(); driver.stop()

Threads here wait on an Event with timeouts (never a blind sleep), so ``stop()``
returns promptly; the keyboard restores the terminal's settings when it stops.
"""

import logging
import os
import select
import shutil
import sys
import threading
import time

from severed.errors import SensorError
from severed.show.events import KIND_STATES

log = logging.getLogger("severed.hardware")


class ScenarioDriver:
    """Plays a scenario's sensor steps on the mock pins at their times.

    ``clock``: scenario seconds are measured on it from ``start()`` (a test can pass a
    fast clock); ``poll_s`` caps each wait in real seconds so a fast clock is followed.
    ``on_command(step)``: called for command steps (scene, volume, ...), if given;
    they are skipped otherwise.
    """

    def __init__(self, bank, scenario, clock=time.monotonic, on_command=None, poll_s=0.05):
        self.bank = bank
        self.steps = tuple(sorted(scenario.steps, key=lambda s: s.at_s))
        self.clock = clock
        self.on_command = on_command
        self.poll_s = poll_s
        self.played = []  # (clock time, step) as driven, for tests and status
        self._stop = threading.Event()
        self.finished = threading.Event()
        self._thread = None
        self._t0 = None

    def start(self):
        if self._thread is None:
            self._t0 = self.clock()
            self._thread = threading.Thread(target=self._run, name="severed-scenario",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self):
        try:
            for step in self.steps:
                if not self._wait_until(self._t0 + step.at_s):
                    return
                self._play(step)
        finally:
            self.finished.set()

    def _wait_until(self, due):
        while True:
            now = self.clock()
            if now >= due:
                return True
            if self._stop.wait(min(due - now, self.poll_s)):
                return False

    def _play(self, step):
        try:
            if step.sensor is not None:
                self.bank.drive(step.sensor, step.level)
            elif self.on_command is not None:
                self.on_command(step)
            else:
                return
            self.played.append((self.clock(), step))
        except SensorError as exc:
            log.warning("scenario: step at %.3f s skipped: %s", step.at_s, exc)
        except Exception:
            log.exception("scenario: step at %.3f s failed", step.at_s)

    def wait(self, timeout=None):
        """Block until every step was played (True) or the timeout passed (False)."""
        return self.finished.wait(timeout)

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


# A PIR holds its output a few seconds after the movement it saw; a button press is
# short. Their keys send such a pulse (pressing again extends it); a door key toggles.
PULSE_S = {"pir": 5.0, "button": 0.3}
NOTE_S = 5.0  # how long a note ("no scene change: ...") stays on the status line


class KeyboardControl:
    """Single keys drive mock sensors on a terminal; a live status line is redrawn.

    ``d`` the first door (open/close), ``m`` the first pir (motion for 5 s), ``r`` the
    first button (a press), ``1``-``9`` the n-th sensor, ``q`` calls ``on_quit``.
    ``status()`` returns the text of the status line (redrawn every ``redraw_s`` and
    after each key); ``explain(event)`` says why a sensor event moves the show nowhere
    (or None), shown on the line after the key. While it runs, log lines of the console
    handler are printed above the status line, never into it. ``stdin`` must be a
    terminal, or ``start()`` does nothing and says so.
    """

    KIND_KEYS = {"d": "door", "m": "pir", "r": "button"}
    KIND_WORDS = {"door": "open/close", "pir": "motion 5 s", "button": "press"}

    def __init__(self, bank, status=None, on_quit=None, stdin=None, stdout=None,
                 redraw_s=0.25, explain=None, clock=time.monotonic):
        self.bank = bank
        self.status = status
        self.on_quit = on_quit
        self.explain = explain
        self.clock = clock
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.redraw_s = redraw_s
        self.kinds = {spec.name: spec.kind for spec in bank.specs}
        self.levels = {spec.name: 0 for spec in bank.specs}
        self.keys = {}
        for key, kind in self.KIND_KEYS.items():
            for spec in bank.specs:
                if spec.kind == kind:
                    self.keys[key] = spec.name
                    break
        for i, spec in enumerate(bank.specs[:9]):
            self.keys[str(i + 1)] = spec.name
        self.note = None  # (text, shown until)
        self._release_at = {}  # sensor -> clock time its pulse ends
        self._stop = threading.Event()
        self._thread = None
        self._saved = None
        self._restore_lock = threading.Lock()
        self._term_lock = threading.RLock()  # one writer on the terminal at a time
        self._log_guards = []  # (handler replaced, guard) while running
        try:
            self.levels.update(bank.levels())
        except Exception:
            pass

    def start(self):
        """Take the terminal (cbreak, no echo) and start reading keys; False if stdin
        is not a terminal."""
        try:
            fd = self.stdin.fileno()
        except (AttributeError, ValueError, OSError):
            fd = None
        if fd is None or not os.isatty(fd):
            log.info("keyboard control off: stdin is not a terminal")
            return False
        import termios
        import tty

        self._fd = fd
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)  # keys arrive one by one, without echo; Ctrl-C still works
        self._guard_console_logging()
        self._thread = threading.Thread(target=self._run, name="severed-keyboard",
                                        daemon=True)
        self._thread.start()
        return True

    def help_text(self):
        names = {k: v for k, v in self.keys.items() if not k.isdigit()}
        return "  ".join(f"{k} {v} ({self.KIND_WORDS.get(self.kinds.get(v), 'on/off')})"
                         for k, v in names.items()) + "  q quit"

    def _run(self):
        try:
            self._draw()
            while not self._stop.is_set():
                ready, _, _ = select.select([self._fd], [], [], self.redraw_s)
                if ready:
                    data = os.read(self._fd, 32)
                    if not data:
                        break  # terminal closed
                    for ch in data.decode(errors="ignore"):
                        self.key(ch)
                self.release_due()
                self._draw()
        except Exception:
            log.exception("keyboard control failed")
        finally:
            self._restore()

    def key(self, ch):
        """Act on one key (also usable without a terminal, e.g. from tests)."""
        if ch == "q":
            self._stop.set()
            if self.on_quit is not None:
                self.on_quit()
            return
        name = self.keys.get(ch)
        if name is None:
            return
        pulse = PULSE_S.get(self.kinds.get(name))
        if pulse is not None:
            self._release_at[name] = self.clock() + pulse
            if self.levels.get(name):
                return  # still on: the pulse is extended
            level = 1
        else:
            level = 0 if self.levels.get(name) else 1
        if self._drive(name, level):
            self._explain(name, level)

    def release_due(self):
        """End the pulses whose time has come."""
        now = self.clock()
        for name, at in list(self._release_at.items()):
            if now >= at:
                del self._release_at[name]
                self._drive(name, 0)

    def _drive(self, name, level):
        try:
            self.bank.drive(name, level)
        except SensorError as exc:
            log.warning("keyboard: %s", exc)
            return False
        self.levels[name] = level
        return True

    def _explain(self, name, level):
        if self.explain is None:
            return
        states = KIND_STATES.get(self.kinds.get(name))
        if not states:
            return
        event = f"{name}.{states[0 if level else 1]}"
        try:
            why = self.explain(event)
        except Exception:  # noqa: BLE001 - a note is a courtesy, never a failure
            why = None
        self.note = (f"{event}: no scene change: {why}", self.clock() + NOTE_S) if why \
            else None

    def status_line(self):
        """The line as drawn (without the terminal's control characters)."""
        text = self.status() if self.status is not None else ""
        if self.note is not None and self.clock() >= self.note[1]:
            self.note = None
        sensors = " ".join(f"{n} {self._state_word(n, v)}" for n, v in self.levels.items())
        tail = self.note[0] if self.note is not None else f"[{self.help_text()}]"
        line = f"{text}  {sensors}  {tail}".strip()
        # A line longer than the terminal wraps, and "\r" then redraws only its end.
        width = shutil.get_terminal_size((200, 24)).columns - 1
        return line[:width]

    def _state_word(self, name, level):
        """The state a level means for this kind of sensor ("closed", "start")."""
        states = KIND_STATES.get(self.kinds.get(name))
        return (states[0] if level else states[1]) if states else ("on" if level else "off")

    def _draw(self):
        with self._term_lock:
            try:
                self.stdout.write("\r" + self.status_line() + "\x1b[K")
                self.stdout.flush()
            except (OSError, ValueError):
                pass

    def _erase(self):
        try:
            self.stdout.write("\r\x1b[K")
            self.stdout.flush()
        except (OSError, ValueError):
            pass

    def _guard_console_logging(self):
        """Route the console's log lines through _LogAboveStatus while we run."""
        root = logging.getLogger()
        for handler in list(root.handlers):
            if type(handler) is logging.StreamHandler:
                guard = _LogAboveStatus(self, handler)
                root.removeHandler(handler)
                root.addHandler(guard)
                self._log_guards.append((handler, guard))

    def _unguard_console_logging(self):
        root = logging.getLogger()
        for handler, guard in self._log_guards:
            root.removeHandler(guard)
            root.addHandler(handler)
        self._log_guards = []

    def _restore(self):
        import termios

        with self._restore_lock:  # the thread and stop() may both get here
            saved, self._saved = self._saved, None
        if saved is None:
            return
        self._unguard_console_logging()
        try:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, saved)
            self.stdout.write("\n")
            self.stdout.flush()
        except (OSError, ValueError, termios.error):
            pass

    def stop(self):
        """Stop reading keys and give the terminal back as it was."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._restore()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class _LogAboveStatus(logging.Handler):
    """A console handler's lines, printed above the keyboard's status line: erase the
    line, let the handler write, draw the line again."""

    def __init__(self, keyboard, inner):
        super().__init__(inner.level)
        self.keyboard = keyboard
        self.inner = inner
        self._severed = getattr(inner, "_severed", False)

    def emit(self, record):
        with self.keyboard._term_lock:
            self.keyboard._erase()
            self.inner.handle(record)
            self.keyboard._draw()
