"""Floods: how much a burst of requests may cost the daemon and its logs.

A script gone wild (or a user on purpose) can send thousands of commands a second.
Each one would be a journal line and an event-log record: 9,898 lines and 1.39 MB in
ten seconds, on an SD card, crowding out what a technician looks for. Two limits:

``TokenBucket``: commands that change the sound are taken at up to ``rate`` a second
(after a ``burst``); the rest are refused with a reply that says so, so they are
never logged nor recorded at all.

``RepeatSummary``: log lines of one kind (say, "refused uid 1004") pass ``burst``
times in each ``window_s``; the rest are counted and summarised in one line when the
window ends. The first occurrence is always logged::

    quiet = RepeatSummary(log)
    quiet.log("refused 1004", logging.WARNING, "control socket: refused uid %d", 1004)
    # ... the 6th to 10,000th in 10 s: one line, "... 9995 more like it in 10 s"
"""

import threading
import time


class TokenBucket:
    """``take()`` is True while fewer than ``burst`` + ``rate``/s were taken."""

    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


class _Window:
    __slots__ = ("started", "passed", "dropped", "level", "text", "timer")

    def __init__(self, started, level, text):
        self.started = started
        self.passed = 0
        self.dropped = 0
        self.level = level
        self.text = text
        self.timer = None


class RepeatSummary:
    """Logs at most ``burst`` lines of each key per ``window_s`` on ``logger``, then
    one summary line with the count of the others (see the module docstring)."""

    def __init__(self, logger, burst=5, window_s=10.0, clock=time.monotonic):
        self.logger = logger
        self.burst = burst
        self.window_s = window_s
        self.clock = clock
        self._windows = {}
        self._lock = threading.Lock()

    def log(self, key, level, msg, *args, **kwargs):
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.started >= self.window_s:
                self._summarise(window)
                window = None
            if window is None:
                text = msg % args if args else msg
                window = self._windows[key] = _Window(now, level, text)
            if window.passed < self.burst:
                window.passed += 1
            else:
                window.dropped += 1
                if window.timer is None:
                    # Say how many were left out even if the flood has stopped by then.
                    window.timer = threading.Timer(
                        max(0.0, window.started + self.window_s - now),
                        self._expire, (key, window))
                    window.timer.daemon = True
                    window.timer.start()
                return
        self.logger.log(level, msg, *args, **kwargs)

    def _expire(self, key, window):
        with self._lock:
            if self._windows.get(key) is window:
                del self._windows[key]
                self._summarise(window)

    def _summarise(self, window):
        # Called with the lock held, for a window that is no longer current.
        if window.timer is not None:
            window.timer.cancel()
        if window.dropped:
            self.logger.log(window.level, "%s: %d more like it in %g s, not logged",
                            window.text, window.dropped, self.window_s)

    def flush(self):
        """Summarise every open window now (at shutdown, and in tests)."""
        with self._lock:
            for window in self._windows.values():
                self._summarise(window)
            self._windows.clear()
