"""Every booth a broker knows, from their retained status and state: what
``severed fleet`` prints for a technician with SSH to any one booth.

::

    booths = collect(cfg, user="technician", password="...")   # {site: Booth}
    print(format_table(booths, now=time.time()))
"""

import json
import threading
import time
from dataclasses import dataclass, field, replace

from severed.errors import SeveredError
from severed.fleet.mqtt import Connection

QUIET_S = 0.3  # retained messages come in a burst after subscribing; then it is quiet


@dataclass
class Booth:
    site: str
    status: str = "?"  # online | offline | ? (no status seen)
    state: dict = field(default_factory=dict)


def topic_root(base):
    """``severed`` for ``severed/corridor``: where the booths' topics live."""
    return base.rsplit("/", 1)[0] if "/" in base else base


def collect(cfg, user, password, wait_s=2.0, clock=time.monotonic):
    """{site: Booth} from the retained ``<root>/+/status`` and ``<root>/+/state``.
    Raises SeveredError naming the broker when it cannot be reached or refuses."""
    root = topic_root(cfg.base)
    booths = {}
    lock = threading.Lock()
    done = threading.Event()
    last = [clock()]
    outcome = {}

    def on_connect(error):
        outcome["error"] = error
        if error is None:
            conn.subscribe([(f"{root}/+/status", 1), (f"{root}/+/state", 1)])
            last[0] = clock()
        else:
            done.set()

    def on_message(topic, payload):
        parts = topic.split("/")
        site, kind = parts[-2], parts[-1]
        with lock:
            booth = booths.setdefault(site, Booth(site))
            if kind == "status":
                booth.status = payload.decode("utf-8", "replace")
            else:
                try:
                    booth.state = json.loads(payload)
                except ValueError:
                    booth.state = {}
            last[0] = clock()

    conn = Connection(replace(cfg, username=user, password_file=""),
                      client_id=f"severed-fleet-{int(time.time() * 1000) % 10**9}",
                      password=password, on_connect=on_connect, on_message=on_message)
    conn.start()
    deadline = clock() + wait_s
    try:
        while not done.wait(0.05):
            now = clock()
            if "error" in outcome and outcome["error"] is None and now - last[0] > QUIET_S:
                break
            if now > deadline:
                break
    finally:
        conn.stop()
    if outcome.get("error"):
        raise SeveredError(f"broker {cfg.host}:{cfg.port}: {outcome['error']} "
                           f"(user {user!r})")
    if "error" not in outcome:
        raise SeveredError(f"broker {cfg.host}:{cfg.port} did not answer within {wait_s:g} s")
    with lock:
        return dict(booths)


def format_table(booths, now):
    if not booths:
        return "no booths on this broker (none has published its status yet)"
    rows = [("booth", "status", "scene", "group", "faults", "underruns", "seen")]
    for site in sorted(booths):
        b = booths[site]
        s = b.state
        group = s.get("group") or {}
        faults = list(s.get("faults") or [])
        rows.append((
            site, "online" if b.status == "online" else b.status.upper(),
            str(s.get("scene") or "-"),
            f"{group.get('name')} {group.get('role')}" if group else "-",
            ",".join(faults) or "-", str(s.get("underruns", "-")),
            _ago(now - s["t"]) if isinstance(s.get("t"), (int, float)) else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _ago(seconds):
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"
