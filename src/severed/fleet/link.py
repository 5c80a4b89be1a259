"""A running booth on the broker: status, state, commands, events, and its group.

``BoothLink`` sits beside the render loop and never in its way: the render thread only
appends to two deques (event-log records, scene changes the group should decide) and
reads one flag (``grouped``); paho's network thread only queues what arrives; this
link's own thread ("severed-fleet") does everything else, ten times a second::

    link = BoothLink(site.fleet, loop, handler, status=daemon.status,
                     scenes=lambda: daemon.show.scenes)
    link.start()          # returns at once; a broker that is down costs nothing
    link.info()           # for `severed status` and `doctor`
    link.stop()           # "offline" on <base>/status, then a clean disconnect

Topics (docs/fleet.md): ``<base>/status`` online/offline (retained; the will says
offline), ``<base>/state`` (retained JSON, on change and every heartbeat_s),
``<base>/command`` -> ``<base>/reply`` (the control socket's commands, answered by the
same handler), ``<base>/set/<what>`` (Home Assistant), ``<base>/events`` (the event
log's records). A group uses ``<group>/hello``, ``<group>/sensor``, ``<group>/request``
and ``<group>/scene`` (retained: the group's current scene, for late joiners).

In a group the show machine's scene changes are held (``loop.scene_gate``) and sent
here: the leader publishes each with a wall-clock start ``lead_ms`` ahead, every member
(the leader too) schedules it on its own sample clock; a member forwards a technician's
``scene`` command to the leader and drops the changes its own machine made (the leader
hears the same sensors and decides). Without the broker the gate lets every change
through at once: the booth plays standalone.
"""

import collections
import json
import logging
import queue
import threading
import time

from severed import __version__
from severed.fleet import homeassistant
from severed.fleet.clock import OutputClock, output_latency_s
from severed.fleet.group import GONE_AFTER_S, HELLO_S, JOIN_S, Group
from severed.fleet.mqtt import Connection
from severed.service.control import answer, encode
from severed.show.events import Event

log = logging.getLogger("severed.fleet")

TICK_S = 0.1
# Our own "online" (and group hello) must come back by then, or the ACL stops it.
# Mosquitto's ACL file grants every subscription and silently drops what a user may
# not read or write, so the echo is the one check that works on every broker.
ECHO_WAIT_S = 5.0
TENSION_STEP = 0.05  # tension moving less than this is not a change of state
MAX_EVENTS_PER_TICK = 200
# State keys that are news when they change (tension by TENSION_STEP, the rest at all).
_WATCHED = ("scene", "overlays", "volume_db", "muted", "closed", "sensors", "faults",
            "underruns", "show", "safe_mode", "group")


class BoothLink:
    def __init__(self, cfg, loop, handler, status, scenes=lambda: (), *, wall=time.time,
                 clock=time.monotonic):
        self.cfg = cfg
        self.loop = loop
        self.handler = handler
        self.status = status
        self.scenes = scenes
        self.wall = wall
        self.clock = clock
        self.base = cfg.base
        self.group = Group(cfg.group, cfg.site, cfg.leader) if cfg.group else None
        self.gbase = cfg.group_base
        self.grouped = False  # read by the render thread: hold scene changes for the group
        self.problems = {}  # "denied" or the topic whose echo is missing -> sentence
        self._records = collections.deque(maxlen=2000)
        self._held = collections.deque(maxlen=64)
        self._inbox = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = None
        self._subscriptions = {}  # mid -> topics
        self._joined_at = None  # monotonic time of the last (re)connect
        self._heard_self_at = 0.0  # monotonic time our own hello last came back
        self._silent = False  # connected, but the broker passes nothing back
        self._echo_by = {}  # topic -> monotonic deadline for our own message to come back
        self._last_state = None
        self._state_due = 0.0
        self._hello_due = 0.0
        self._pending = (None, None, 0.0)  # the leader's last change: to, reason, start
        self._early = []  # group scene messages heard before the join window closed
        self._warned_scenes = set()
        self.conn = Connection(cfg, will=(f"{self.base}/status", "offline"),
                               on_connect=lambda e: self._inbox.put(("connect", e)),
                               on_disconnect=self._lost,
                               on_message=lambda t, p: self._inbox.put(("message", t, p)),
                               on_subscribe=lambda m, r: self._inbox.put(("suback", m, r)))

    # -- life cycle

    def start(self):
        self.loop.event_log.add_listener(self._records.append)
        if self.group is not None:
            self.loop.output_clock = OutputClock(self.loop.sample_rate,
                                                 output_latency_s(self.loop.sink))
            self.loop.scene_gate = self._gate
        self.conn.start()
        self._thread = threading.Thread(target=self._run, name="severed-fleet", daemon=True)
        self._thread.start()
        log.info("fleet: %s:%d as %s, topics %s%s", self.cfg.host, self.cfg.port,
                 self.cfg.username or "anonymous", self.base,
                 f", group {self.cfg.group}" if self.group else "")
        return self

    def stop(self):
        self.loop.scene_gate = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self.conn.stop(last_words=[(f"{self.base}/status", "offline", True)])

    def info(self):
        """What status and doctor show about the broker and the group."""
        problems = list(self.problems.values())
        if self.conn.error:
            problems.insert(0, self.conn.error)
        info = {"broker": f"{self.cfg.host}:{self.cfg.port}", "connected": self.conn.connected,
                "topics": self.base, "problems": problems}
        if self.group is not None:
            info["group"] = self._group_state()
        return info

    # -- the render thread's side

    def _gate(self, change, t):
        """loop.scene_gate: True plays the change now (standalone); False holds it."""
        if not self.grouped:
            return True
        self._held.append(change)
        return False

    # -- paho's thread

    def _lost(self, reason):
        # Straight from paho's thread: the next scene change already plays standalone.
        self.grouped = False
        self._inbox.put(("disconnect", reason))

    # -- this link's thread

    def _run(self):
        while not self._stop.wait(TICK_S):
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the link must outlive a bad message
                log.exception("fleet: tick failed")

    def _tick(self):
        now = self.clock()
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            getattr(self, "_on_" + item[0])(*item[1:])
        connected = self.conn.connected
        if connected:
            self._check_echo(now)
            if self.group is not None:
                self._group_tick(now)
        self._settle_held(connected)
        self._publish_records(connected)
        if connected:
            self._publish_state(now)

    def _on_connect(self, error):
        if error is not None:
            return
        log.info("fleet: connected to %s:%d", self.cfg.host, self.cfg.port)
        now = self.clock()
        topics = [(f"{self.base}/command", 1), (f"{self.base}/set/+", 1),
                  (f"{self.base}/status", 1)]
        if self.group is not None:
            g = self.gbase
            topics += [(f"{g}/scene", 1), (f"{g}/hello", 0), (f"{g}/sensor", 1),
                       (f"{g}/request", 1)]
            self.group.forget()
            self._early = []
            self._joined_at = self._heard_self_at = now
            self._silent = False
        mid = self.conn.subscribe(topics)
        self._subscriptions[mid] = [t for t, _ in topics]
        self.problems.pop("denied", None)
        self._echo_by = {f"{self.base}/status": now + ECHO_WAIT_S}
        if self.group is not None:
            self._echo_by[f"{self.gbase}/hello"] = now + ECHO_WAIT_S
        self.conn.publish(f"{self.base}/status", "online", qos=1, retain=True)
        if self.cfg.home_assistant:
            for topic, payload in homeassistant.discovery_messages(
                    self.cfg, self._switchable_scenes(), __version__):
                self.conn.publish(topic, payload, qos=1, retain=True)
        self._last_state = None  # publish the state at once

    def _on_disconnect(self, reason):
        log.warning("fleet: lost the broker (%s); playing standalone until it is back",
                    reason)
        self._joined_at = None
        if self.group is not None:
            self.group.forget()

    def _on_suback(self, mid, refused):
        topics = self._subscriptions.pop(mid, [])
        denied = [t for t, no in zip(topics, refused) if no]
        if denied:
            text = (f"the broker refused subscriptions to {', '.join(denied)}: the ACL "
                    f"must let user {self.cfg.username or 'anonymous'!r} read them "
                    "(see docs/fleet.md)")
            if self.problems.get("denied") != text:
                log.error("fleet: %s", text)
            self.problems["denied"] = text

    def _check_echo(self, now):
        for topic, deadline in list(self._echo_by.items()):
            if now > deadline:
                del self._echo_by[topic]
                text = (f"the broker does not pass this booth's messages on {topic} back "
                        f"to it: the ACL must let user {self.cfg.username or 'anonymous'!r} "
                        f"read and write {topic.rsplit('/', 1)[0]}/# (see docs/fleet.md)")
                log.error("fleet: %s", text)
                self.problems[topic] = text

    def _echoed(self, topic):
        self._echo_by.pop(topic, None)
        self.problems.pop(topic, None)

    def _on_message(self, topic, payload):
        base, g = self.base, self.gbase
        if topic == f"{base}/status":
            if payload == b"online":
                self._echoed(topic)
        elif topic == f"{base}/command":
            self._command(payload)
        elif topic.startswith(f"{base}/set/"):
            request = homeassistant.set_request(topic.rsplit("/", 1)[1], payload)
            if request is not None:
                self._command(json.dumps(request).encode())
        elif self.group is not None and topic.startswith(g + "/"):
            message = _json(payload)
            if message is not None:
                self._group_message(topic[len(g) + 1:], message)

    def _command(self, payload):
        reply = answer(self.handler, payload)
        request = _json(payload)
        if request is not None and "id" in request:
            reply["id"] = request["id"]
        self.conn.publish(f"{self.base}/reply", encode(reply).rstrip(b"\n"), qos=1)

    # -- events and state

    def _publish_records(self, connected):
        for _ in range(min(len(self._records), MAX_EVENTS_PER_TICK)):
            record = self._records.popleft()
            if not connected:
                continue
            payload = json.dumps(record, separators=(",", ":"), default=str)
            self.conn.publish(f"{self.base}/events", payload)
            shared = _shared_event(record)
            if shared is not None and self.grouped:
                self.conn.publish(f"{self.gbase}/sensor",
                                  json.dumps(dict(shared, site=self.cfg.site)), qos=1)

    def state(self):
        """The state as published on <base>/state."""
        s = self.status()
        return {"site": self.cfg.site, "scene": s.get("scene"), "overlays": s.get("overlays"),
                "tension": round(float(s.get("tension") or 0.0), 3),
                "volume_db": s.get("volume_db"), "muted": s.get("muted"),
                "closed": s.get("closed"), "sensors": s.get("sensors"),
                "faults": s.get("faults", []), "underruns": s.get("underruns", 0),
                "uptime_s": s.get("uptime_s"), "version": __version__, "show": s.get("show"),
                "safe_mode": s.get("safe_mode", False),
                "group": self._group_state() if self.group is not None else None,
                "t": round(self.wall(), 3)}

    def _publish_state(self, now):
        state = self.state()
        last = self._last_state
        changed = last is None or any(state[k] != last[k] for k in _WATCHED) or \
            abs(state["tension"] - last["tension"]) >= TENSION_STEP
        if not changed and now < self._state_due:
            return
        if self.conn.publish(f"{self.base}/state", encode(state).rstrip(b"\n"), qos=1,
                             retain=True):
            self._last_state = state
            self._state_due = now + self.cfg.heartbeat_s

    # -- the group

    def _group_state(self):
        now = self.clock()
        g = self.group
        if not self.grouped:
            return {"name": g.name, "role": "standalone", "leader": None,
                    "members": [g.me], "note": self._standalone_reason()}
        leader = g.leader(now)
        return {"name": g.name, "role": "leader" if leader == g.me else "member",
                "leader": leader, "members": g.members(now), "note": g.note}

    def _standalone_reason(self):
        if not self.conn.connected:
            return "no broker: playing standalone"
        if self._silent:
            return "the broker passes nothing back: playing standalone"
        return "joining"

    def _group_tick(self, now):
        g = self.group
        if now >= self._hello_due:
            self._hello_due = now + HELLO_S
            self.conn.publish(f"{self.gbase}/hello", json.dumps({"site": g.me}))
        if self.grouped and now - self._heard_self_at > GONE_AFTER_S:
            # A broker that hangs, or a network that drops packets, keeps the connection
            # open until the keepalive runs out (1.5 x keepalive_s); our own hello not
            # coming back says so sooner.
            self.grouped = False
            self._silent = True
            self._joined_at = None
            log.warning("fleet: the broker has passed nothing back for %.1f s; playing "
                        "standalone until it does", now - self._heard_self_at)
        if not self.grouped and self._joined_at is not None and now - self._joined_at >= JOIN_S:
            self._join(now)

    def _heard_self(self, now):
        self._heard_self_at = now
        self._echoed(f"{self.gbase}/hello")
        if self._silent:  # back: join again, from its current scene
            self._silent = False
            log.info("fleet: the broker answers again")
            self.group.forget()
            self._early = []
            self._joined_at = now

    def _join(self, now):
        """The join window is over: follow the group's scene, or lead it to ours."""
        g = self.group
        self.grouped = self.conn.connected
        if not self.grouped:
            return
        latest = max(self._early, key=lambda m: m["at"], default=None)
        self._early = []
        leader = g.leader(now)
        log.info("fleet: in group %s, %s%s", g.name,
                 "leading it" if leader == g.me else f"led by {leader}",
                 f" ({g.note})" if g.note else "")
        if latest is not None:
            # Joining late, or again after a restart (of this booth or the broker): the
            # group's current scene, whoever leads.
            if g.news(latest):
                self._schedule(latest)
        elif leader == g.me:
            # A group without a scene yet (or a broker that forgot it): ours.
            self._decide(self.status().get("scene"), source=None, crossfade_s=None,
                         reason="group formed")

    def _group_message(self, kind, message):
        g = self.group
        site = message.get("site") or message.get("leader")
        if isinstance(site, str):
            g.heard(site, self.clock())
        if kind == "hello" and site == g.me:
            self._heard_self(self.clock())
        if kind == "scene":
            if not self.grouped:
                self._early.append(message)
            elif g.news(message):
                self._schedule(message)
        elif kind == "sensor" and site != g.me:
            self._post_shared(message, site)
        elif kind == "request" and self.grouped and g.leader(self.clock()) == g.me:
            scene = message.get("scene")
            if isinstance(scene, str):
                self._decide(scene, source=None, crossfade_s=message.get("crossfade_s"),
                             reason=f"cmd.scene at {site}")

    def _post_shared(self, message, site):
        event, sensor = message.get("event"), message.get("sensor")
        if not isinstance(event, str) or "." not in event:
            return
        if event.startswith("cmd.trigger"):
            self.loop.post(Event(0.0, "cmd.trigger", data={"event": message.get("inner"),
                                                             "via": site}))
        else:
            self.loop.post(Event(0.0, event, sensor, {"via": site}))

    def _settle_held(self, connected):
        """Scene changes the render thread held for the group: the leader publishes
        them, a member forwards a technician's, and without the broker they play here."""
        while self._held:
            change = self._held.popleft()
            if not (connected and self.grouped):
                self.loop.post(Event(0.0, "cmd.scene", data={
                    "scene": change.to, "crossfade_s": change.crossfade_s}))
            elif self.group.leader(self.clock()) == self.group.me:
                to, reason, at = self._pending
                # The machine stays in its scene until the change starts, so a timer
                # fires again every block until then: that is the same change.
                if (change.to, change.reason) != (to, reason) or self.wall() >= at:
                    self._decide(change.to, change.source, change.crossfade_s, change.reason)
            elif change.reason == "cmd.scene":
                self.conn.publish(f"{self.gbase}/request", json.dumps(
                    {"site": self.group.me, "scene": change.to,
                     "crossfade_s": change.crossfade_s}), qos=1)

    def _decide(self, scene, source, crossfade_s, reason):
        """As leader: start ``scene`` everywhere lead_ms from now."""
        at = round(self.wall() + self.cfg.lead_ms / 1000.0, 6)
        message = {"scene": scene, "from": source, "at": at, "crossfade_s": crossfade_s,
                   "reason": reason, "leader": self.group.me}
        if not self.conn.publish(f"{self.gbase}/scene", json.dumps(message), qos=1,
                                 retain=True):
            self.loop.post(Event(0.0, "cmd.scene", data={"scene": scene}))
            return
        self._pending = (scene, reason, at)
        if self.group.news(message):
            self._schedule(message)

    def _schedule(self, message):
        scene = message.get("scene")
        if scene not in self._switchable_scenes():
            if scene not in self._warned_scenes:
                self._warned_scenes.add(scene)
                log.warning("fleet: group %s changed to scene %r, which this booth's show "
                            "does not have: staying in %s", self.group.name, scene,
                            self.status().get("scene"))
            return
        data = {"reason": message.get("reason"), "leader": message.get("leader")}
        if isinstance(message.get("crossfade_s"), (int, float)):
            data["crossfade_s"] = float(message["crossfade_s"])
        self.loop.schedule_scene(float(message["at"]), scene, **data)

    def _switchable_scenes(self):
        return [name for name, spec in dict(self.scenes()).items()
                if not getattr(spec, "overlay", False)]


def _json(payload):
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _shared_event(record):
    """The group message for an event-log record that the group shares, or None:
    conditioned sensor events and technicians' triggers made here (not faults, which
    stay with their booth, nor events that came from the group)."""
    if "via" in record:
        return None
    if record.get("type") == "sensor":
        return {"event": f"{record['sensor']}.{record['state']}", "sensor": record["sensor"]}
    if record.get("type") == "command" and record.get("command") == "cmd.trigger":
        return {"event": "cmd.trigger", "inner": record.get("event")}
    return None
