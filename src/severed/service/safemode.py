"""Crash counting: after repeated unclean starts, start in a degraded "safe" mode.

systemd restarts a crashed daemon (``Restart=on-failure``); if the crash comes from the
show or a sensor, it would crash again and again until the start limit stops the
service, leaving the booth silent. Instead, ``severed run`` records each start and
clears the record on a clean stop; after ``limit`` unclean starts within ``window_s``
it starts in safe mode (the lead decides what that plays: the built-in show with no
sensors, say)::

    counter = CrashCounter("/var/lib/severed")
    safe = counter.should_use_safe_mode(time.time())   # records this start too
    try:
        ...run...
    finally:
        if stopped_cleanly:
            counter.clear()

The file is tiny JSON, written atomically (temp file, fsync, rename) so a power cut
cannot leave half a file; a damaged file counts as no crashes.
"""

import json
import logging
import os

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = "/var/lib/severed"
FILE_NAME = "starts.json"


class CrashCounter:
    """Start times of runs that have not stopped cleanly, kept in ``state_dir``."""

    def __init__(self, state_dir=DEFAULT_STATE_DIR, limit=3, window_s=300.0):
        self.path = os.path.join(state_dir, FILE_NAME)
        self.limit = limit
        self.window_s = window_s

    def starts(self):
        """Recorded unclean start times (seconds since the epoch)."""
        try:
            with open(self.path) as f:
                data = json.load(f)
            return [float(t) for t in data.get("starts", [])]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable crash record %s: %s", self.path, exc)
            return []

    def should_use_safe_mode(self, now):
        """Record a start at ``now``; True if ``limit`` earlier starts within
        ``window_s`` never reached a clean stop (they crashed or were killed)."""
        recent = [t for t in self.starts() if now - self.window_s <= t <= now] + [now]
        recent = recent[-(self.limit + 5):]  # bounded, whatever happens
        self._write(recent)
        unclean = len(recent) - 1
        unsafe = unclean >= self.limit
        if unsafe:
            log.error("%d starts without a clean stop in the last %.0f s: safe mode",
                      unclean, self.window_s)
        return unsafe

    def clear(self):
        """A clean stop: forget the starts."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot clear the crash record %s: %s", self.path, exc.strerror)

    def _write(self, starts):
        directory = os.path.dirname(self.path)
        tmp = self.path + ".tmp"
        try:
            os.makedirs(directory, exist_ok=True)
            with open(tmp, "w") as f:
                json.dump({"starts": starts}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            # A read-only root or a full disk must not stop the show from starting.
            log.warning("cannot record this start in %s: %s", self.path, exc.strerror)
