"""The event log: JSON lines of what the show did, one record per line.

Every record has ``t`` (engine seconds) and ``type``; the render loop writes scene
changes, sensor events, faults, commands and reloads. The file is for a technician
and for analysis; the sound must never depend on it. So writing it never raises:

- a file that cannot be opened (no such directory, permission denied) or written (the
  disk is full, read-only, an I/O error) is reported once, with its path and the
  reason; records are then dropped (and counted) while the show plays on, and the file
  is tried again every ``retry_s``; when writing works again the log says how many
  records were lost, in the journal and in the file (a ``lost`` record);
- the file is capped: once it would pass ``max_bytes`` it is renamed to ``PATH.1``
  (replacing the previous one) and a new one is started, so the log takes at most
  twice ``max_bytes`` of disk whatever happens (a command flood, a sensor storm).

Records are written with one ``write(2)`` each on a descriptor opened with O_APPEND:
nothing is buffered in the process, so a full disk cannot make a buffer grow, and a
record cut short by it is ended before the next one.

``retarget`` moves the log to another path and cap (a reload) between two records.
"""

import errno
import json
import logging
import os
import threading
import time

log = logging.getLogger("severed.loop")

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
RETRY_S = 60.0

_WHY = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied", errno.ENOENT: "no such directory",
        errno.EDQUOT: "over quota", errno.EIO: "an I/O error", errno.EISDIR: "a directory"}


def why(exc):
    """A short reason for an OSError, in a technician's words."""
    return _WHY.get(exc.errno, exc.strerror or str(exc))


class EventLog:
    """Records to ``path`` (when given) and the last ``keep`` in ``recent`` (None: all)."""

    def __init__(self, path=None, keep=200, *, max_bytes=DEFAULT_MAX_BYTES, retry_s=RETRY_S,
                 clock=time.monotonic):
        self.recent = []  # the last ``keep`` records, for status and tests
        self._keep = keep
        self._clock = clock
        self._retry_s = retry_s
        self._lock = threading.Lock()  # write (render thread) against retarget (reload)
        self._fd = None
        self._size = 0
        self._retry_at = None  # when to try the file again after a failure
        self._failing = None  # the reason reported for the current outage
        self._lost = 0  # records dropped in the current outage
        self._cut = False  # the last write stopped mid-line
        self.path = None
        self.max_bytes = max_bytes
        self._listeners = ()
        self.retarget(path, max_bytes)

    def add_listener(self, fn):
        """``fn(record)`` is called with every record, on the writer's thread (the render
        thread): it must only hand the record over (a deque append), never block."""
        self._listeners = self._listeners + (fn,)

    @property
    def failing(self):
        """The reason the file cannot be written now, or None."""
        return self._failing

    @property
    def lost(self):
        """Records dropped since the file last worked."""
        return self._lost

    def write(self, record):
        _journal(record)
        for fn in self._listeners:
            fn(record)
        self.recent.append(record)
        if self._keep is not None and len(self.recent) > self._keep:
            del self.recent[: len(self.recent) - self._keep]
        if self.path is None:
            return
        with self._lock:
            self._write_line(_line(record), record.get("t"))

    def retarget(self, path, max_bytes=DEFAULT_MAX_BYTES):
        """Write to ``path`` (None: no file) capped at ``max_bytes`` from now on."""
        path = os.path.expanduser(path) if path else None
        with self._lock:
            self.max_bytes = max(1, int(max_bytes))
            if path == self.path:
                return
            self._close()
            self.path = path
            self._failing, self._lost, self._retry_at = None, 0, None
            if path is not None:
                self._open()

    def close(self):
        with self._lock:
            self._close()
            self.path = None

    # -- the file ----------------------------------------------------------------

    def _write_line(self, line, t):
        if self._fd is None and not self._try_again():
            self._lost += 1
            return
        data = line.encode()
        if self._lost:  # the file works again: say first what it misses
            data = _line({"t": t, "type": "lost", "records": self._lost}).encode() + data
        try:
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            if self._cut:
                data = b"\n" + data  # end the record a full disk cut short
            self._write_all(data)
        except OSError as exc:
            self._fail(exc)
            self._lost += 1
            return
        if self._lost:
            log.warning("event log %s is written again; %d records were lost meanwhile",
                        self.path, self._lost, extra={"EVENT_LOG": self.path})
        self._lost, self._failing = 0, None

    def _write_all(self, data):
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        finally:
            self._size += written
            if written:
                self._cut = written < len(data)

    def _try_again(self):
        if self._retry_at is None or self._clock() < self._retry_at:
            return False
        return self._open()

    def _open(self):
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o640)
            self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            self._close()
            self._fail(exc)
            return False
        return True

    def _rotate(self):
        """PATH -> PATH.1 (replacing it), and a new PATH; OSError when that fails."""
        self._close()
        os.replace(self.path, self.path + ".1")
        self._cut = False  # the cut line ended with the old file
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o640)
        self._size = 0

    def _fail(self, exc):
        self._close()
        self._retry_at = self._clock() + self._retry_s
        reason = why(exc)
        if self._failing is None:  # once per outage, not once per record
            log.error("event log %s cannot be written (%s): the show plays on without "
                      "it; trying again every %g s", self.path, reason, self._retry_s,
                      extra={"EVENT_LOG": self.path})
        self._failing = reason

    def _close(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


def _line(record):
    return json.dumps(record, separators=(",", ":")) + "\n"


def _journal(record):
    """Tell the journal (or console) about the rare records a technician looks for."""
    kind = record["type"]
    if kind == "scene":
        log.info("scene %s -> %s (%s)", record["from"], record["to"], record.get("reason", ""),
                 extra={"SCENE": record["to"]})
    elif kind == "fault":
        log.warning("sensor %s: %s %s", record["sensor"], record["state"],
                    record.get("reason", ""), extra={"SENSOR": record["sensor"]})
    elif kind in ("overlay", "reload", "hours"):
        log.info("%s", " ".join(f"{k}={v}" for k, v in record.items() if k != "t"))
