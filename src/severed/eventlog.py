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

Where the writing happens. A write that does not fail can still take long: an SD card
collecting its garbage holds a write for hundreds of milliseconds, a hung NFS mount
forever, and journald when it is busy blocks its socket. The daemon's render thread
must not wait for any of them, so the daemon's log is made with ``background=True``:
``write`` then only calls the listeners, keeps the record in ``recent`` and appends it
to a bounded queue; a writer thread (``severed-eventlog``) takes the queue in batches
and does everything that can block: the journal lines, opening, writing, rotating and
retrying the file. When the writer is held up long enough for the queue to fill
(``queue_records``, some minutes of a command flood), further records are counted and
dropped, not queued, and the file gets a ``lost`` record where they are missing, as for
a write error. ``close`` writes what is queued (waiting ``CLOSE_WAIT_S`` at most for a
stuck disk) and stops the writer.

Without ``background`` (the default: ``severed render --events`` and tests) records are
written on the caller's thread, as they come. Offline nothing plays in real time: the
renderer waits for its WAV file on the same disk anyway, a slow write only makes the
render slower, and a record must never be dropped because the disk was slow. Written in
line, the file holds every record in order by construction, with no thread to flush.

Listeners (the fleet's link) are called on the thread that calls ``write``, before the
record is queued, so they get every record even while the file is stuck; they must only
hand the record over (a deque append), never block. The records are handed over as
they are: the caller must not change a record after writing it.

``retarget`` moves the log to another path and cap (a reload) between two records.
"""

import collections
import errno
import json
import logging
import os
import threading
import time

log = logging.getLogger("severed.loop")

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
RETRY_S = 60.0
# Records the writer may fall behind by. The loop writes a few a second, a command flood
# (20 commands a second after the control socket's limit, two records each) 40: this
# rides out minutes of a stalled card, in about 2 MB at the worst.
QUEUE_RECORDS = 8192
BATCH_RECORDS = 256  # taken off the queue at once, so a stall cannot hold more
WAKE_S = 1.0  # the writer looks at the queue at least this often (it is woken sooner)
CLOSE_WAIT_S = 5.0  # how long ``close`` waits for a stuck disk before it gives up
RETARGET_WAIT_S = 2.0  # how long ``retarget`` waits to report a file it cannot open

_WHY = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied", errno.ENOENT: "no such directory",
        errno.EDQUOT: "over quota", errno.EIO: "an I/O error", errno.EISDIR: "a directory"}


def why(exc):
    """A short reason for an OSError, in a technician's words."""
    return _WHY.get(exc.errno, exc.strerror or str(exc))


class EventLog:
    """Records to ``path`` (when given) and the last ``keep`` in ``recent`` (None: all).

    ``background=True`` (the daemon) writes the file and the journal lines on a writer
    thread, from a queue of at most ``queue_records``; see the module's docstring."""

    def __init__(self, path=None, keep=200, *, max_bytes=DEFAULT_MAX_BYTES, retry_s=RETRY_S,
                 clock=time.monotonic, background=False, queue_records=QUEUE_RECORDS):
        self.recent = []  # the last ``keep`` records, for status and tests
        self._keep = keep
        self._listeners = ()
        self._file = _LogFile(retry_s, clock)
        self._lock = threading.Lock()  # in line: write (render thread) against retarget (reload)
        self._writer = _Writer(self._file, queue_records) if background else None
        self.path = None
        self.max_bytes = max_bytes
        self.retarget(path, max_bytes)

    def add_listener(self, fn):
        """``fn(record)`` is called with every record, on the thread that writes it (the
        render thread): it must only hand the record over (a deque append), never block."""
        self._listeners = self._listeners + (fn,)

    @property
    def failing(self):
        """The reason the file cannot be written now, or None."""
        return self._file.failing

    @property
    def lost(self):
        """Records dropped since the file last worked (or the writer last kept up)."""
        queued_out = self._writer.dropped if self._writer is not None else 0
        return self._file.lost + queued_out

    def write(self, record):
        for fn in self._listeners:
            fn(record)
        self.recent.append(record)
        if self._keep is not None and len(self.recent) > self._keep:
            del self.recent[: len(self.recent) - self._keep]
        if self._writer is not None:
            self._writer.put(record)
            return
        _journal(record)
        with self._lock:
            self._file.write(record)

    def retarget(self, path, max_bytes=DEFAULT_MAX_BYTES):
        """Write to ``path`` (None: no file) capped at ``max_bytes`` from the next record.

        In the background this waits ``RETARGET_WAIT_S`` at most for the writer to open
        the file, so that a reload (or the start) reports a file it cannot open at once,
        and a stalled disk does not hold it longer."""
        path = os.path.expanduser(path) if path else None
        moved = path != self.path
        self.path, self.max_bytes = path, max(1, int(max_bytes))
        if self._writer is not None:
            self._writer.call(self._file.retarget, path, self.max_bytes)
            if moved:  # a reload keeping the path does not wait for a stalled disk
                self._writer.flush(RETARGET_WAIT_S)
            return
        with self._lock:
            self._file.retarget(path, self.max_bytes)

    def flush(self, timeout=None):
        """Wait until what was written so far is in the file (or dropped); False when
        ``timeout`` passed first. Nothing to wait for without ``background``."""
        return self._writer.flush(timeout) if self._writer is not None else True

    def close(self):
        """Write what is queued and close the file; later records only go to ``recent``,
        the listeners and the journal."""
        writer, self._writer = self._writer, None
        if writer is not None and not writer.close(CLOSE_WAIT_S):
            log.error("event log %s: the disk has taken no record for %g s; the records "
                      "still queued are not written", self.path, CLOSE_WAIT_S,
                      extra={"EVENT_LOG": self.path})
            return  # the stuck writer still holds the file; it ends with the process
        with self._lock:
            self._file.close()
        self.path = None


class _Writer:
    """The writer thread and the queue the render thread hands records to.

    Items in the queue: a record (a dict); the number of records dropped there (an int);
    a call to make between two records (a tuple: a retarget). Only the writing threads
    take ``_hand``, for a few appends; the writer thread pops without it (a deque's
    append and popleft are safe against each other), so the render thread never waits
    for the disk, the journal or the writer."""

    def __init__(self, file, capacity):
        self._file = file
        self._capacity = max(2, int(capacity))
        self._queue = collections.deque()
        self._hand = threading.Lock()
        self.dropped = 0  # records the full queue turned away, not yet queued as a count
        self._put = 0  # items queued so far
        self._done = 0  # items the writer has finished with
        self._progress = threading.Condition()  # _done moved (flush waits on it)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="severed-eventlog", daemon=True)
        self._thread.start()

    def put(self, record):
        """Queue ``record``; count it dropped when the queue is full (the writer stuck)."""
        with self._hand:
            if len(self._queue) + (2 if self.dropped else 1) > self._capacity:
                self.dropped += 1
                return
            if self.dropped:  # room again: the file says first what it misses
                self._append(self.dropped)
                self.dropped = 0
            self._append(record)

    def call(self, fn, *args):
        """Call ``fn(*args)`` on the writer thread after the records queued before; never
        dropped (a reload's retarget)."""
        with self._hand:
            self._append((fn, args))

    def _append(self, item):
        self._queue.append(item)
        self._put += 1
        if len(self._queue) == 1:
            # It was empty: the writer may be waiting. Woken at once, it keeps the file
            # current to the millisecond (a crash loses next to nothing), at the price of
            # taking the interpreter lock for a moment in the block that wrote the record.
            self._wake.set()

    def flush(self, timeout=None):
        with self._hand:
            target = self._put
        self._wake.set()
        with self._progress:
            return self._progress.wait_for(lambda: self._done >= target, timeout)

    def close(self, timeout):
        """Write what is queued, stop the thread; False when it is still stuck."""
        with self._hand:
            if self.dropped:
                self._append(self.dropped)
                self.dropped = 0
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self):
        while True:
            self._wake.wait(WAKE_S)
            self._wake.clear()  # before taking the queue: an append after it wakes us again
            stopping = self._stop.is_set()
            while self._queue:
                batch = [self._queue.popleft()
                         for _ in range(min(len(self._queue), BATCH_RECORDS))]
                for item in batch:
                    self._take(item)
                with self._progress:
                    self._done += len(batch)
                    self._progress.notify_all()
            if stopping:
                return

    def _take(self, item):
        try:
            if isinstance(item, dict):
                _journal(item)
                self._file.write(item)
            elif isinstance(item, int):
                self._file.dropped(item)
            else:
                fn, args = item
                fn(*args)
        except Exception:  # one bad record must not end the writer (and with it the log)
            log.exception("event log: writing %r failed; the next record is written",
                          item if isinstance(item, dict) else type(item).__name__)


class _LogFile:
    """The file, capped, rotated and tried again: used by one thread at a time."""

    def __init__(self, retry_s, clock):
        self._clock = clock
        self._retry_s = retry_s
        self._fd = None
        self._size = 0
        self._retry_at = None  # when to try the file again after a failure
        self.failing = None  # the reason reported for the current outage
        self.lost = 0  # records dropped in the current outage
        self._cut = False  # the last write stopped mid-line
        self.path = None
        self.max_bytes = DEFAULT_MAX_BYTES

    def retarget(self, path, max_bytes):
        self.max_bytes = max_bytes
        if path == self.path:
            return
        self.close()
        self.path = path
        self.failing, self.lost, self._retry_at = None, 0, None
        if path is not None:
            self._open()

    def write(self, record):
        if self.path is not None:
            self._write_line(_line(record), record.get("t"))

    def dropped(self, count):
        """``count`` records the writer could not keep up with: the next line says so."""
        if self.path is None:
            return
        log.warning("event log %s fell behind (the disk took too long to write): %d records "
                    "were dropped", self.path, count, extra={"EVENT_LOG": self.path})
        self.lost += count

    def close(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def _write_line(self, line, t):
        if self._fd is None and not self._try_again():
            self.lost += 1
            return
        data = line.encode()
        if self.lost:  # the file works again: say first what it misses
            data = _line({"t": t, "type": "lost", "records": self.lost}).encode() + data
        try:
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            if self._cut:
                data = b"\n" + data  # end the record a full disk cut short
            self._write_all(data)
        except OSError as exc:
            self._fail(exc)
            self.lost += 1
            return
        if self.failing is not None:
            log.warning("event log %s is written again; %d records were lost meanwhile",
                        self.path, self.lost, extra={"EVENT_LOG": self.path})
        self.lost, self.failing = 0, None

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
            self.close()
            self._fail(exc)
            return False
        return True

    def _rotate(self):
        """PATH -> PATH.1 (replacing it), and a new PATH; OSError when that fails."""
        self.close()
        os.replace(self.path, self.path + ".1")
        self._cut = False  # the cut line ended with the old file
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o640)
        self._size = 0

    def _fail(self, exc):
        self.close()
        self._retry_at = self._clock() + self._retry_s
        reason = why(exc)
        if self.failing is None:  # once per outage, not once per record
            log.error("event log %s cannot be written (%s): the show plays on without "
                      "it; trying again every %g s", self.path, reason, self._retry_s,
                      extra={"EVENT_LOG": self.path})
        self.failing = reason


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
