"""Logging set-up: the systemd journal under systemd, the console everywhere else.

Call ``setup_logging()`` once at the start of ``severed run``. Log with structured
fields through ``extra=`` so ``journalctl`` can filter on them::

    log.info("scene %s -> %s", old, new, extra={"SCENE": new})
    log.warning("sensor %s quarantined", name, extra={"SENSOR": name})

    journalctl -u severed SENSOR=door     # everything about the door sensor

Field names must be upper case (journald's rule); the console handler shows the known
ones (``FIELDS``) after the message.
"""

import faulthandler
import logging
import os
import sys

# Structured fields severed uses; shown on the console as "[scene=innie]".
FIELDS = ("SCENE", "SENSOR", "EVENT", "DEVICE", "PIN")


def under_systemd(env=None):
    """True when started by systemd with stdout/stderr connected to the journal."""
    env = os.environ if env is None else env
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


class ConsoleFormatter(logging.Formatter):
    """``time level logger: message [field=value ...]`` for a terminal."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record):
        text = super().format(record)
        fields = [f"{name.lower()}={getattr(record, name)}" for name in FIELDS
                  if getattr(record, name, None) is not None]
        return text + (" [" + " ".join(fields) + "]" if fields else "")


def make_handler(env=None, stream=None, journal_send=None):
    """The handler for this environment: a JournalHandler under systemd, else console.

    ``journal_send`` replaces systemd-python's ``journal.send`` (tests).
    """
    if under_systemd(env):
        try:
            from systemd.journal import JournalHandler, send
        except ImportError:  # pragma: no cover - systemd-python is a dependency
            pass
        else:
            handler = JournalHandler(sender_function=journal_send or send,
                                     SYSLOG_IDENTIFIER="severed")
            # The journal stamps time, priority and the unit itself.
            handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
            return handler
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(ConsoleFormatter())
    return handler


def setup_logging(level="INFO", env=None, stream=None, journal_send=None):
    """Route the root logger to one handler fit for where we run; return it.

    Replaces handlers an earlier call installed, so calling it twice is harmless.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_severed", False)]:
        root.removeHandler(old)
    handler = make_handler(env, stream, journal_send)
    handler._severed = True
    if under_systemd(env) and not faulthandler.is_enabled():
        # The watchdog kills a hung daemon with SIGABRT: print every thread's stack to
        # stderr (the journal) first, so the log shows where the render loop was stuck.
        faulthandler.enable(all_threads=True)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else str(level).upper())
    return handler
