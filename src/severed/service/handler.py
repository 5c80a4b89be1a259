"""What each control-socket command does to the running daemon.

``ControlHandler`` turns a request dict into a reply dict; ``ControlServer`` calls it
on the control thread. It only posts events to the render loop, reads its status, taps
it for a recording, or hands it an already validated config: nothing here can stall or
break the sound. Wiring in ``severed run``::

    handler = ControlHandler(loop, site, show, config_path="/etc/severed/severed.toml",
                             info=lambda: {"pin_factory": "lgpio", "safe_mode": False})
    ControlServer(path, handler).start()

Commands (request fields -> reply fields):

=========  ===============================  ======================================
status                                      status: loop.status() plus daemon info
sensors                                     sensors: [{name, kind, pin, state}]
trigger    event ("reward.press")           posts cmd.trigger
scene      name                             posts cmd.scene
volume     db (-80..12)                     posts cmd.volume
mute                                        posts cmd.mute
unmute                                      posts cmd.unmute
test_tone  channel, freq_hz, seconds        posts cmd.test_tone (the engine plays it)
record     seconds, path (.wav), cwd        starts a take; record_status polls it
reload                                      loads and validates the config; applies it
config                                      config: the effective site config
=========  ===============================  ======================================

A bad argument gets ``{"ok": false, "error": ...}`` naming the argument and what is
allowed; the handler raises ``RequestError`` for that and the server turns it into the
reply. Commands that change something are taken at up to ``COMMAND_RATE`` a second
(after a burst of ``COMMAND_BURST``); more are refused, and their journal lines are
summarised (see ``ratelimit``), so a flood writes a few lines, not thousands.
"""

import dataclasses
import logging
import math
import os
import time

from severed.errors import ConfigError, SeveredError
from severed.service.ratelimit import RepeatSummary, TokenBucket
from severed.service.record import MAX_SECONDS, Recording, check_output_path, wav_bytes
from severed.show.events import KIND_STATES, Event
from severed.suggest import did_you_mean

log = logging.getLogger(__name__)

VOLUME_RANGE_DB = (-80.0, 12.0)
TONE_FREQ_RANGE_HZ = (20.0, 20000.0)
TONE_MAX_S = 60.0
CHANNELS = ("left", "right", "both")
# A person types a few commands a minute and a fade script sends tens a second; a
# flood sends thousands, each an event-log record and a journal line.
COMMAND_RATE = 20.0
COMMAND_BURST = 40
READ_ONLY = frozenset({"status", "sensors", "config", "ping", "record_status"})


class RequestError(SeveredError, ValueError):
    """A control request with a bad or missing argument."""


def default_loader(config_path):
    """Load and validate the site config at ``config_path`` and the show it names,
    checked against each other and against the machine (``preflight``: the event log's
    directory, the stems and their budget); ConfigError lists every problem."""
    from severed.config import check_show_for_site, load_show, load_site
    from severed.preflight import check_resources

    site = load_site(config_path)
    show = load_show(site.show)
    errors, _warnings = check_show_for_site(show, site)
    errors += check_resources(site, show)  # the event log's directory, the stems
    if errors:
        raise ConfigError(errors)
    return site, show


def to_plain(value):
    """Dataclasses, tuples and dicts as JSON-ready lists and dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _number(request, key, low, high, default=None):
    value = request.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{key}: expected a number, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise RequestError(f"{key}: {value} is outside {low:g}..{high:g}")
    return float(value)


def _text(request, key):
    value = request.get(key)
    if not isinstance(value, str) or not value:
        raise RequestError(f"{key}: expected a name, got {value!r}")
    return value


class ControlHandler:
    """Maps control commands onto ``loop`` (see the module docstring).

    ``site`` and ``show`` are the running config (updated by ``reload``);
    ``loader(config_path) -> (site, show)`` raises ConfigError listing the problems;
    ``info()`` adds daemon facts (pin factory, safe mode) to ``status``;
    ``recordings_dir``: where ``record`` puts a bare file name (the service's
    RECORDINGS_DIR); other relative names are taken from the client's ``cwd``;
    ``command_rate`` a second (after ``command_burst``) are taken, more are refused.
    """

    def __init__(self, loop, site, show, *, config_path=None, loader=default_loader,
                 info=None, recordings_dir=None, command_rate=COMMAND_RATE,
                 command_burst=COMMAND_BURST, clock=time.monotonic):
        self.loop = loop
        self.site = site
        self.show = show
        self.config_path = config_path or getattr(site, "path", None)
        self.loader = loader
        self.info = info
        self.started = clock()
        self.clock = clock
        self.recordings_dir = recordings_dir
        self._card_in_use = _sound_card(site) if hasattr(site, "audio") else None
        self.recording = None
        self._bucket = TokenBucket(command_rate, command_burst, clock=clock)
        self._quiet = RepeatSummary(log, clock=clock)
        self._commands = {
            "status": self.status, "sensors": self.sensors, "trigger": self.trigger,
            "scene": self.scene, "volume": self.volume, "mute": self.mute,
            "unmute": self.unmute, "test_tone": self.test_tone, "record": self.record,
            "record_status": self.record_status, "reload": self.reload,
            "config": self.config, "ping": lambda request: {},
        }

    def __call__(self, request):
        command = self._commands.get(request.get("cmd"))
        if command is None:
            return {"ok": False, "error": f"unknown command {request.get('cmd')!r}; "
                                          f"known: {', '.join(sorted(self._commands))}"
                                          + did_you_mean(request.get("cmd"), self._commands)}
        if request["cmd"] not in READ_ONLY and not self._bucket.take():
            rate = self._bucket.rate
            self._quiet.log("flood", logging.WARNING, "control: more than %g commands a "
                            "second; the excess is refused", rate)
            return {"ok": False, "error": f"{request['cmd']}: refused, more than "
                                          f"{rate:g} commands a second; slow down"}
        try:
            return command(request)
        except RequestError as exc:
            return {"ok": False, "error": f"{request['cmd']}: {exc}"}

    # -- reading

    def _sensor_states(self, raw):
        """The loop's sensor states in the words of the docs and the show's events."""
        kinds = {spec.name: spec.kind for spec in getattr(self.site, "sensors", ())}
        return {name: state_name(kinds.get(name), state) for name, state in raw.items()}

    def status(self, request):
        status = dict(self.loop.status())
        if isinstance(status.get("sensors"), dict):
            status["sensors"] = self._sensor_states(status["sensors"])
        status.update({"pid": os.getpid(), "uptime_s": round(self.clock() - self.started, 1),
                       "site": getattr(self.site, "name", None),
                       "show": getattr(self.show, "name", None),
                       "config_path": self.config_path})
        if self.info is not None:
            status.update(self.info())
        if self.recording is not None:
            status["recording"] = self.recording.info()
        return {"status": status}

    def sensors(self, request):
        states = self._sensor_states(self.loop.status().get("sensors") or {})
        rows = []
        for spec in getattr(self.site, "sensors", ()):
            rows.append({"name": spec.name, "kind": spec.kind, "pin": spec.pin,
                         "required": spec.required, "state": states.get(spec.name)})
        known = {row["name"] for row in rows}
        rows += [{"name": name, "state": state} for name, state in states.items()
                 if name not in known]
        return {"sensors": rows}

    def config(self, request):
        return {"config": to_plain(self.site),
                "show": {"name": getattr(self.show, "name", None),
                         "path": getattr(self.show, "path", None),
                         "scenes": list(getattr(self.show, "scenes", {}))}}

    # -- commands posted to the render loop

    def _post(self, type_, **data):
        # Stamped with the engine time the loop last reported; the loop applies a
        # command at the start of its next block anyway.
        try:
            t = float(self.loop.status().get("engine_s") or 0.0)
        except Exception:
            t = 0.0
        event = Event(t, type_, data=data)
        self.loop.post(event)
        self._quiet.log(type_, logging.INFO, "command %s %s", type_, data or "",
                        extra={"EVENT": type_})
        return {"posted": event.to_record()}

    def scene(self, request):
        name = _text(request, "name")
        scenes = getattr(self.show, "scenes", None)
        if scenes is not None and name not in scenes:
            raise RequestError(f"no scene {name!r} in show {self.show.name} "
                               f"(scenes: {', '.join(scenes)})" + did_you_mean(name, scenes))
        if scenes is not None and getattr(scenes[name], "overlay", False):
            raise RequestError(f"{name!r} is an overlay, not a scene to switch to")
        reply = self._post("cmd.scene", scene=name)
        if getattr(getattr(self.loop, "state", None), "scene", None) == name:
            reply["unmoved"] = f"{name} is playing already"
        return reply

    def trigger(self, request):
        name = _text(request, "event")
        allowed = self._sensor_events()
        if allowed and name not in allowed:
            raise RequestError(f"no sensor event {name!r} on this site "
                               f"(events: {', '.join(sorted(allowed))})"
                               + did_you_mean(name, allowed))
        why = why_unmoved(self.loop, name)
        reply = self._post("cmd.trigger", event=name)
        if why:
            reply["unmoved"] = why
        return reply

    def _sensor_events(self):
        return {f"{spec.name}.{state}" for spec in getattr(self.site, "sensors", ())
                for state in KIND_STATES.get(spec.kind, ())}

    def volume(self, request):
        return self._post("cmd.volume", db=_number(request, "db", *VOLUME_RANGE_DB))

    def mute(self, request):
        return self._post("cmd.mute")

    def unmute(self, request):
        return self._post("cmd.unmute")

    def test_tone(self, request):
        channel = request.get("channel", "both")
        if channel not in CHANNELS:
            raise RequestError(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
        freq_hz = _number(request, "freq_hz", *TONE_FREQ_RANGE_HZ, default=440.0)
        seconds = _number(request, "seconds", 0.1, TONE_MAX_S, default=3.0)
        return self._post("cmd.test_tone", channel=channel, freq_hz=freq_hz, seconds=seconds)

    # -- recording

    def record(self, request):
        seconds = _number(request, "seconds", 0.1, MAX_SECONDS)
        path = self._record_path(_text(request, "path"), request.get("cwd"))
        if self.recording is not None and self.recording.active:
            raise RequestError(f"already recording into {self.recording.path}")
        problem = check_output_path(path, wav_bytes(seconds, self.loop.sample_rate,
                                                    self.loop.channels))
        if problem:
            raise RequestError(problem)
        self.recording = Recording(self.loop, path, seconds)
        self.recording.start()
        return {"recording": self.recording.info()}

    def _record_path(self, path, cwd):
        """An absolute path for a take: a bare name goes to the recordings directory
        (the service's), any other relative name to the client's directory."""
        if not isinstance(path, str) or os.path.isabs(path) or "\0" in path:
            return path  # check_output_path says what is wrong with it
        if self.recordings_dir and os.sep not in path:
            return os.path.join(self.recordings_dir, path)
        if isinstance(cwd, str) and os.path.isabs(cwd) and "\0" not in cwd:
            return os.path.normpath(os.path.join(cwd, path))
        return path

    def record_status(self, request):
        if self.recording is None:
            raise RequestError("nothing has been recorded since the daemon started")
        return {"recording": self.recording.info()}

    # -- configuration

    def reload(self, request):
        if not self.config_path:
            raise RequestError("the daemon was started without a config file: "
                               "nothing to reload")
        try:
            site, show = self.loader(self.config_path)
        except ConfigError as exc:
            # The journal is where a technician looks later: every problem, not a count.
            for problem in exc.problems:
                log.error("reload refused, keeping the running show: %s", problem)
            return {"ok": False, "error": f"config not reloaded: {len(exc.problems)} "
                                          f"problem(s); the running show is unchanged",
                    "problems": exc.problems}
        except OSError as exc:
            return {"ok": False, "error": f"config not reloaded: cannot read "
                                          f"{exc.filename or self.config_path}: {exc.strerror}"}
        # Sensors and the pin factory are reopened by the reload itself; the sound
        # card is opened once, so its settings wait for a restart. Compared with the
        # card in use, not the last reload: a change taken back needs no restart.
        restart_needed = ["audio"] if _sound_card(site) != self._card_in_use else []
        in_force = self.loop.request_reload(site, show) or site
        self.site, self.show = in_force, show
        log.info("config reloaded from %s (show %s)", self.config_path,
                 getattr(show, "name", "?"))
        reply = {"show": getattr(show, "name", None), "restart_needed": restart_needed}
        pending = getattr(self.loop, "reload_pending", None)
        if isinstance(pending, str):  # new stems are converting: the swap follows
            reply["pending"] = pending
        if getattr(in_force, "sensors", None) != getattr(site, "sensors", None):
            reply["sensors_kept"] = ("the new sensor pins could not be opened: the "
                                     "previous sensors are kept (see severed logs)")
        return reply


# What the conditioner reports, beyond active and inactive (which are named per kind).
FAULT_WORDS = {"quarantined": "fault (flapping)", "stuck": "fault (stuck)",
               "warming": "warming up"}


def state_name(kind, state):
    """``door`` + ``active`` -> ``closed``; a fault as ``fault (stuck)``; anything else
    as it is."""
    if state in ("active", "inactive") and kind in KIND_STATES:
        return KIND_STATES[kind][0 if state == "active" else 1]
    return FAULT_WORDS.get(state, state)


def why_unmoved(loop, name):
    """Why the sensor event ``name`` would move ``loop``'s show nowhere now, or None
    (for ``trigger`` and the keys of ``run --simulate``)."""
    machine = getattr(loop, "machine", None)
    state = getattr(loop, "state", None)
    if machine is None or state is None:
        return None
    try:
        t = float(loop.status().get("engine_s") or 0.0)
        return machine.why_unmoved(state, Event(t, name, name.partition(".")[0]))
    except Exception:  # noqa: BLE001 - a reload may swap the show under us: no note
        return None


def _sound_card(site):
    """The audio settings that need the device reopened (the DAC name only checks pins)."""
    return dataclasses.replace(site.audio, dac=None)
