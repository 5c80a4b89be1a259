"""Real-time scheduling for the render thread, when the system allows it.

Call ``try_realtime()`` from the render thread itself: ``sched_setscheduler(0, ...)``
applies to the calling thread only on Linux, so the rest of the daemon (control socket,
GPIO callbacks) keeps normal priority and cannot starve the sound. Allowed for root or
with ``LimitRTPRIO=`` in the unit (RLIMIT_RTPRIO); elsewhere it returns False and logs
why, and the sound plays at normal priority.
"""

import logging
import os
import resource

log = logging.getLogger(__name__)

DEFAULT_PRIORITY = 20  # above kernel worker defaults (1..), far below IRQ threads (50)


def try_realtime(priority=DEFAULT_PRIORITY):
    """SCHED_FIFO at ``priority`` for the calling thread; True if it took effect."""
    if not hasattr(os, "sched_setscheduler"):
        log.info("real-time scheduling unavailable on this system")
        return False
    try:
        low = os.sched_get_priority_min(os.SCHED_FIFO)
        high = os.sched_get_priority_max(os.SCHED_FIFO)
        priority = max(low, min(high, int(priority)))
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        soft, _ = resource.getrlimit(resource.RLIMIT_RTPRIO)
        log.warning("render thread stays at normal priority: SCHED_FIFO %d not allowed "
                    "(RLIMIT_RTPRIO is %d; the unit's LimitRTPRIO= raises it)",
                    priority, soft)
        return False
    except OSError as exc:
        log.warning("render thread stays at normal priority: SCHED_FIFO %d failed: %s",
                    priority, exc.strerror or exc)
        return False
    log.info("render thread runs at SCHED_FIFO priority %d", priority)
    return True


def current_policy():
    """The calling thread's scheduling policy name (for status and doctor)."""
    names = {getattr(os, n): n for n in ("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR",
                                        "SCHED_BATCH", "SCHED_IDLE") if hasattr(os, n)}
    return names.get(os.sched_getscheduler(0), "unknown")
