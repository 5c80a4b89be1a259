"""Telling systemd how the daemon is doing: readiness, a status line, the watchdog.

Everything here is a no-op outside systemd (no ``NOTIFY_SOCKET``), so the daemon runs
the same on a laptop. systemd-python's ``daemon.notify`` reads ``NOTIFY_SOCKET`` from
the environment at each call, so nothing is cached at import or construction.

Wiring in ``severed run``::

    notifier = Notifier()
    notifier.extend_timeout(120)               # while a cold precompute runs
    ...start the render loop, wait for the first block...
    notifier.ready(status_line(loop.status()))
    watchdog = Watchdog(notifier, progress=lambda: loop.blocks_rendered,
                        status=lambda: status_line(loop.status()))
    watchdog.start()
    try:
        ...serve until SIGTERM...
    finally:
        notifier.stopping()
        watchdog.stop()

The watchdog pings only while ``progress()`` keeps changing: a hung render loop stops
the pings and systemd restarts the service (``WatchdogSec=`` in the unit).
"""

import logging
import os
import threading
import time

log = logging.getLogger(__name__)


def _systemd_notify(message):
    # Imported late: the maintenance commands import this module's neighbours and
    # should not pay for the C extension, and a dev machine may lack it.
    try:
        from systemd import daemon
    except ImportError:  # pragma: no cover - systemd-python is a dependency
        return False
    return bool(daemon.notify(message))


class Notifier:
    """Sends sd_notify messages; every method returns False when not under systemd.

    ``send`` is the function that delivers one message (systemd-python's
    ``daemon.notify`` by default); tests may pass their own.
    """

    def __init__(self, send=_systemd_notify, env=None):
        self._send = send
        self._env = os.environ if env is None else env
        self._lock = threading.Lock()  # the watchdog thread and the main thread both send

    @property
    def enabled(self):
        return bool(self._env.get("NOTIFY_SOCKET"))

    def notify(self, message):
        if not self.enabled:
            return False
        with self._lock:
            try:
                return self._send(message)
            except OSError as exc:
                # A notification lost is not worth stopping the sound for.
                log.warning("could not notify systemd (%s): %s", message.split("=")[0], exc)
                return False

    def ready(self, status=None):
        """Sound is flowing: systemd may consider the start finished."""
        lines = ["READY=1", f"MAINPID={os.getpid()}"]
        if status:
            lines.append("STATUS=" + _one_line(status))
        return self.notify("\n".join(lines))

    def status(self, text):
        """The line ``systemctl status severed`` shows."""
        return self.notify("STATUS=" + _one_line(text))

    def stopping(self):
        return self.notify("STOPPING=1")

    def reloading(self):
        return self.notify("RELOADING=1")

    def watchdog(self):
        return self.notify("WATCHDOG=1")

    def extend_timeout(self, seconds):
        """Ask for more start-up time (a cold precompute on a Pi Zero takes minutes)."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1e6)}")


def _one_line(text):
    return " ".join(str(text).split())[:200]


def watchdog_interval_s(env=None, pid=None):
    """Half of ``WATCHDOG_USEC`` in seconds, or None when no watchdog is asked for.

    Mirrors sd_watchdog_enabled(3), which systemd-python does not wrap: the watchdog
    applies to this process only when ``WATCHDOG_PID`` is unset or names it.
    """
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and owner.isdigit() and int(owner) != (os.getpid() if pid is None else pid):
        return None
    return usec / 2e6


def status_line(status):
    """One line for systemd from ``loop.status()``: scene, tension, volume, faults."""
    parts = []
    scene = status.get("scene") or "-"
    overlays = [o for o in status.get("overlays") or () if o]
    parts.append(f"scene {scene}" + (f" (+{'+'.join(overlays)})" if overlays else ""))
    tension = status.get("tension")
    if isinstance(tension, (int, float)):
        parts.append(f"tension {tension:.2f}")
    if status.get("muted"):
        parts.append("muted")
    elif isinstance(status.get("volume_db"), (int, float)):
        parts.append(f"volume {status['volume_db']:+.1f} dB")
    parts.append(f"{int(status.get('underruns') or 0)} underruns")
    sensors = status.get("sensors") or {}
    faulty = sorted(name for name, state in sensors.items()
                    if state in ("fault", "quarantined", "stuck"))
    faulty += [f for f in status.get("faults") or () if f not in faulty]
    parts.append("sensor faults: " + ", ".join(faulty) if faulty else "sensors ok")
    if status.get("safe_mode"):
        parts.insert(0, "SAFE MODE")
    return ", ".join(parts)


class Watchdog:
    """Pings systemd's watchdog from its own thread while ``progress()`` advances.

    ``progress`` is read every half watchdog interval (``interval_s``, taken from
    ``WATCHDOG_USEC`` by default); a ping goes out only if its value changed since the
    last check, so a render loop that stops producing blocks lets the watchdog fire.
    ``status`` (optional) returns the STATUS line, sent when it changes, at most every
    ``status_every_s``. ``start()`` does nothing outside systemd.
    """

    def __init__(self, notifier, progress, *, status=None, interval_s=None,
                 status_every_s=5.0, env=None):
        self.notifier = notifier
        self.progress = progress
        self._status = status
        self._env = os.environ if env is None else env
        self.interval_s = interval_s if interval_s is not None else watchdog_interval_s(self._env)
        self.status_every_s = status_every_s
        self.pings = 0
        self._stop = threading.Event()
        self._thread = None

    @property
    def active(self):
        return self._thread is not None and self._thread.is_alive()

    def start(self):
        if not self.notifier.enabled or (self.interval_s is None and self._status is None):
            return False
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="severed-watchdog", daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout_s=2.0):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self):
        tick_s = self.interval_s if self.interval_s is not None else self.status_every_s
        last_progress = self._read_progress()
        last_status, last_status_at = None, float("-inf")
        stalled = False
        while not self._stop.wait(tick_s):
            current = self._read_progress()
            if self.interval_s is not None and current is not None and current != last_progress:
                if self.notifier.watchdog():
                    self.pings += 1
                last_progress, stalled = current, False
            elif self.interval_s is not None and not stalled:
                # Once per stall: systemd will restart us if it lasts.
                log.error("render loop made no progress in %.2f s: watchdog not pinged",
                          tick_s)
                stalled = True
            now = time.monotonic()
            if self._status is not None and now - last_status_at >= self.status_every_s:
                line = self._read_status()
                if line is not None and line != last_status:
                    self.notifier.status(line)
                    last_status = line
                last_status_at = now

    def _read_progress(self):
        try:
            return self.progress()
        except Exception:  # a broken probe must look like no progress, not kill the thread
            log.exception("watchdog progress probe failed")
            return None

    def _read_status(self):
        try:
            return self._status()
        except Exception:
            log.exception("status line probe failed")
            return None
