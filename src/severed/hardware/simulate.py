"""Simulated sensors: a scenario or the keyboard drives the mock pins of a SensorBank.

Both work through the pins (``bank.drive``), so everything downstream (gpiozero's
callbacks, edge stamping, conditioning, the show) runs exactly as with real sensors::

    bank = SensorBank(site.sensors, dac=site.audio.dac, pin_factory="mock",
                      on_edge=loop.post_edge)
    driver = ScenarioDriver(bank, scenario, on_command=loop.post_command).start()
    keys = KeyboardControl(bank, status=loop.status_line, on_quit=loop.stop)
    keys.start()            # does nothing unless stdin is a terminal
    ...
    keys.stop(); driver.stop()

Threads here wait on an Event with timeouts (never a blind sleep), so ``stop()``
returns promptly; the keyboard restores the terminal's settings when it stops.
"""

import logging
import os
import select
import sys
import threading
import time

from severed.errors import SensorError

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


class KeyboardControl:
    """Single keys toggle mock sensors on a terminal; a live status line is redrawn.

    ``d`` the first door, ``m`` the first pir, ``r`` the first button (press, then
    release), ``1``-``9`` the n-th sensor, ``q`` calls ``on_quit``. ``status()``
    returns the text of the status line (redrawn every ``redraw_s`` and after each
    key). ``stdin`` must be a terminal, or ``start()`` does nothing and says so.
    """

    KIND_KEYS = {"d": "door", "m": "pir", "r": "button"}

    def __init__(self, bank, status=None, on_quit=None, stdin=None, stdout=None,
                 redraw_s=0.25):
        self.bank = bank
        self.status = status
        self.on_quit = on_quit
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.redraw_s = redraw_s
        self.levels = {spec.name: 0 for spec in bank.specs}
        self.keys = {}
        for key, kind in self.KIND_KEYS.items():
            for spec in bank.specs:
                if spec.kind == kind:
                    self.keys[key] = spec.name
                    break
        for i, spec in enumerate(bank.specs[:9]):
            self.keys[str(i + 1)] = spec.name
        self._stop = threading.Event()
        self._thread = None
        self._saved = None
        self._restore_lock = threading.Lock()
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
        self._thread = threading.Thread(target=self._run, name="severed-keyboard",
                                        daemon=True)
        self._thread.start()
        return True

    def help_text(self):
        names = {k: v for k, v in self.keys.items() if not k.isdigit()}
        return "  ".join(f"{k} {v}" for k, v in names.items()) + "  q quit"

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
        level = 0 if self.levels.get(name) else 1
        try:
            self.bank.drive(name, level)
        except SensorError as exc:
            log.warning("keyboard: %s", exc)
            return
        self.levels[name] = level

    def _draw(self):
        text = self.status() if self.status is not None else ""
        sensors = " ".join(f"{n}:{'ON' if v else '-'}" for n, v in self.levels.items())
        line = f"{text}  {sensors}  [{self.help_text()}]".strip()
        try:
            self.stdout.write("\r" + line + "\x1b[K")
            self.stdout.flush()
        except (OSError, ValueError):
            pass

    def _restore(self):
        import termios

        with self._restore_lock:  # the thread and stop() may both get here
            saved, self._saved = self._saved, None
        if saved is None:
            return
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
