"""The show state machine: which scene plays, which overlays are on, how tense it is.

Pure: it keeps no state of its own, reads no clock and does no I/O. The caller owns the
state and the time (engine seconds)::

    machine = ShowMachine(show)
    state = machine.initial(t=0.0)
    state, actions = machine.step(state, Event(12.5, "door.closed", "door"))
    state, actions = machine.tick(state, t=12.6)      # timers, overlay timeouts, tension
    deadline = machine.next_deadline(state)           # when tick next has work, or None
    machine.why_unmoved(state, event)                 # "the show needs motion in ..."

``actions`` is a list of ChangeScene, SetOverlay, SetVariable, SetVolume, SetMute and
Trigger (severed.show.events) for the engine to carry out, in order.

Rules:
- Transitions are tried in file order; the first whose source matches the current scene
  (or "*") and whose guards hold wins. Event transitions fire on ``on``; timer
  transitions once ``t - entered_at >= after_s``, once per visit of the scene, at most
  one scene change per tick. Entering a scene restarts its timers.
- ``step`` first runs ``tick`` up to the event's time, so a timer that came due before
  the event fires before it even if the caller ticks only once per block.
- Guards: if_motion_within_s (a pir started within N s, or one is active now);
  if_no_motion_for_s (no pir active and none started for N s; motion never seen counts
  as none); if_sensor (current conditioned states; a faulted or never heard sensor
  matches no state); if_tension_above / below (strict).
- Tension is smoothed motion activity. The tension sensors are ``show.tension.sensors``
  (none listed: every pir, the sensors whose events are ``*.start``). Each active
  event of one adds ``rise_per_start``; while n of them are active (and not faulted)
  tension rises by ``rise_per_s * n`` a second; all the while it falls back towards 0
  with time constant ``decay_s``; it is clamped to 0..1. So
  ``dT/dt = rise_per_s * n - T / decay_s``, solved exactly between events: a visitor
  moving non-stop drives it towards ``rise_per_s * decay_s`` (and 1 is reached when
  that is above 1); a single pass adds one start and a few seconds of activity. An
  event injected by cmd.trigger adds its start but no active time (no real sensor
  will end it). SetVariable("tension", v) is emitted whenever it has moved by more
  than 0.01 since the last one sent.
- Commands: cmd.scene (data: scene; optional crossfade_s) changes scene with the show's
  default crossfade, or toggles an overlay (data "on": true/false sets it instead);
  cmd.volume (data: db) -> SetVolume; cmd.mute / cmd.unmute -> SetMute; cmd.trigger
  (data: event) is handled as that sensor event at the same time. Transitions whose
  ``on`` is a command fire after its own handling.
- Reactions: every reaction whose ``on`` is the event, whose guards hold and whose
  ``from`` names the scene or an overlay playing (or is "*") fires a Trigger of its
  layer in that scene, before any transition the event fires, so a one-shot plays
  in the scene where the event happened.
- ``*.fault`` marks a sensor faulted (its state and motion are ignored by guards) and
  ``*.recovered`` clears it. Unknown events and bad command data are ignored: the
  machine never raises on input.
"""

import math
from dataclasses import dataclass, replace

from severed.show.events import (KIND_STATES, ChangeScene, Event, SetMute, SetOverlay,
                                 SetVariable, SetVolume, Trigger)

#: Tension changes smaller than this are not worth sending to the engine.
TENSION_STEP = 0.01
VOLUME_MIN_DB, VOLUME_MAX_DB = -120.0, 12.0

_STATES = {s for pair in KIND_STATES.values() for s in pair}
_ACTIVE = {pair[0] for pair in KIND_STATES.values()}
_MOTION_ON, _MOTION_OFF = KIND_STATES["pir"]


@dataclass(frozen=True)
class ShowState:
    """Everything the machine knows at one moment. Immutable: steps return a new one."""

    scene: str
    entered_at: float  # engine seconds when the current scene was entered
    overlays: tuple = ()  # ((name, off_at or None, fade_s), ...) overlays switched on
    tension: float = 0.0  # value at tension_t
    tension_t: float = 0.0
    tension_active: frozenset = frozenset()  # tension sensors active now (real events)
    tension_sent: float = 0.0  # the last value sent in a SetVariable
    last_motion: tuple = ()  # ((sensor, t of its last start), ...)
    sensor_states: tuple = ()  # ((sensor, state), ...) current conditioned states
    volume_db: float = 0.0
    muted: bool = False
    faulted: frozenset = frozenset()
    timers_fired: tuple = ()  # indices of timer transitions fired in this visit

    def sensor_state(self, sensor):
        """The sensor's current state ("closed", "start", ...) or None if unknown."""
        return dict(self.sensor_states).get(sensor)

    @property
    def overlay_names(self):
        return tuple(name for name, _, _ in self.overlays)


def _set_pair(pairs, key, value):
    return tuple((k, v) for k, v in pairs if k != key) + ((key, value),)


class ShowMachine:
    """The rules of one show, applied to states the caller keeps (see module doc)."""

    def __init__(self, show):
        self.show = show
        self.scenes = show.scenes
        self._timers = [(i, t) for i, t in enumerate(show.transitions) if t.after_s is not None]
        self._tension_sensors = frozenset(show.tension.sensors)

    # ------------------------------------------------------------------ public

    def initial(self, t):
        """The state at engine time ``t``: the initial scene, just entered."""
        return ShowState(scene=self.show.initial_scene, entered_at=t, tension_t=t)

    def tension(self, state, t):
        """Tension at time ``t``, from its value at ``state.tension_t`` and the tension
        sensors active since (see the module doc)."""
        spec = self.show.tension
        dt = max(0.0, t - state.tension_t)
        goal = spec.rise_per_s * self._active_count(state) * spec.decay_s
        value = goal + (state.tension - goal) * math.exp(-dt / spec.decay_s)
        # Clamping the closed form is exact: a goal above 1 keeps it at 1 once reached.
        return min(1.0, max(0.0, value))

    def _active_count(self, state):
        active = state.tension_active
        return len(active - state.faulted) if active else 0

    def step(self, state, event):
        """Apply one event at ``event.t``; return (new state, actions)."""
        state, actions = self.tick(state, event.t)
        if not isinstance(event, Event) or not isinstance(event.type, str):
            return state, actions
        state, more = self._handle(state, event, depth=0)
        actions.extend(more)
        state, more = self._send_tension(state, event.t)
        actions.extend(more)
        return state, actions

    def tick(self, state, t):
        """Advance to ``t``: overlay timeouts, at most one timer transition, tension."""
        actions = []
        state = self._expire_overlays(state, t, actions)
        for index, tr in self._timers:
            if index in state.timers_fired or not self._source_matches(tr, state.scene):
                continue
            if t - state.entered_at < tr.after_s or not self._guards_hold(tr, state, t):
                continue
            state, fired = self._fire(state, tr, t, f"after {tr.after_s:g} s")
            actions.extend(fired)
            if tr.to is not None:
                break  # one scene change per tick; the new scene's timers start now
            # an overlay timer fires once per visit of the scene
            state = replace(state, timers_fired=state.timers_fired + (index,))
        state, more = self._send_tension(state, t)
        actions.extend(more)
        return state, actions

    def next_deadline(self, state):
        """The earliest engine time at which ``tick`` has a timer or timeout to handle,
        or None; lets a caller split a block there. A timer whose time has come but
        whose tension guard does not hold yet is due when tension crosses into its
        range (other guards are not foreseen: ``tick`` checks them)."""
        times = [off for _, off, _ in state.overlays if off is not None]
        for index, tr in self._timers:
            if index not in state.timers_fired and self._source_matches(tr, state.scene):
                due = state.entered_at + tr.after_s
                crossing = self._tension_crossing(tr.guards, state, due)
                times.append(due if crossing is None else crossing)
        return min(times) if times else None

    def why_unmoved(self, state, event):
        """Why ``event`` (a sensor event) at ``event.t`` would change no scene or
        overlay, in a technician's words, e.g. "the show needs motion in the last 30 s";
        None if it would. Reads ``state``, changes nothing."""
        after, _ = self.step(state, event)
        if after.scene != state.scene or after.overlay_names != state.overlay_names:
            return None
        candidates = [tr for tr in self.show.transitions if tr.on == event.type]
        if not candidates:
            return f"no transition of show {self.show.name} follows {event.type}"
        here = [tr for tr in candidates if self._source_matches(tr, state.scene)]
        if not here:
            sources = sorted({s for tr in candidates for s in tr.sources})
            return (f"{event.type} moves the show only from {', '.join(sources)} "
                    f"(it plays {state.scene})")
        # The guards as they were checked: after the event's own sensor update.
        ticked, _ = self.tick(state, event.t)
        kind, _, name = event.type.partition(".")
        updated = self._sensor_update(ticked, event, kind, name)
        unmet = [self._unmet_guard(tr, updated, event.t) for tr in here]
        return "the show needs " + " or ".join(dict.fromkeys(u for u in unmet if u))

    # ------------------------------------------------------------------ events

    def _handle(self, state, event, depth):
        kind, _, name = event.type.partition(".")
        if kind == "cmd":
            state, actions = self._command(state, event, name, depth)
        else:
            state = self._sensor_update(state, event, kind, name, injected=depth > 0)
            actions = []
        actions += self._reactions_to(state, event)
        state, more = self._transitions_on(state, event)
        return state, actions + more

    def _sensor_update(self, state, event, sensor, what, injected=False):
        sensor = event.sensor or sensor
        t = event.t
        if what in ("fault", "recovered"):
            # A faulted sensor's activity stops counting from now on: settle the
            # tension up to now under the old count first.
            state = self._settle_tension(state, t)
            faulted = (state.faulted | {sensor} if what == "fault"
                       else state.faulted - {sensor})
            return replace(state, faulted=faulted)
        if what not in _STATES or not sensor:
            return state
        state = replace(state, sensor_states=_set_pair(state.sensor_states, sensor, what))
        if what == _MOTION_ON:
            state = replace(state, last_motion=_set_pair(state.last_motion, sensor, t))
        if not self._is_tension_sensor(sensor, what):
            return state
        state = self._settle_tension(state, t)
        if what in _ACTIVE:
            state = replace(state, tension=min(1.0, state.tension
                                               + self.show.tension.rise_per_start))
            if not injected:
                state = replace(state, tension_active=state.tension_active | {sensor})
        elif not injected:
            state = replace(state, tension_active=state.tension_active - {sensor})
        return state

    def _is_tension_sensor(self, sensor, what):
        if self._tension_sensors:
            return sensor in self._tension_sensors
        return what in (_MOTION_ON, _MOTION_OFF)  # every pir

    def _settle_tension(self, state, t):
        """The state with its tension worked out up to ``t``, before the count of
        active sensors changes."""
        return replace(state, tension=self.tension(state, t), tension_t=max(t, state.tension_t))

    def _command(self, state, event, name, depth):
        data = event.data if isinstance(event.data, dict) else {}
        t = event.t
        if name == "scene":
            return self._command_scene(state, data, t)
        if name == "volume":
            db = data.get("db")
            if isinstance(db, bool) or not isinstance(db, (int, float)) or math.isnan(db):
                return state, []
            db = min(max(float(db), VOLUME_MIN_DB), VOLUME_MAX_DB)
            return replace(state, volume_db=db), [SetVolume(db)]
        if name in ("mute", "unmute"):
            muted = name == "mute"
            return replace(state, muted=muted), [SetMute(muted)]
        if name == "trigger" and depth == 0:
            inner = data.get("event")
            if isinstance(inner, str) and "." in inner and not inner.startswith("cmd."):
                extra = {k: v for k, v in data.items() if k != "event"}
                return self._handle(state, Event(t, inner, inner.partition(".")[0], extra),
                                    depth + 1)
        return state, []

    def _command_scene(self, state, data, t):
        target = data.get("scene")
        if not isinstance(target, str) or target not in self.scenes:
            return state, []
        fade = data.get("crossfade_s", self.show.crossfade_s)
        if isinstance(fade, bool) or not isinstance(fade, (int, float)) or not fade >= 0:
            fade = self.show.crossfade_s
        fade = float(fade)
        if self.scenes[target].overlay:
            # without an explicit "on", naming an overlay toggles it: a technician's
            # second `severed scene barrier` takes the barrier away again
            on = data.get("on")
            if not isinstance(on, bool):
                on = target not in state.overlay_names
            if not on:
                return self._overlay_off(state, target, fade)
            return self._overlay_on(state, target, None, fade)
        if target == state.scene:
            return state, []
        return self._enter(state, target, t), [
            ChangeScene(state.scene, target, fade, self.show.curve, reason="cmd.scene")]

    # -------------------------------------------------------------- transitions

    def _transitions_on(self, state, event):
        for tr in self.show.transitions:
            if tr.on != event.type or not self._source_matches(tr, state.scene):
                continue
            if not self._guards_hold(tr, state, event.t):
                continue
            new_state, actions = self._fire(state, tr, event.t, event.type)
            return new_state, actions
        return state, []

    def _reactions_to(self, state, event):
        """Triggers for the reactions to ``event`` in the scene and overlays playing
        when it happened (before any transition it fires)."""
        playing = (state.scene,) + state.overlay_names
        triggers = []
        for reaction in self.show.reactions:
            if reaction.on != event.type or not self._guards_hold(reaction, state, event.t):
                continue
            for scene in playing:
                if reaction.sources != ("*",) and scene not in reaction.sources:
                    continue
                if any(spec.name == reaction.layer for spec in self.scenes[scene].layers):
                    triggers.append(Trigger(reaction.layer, scene=scene))
        return triggers

    def _fire(self, state, tr, t, reason):
        if tr.to is not None:
            if tr.to == state.scene:
                return self._enter(state, tr.to, t), []
            return self._enter(state, tr.to, t), [
                ChangeScene(state.scene, tr.to, tr.crossfade_s, tr.curve, reason=reason)]
        off_at = t + tr.overlay_s if tr.overlay_s is not None else None
        return self._overlay_on(state, tr.overlay, off_at, tr.crossfade_s)

    @staticmethod
    def _enter(state, scene, t):
        return replace(state, scene=scene, entered_at=t, timers_fired=())

    @staticmethod
    def _source_matches(tr, scene):
        return tr.sources == ("*",) or scene in tr.sources

    def _guards_hold(self, tr, state, t):
        return self._unmet_guard(tr, state, t) is None

    def _unmet_guard(self, tr, state, t):
        """The first guard of ``tr`` that does not hold at ``t``, in words, or None."""
        g = tr.guards
        if g.motion_within_s is not None or g.no_motion_for_s is not None:
            active = any(s == _MOTION_ON for name, s in state.sensor_states
                         if name not in state.faulted)
            ages = [t - when for name, when in state.last_motion if name not in state.faulted]
            if g.motion_within_s is not None:
                if not (active or any(age <= g.motion_within_s for age in ages)):
                    return f"motion in the last {g.motion_within_s:g} s"
            if g.no_motion_for_s is not None:
                if active or any(age < g.no_motion_for_s for age in ages):
                    return f"no motion for {g.no_motion_for_s:g} s"
        for sensor, wanted in g.sensor_states:
            if sensor in state.faulted:
                return f"{sensor} {wanted} ({sensor} is faulted)"
            if state.sensor_state(sensor) != wanted:
                return f"{sensor} {wanted} (it is {state.sensor_state(sensor) or 'unknown'})"
        if g.min_tension is not None or g.max_tension is not None:
            v = self.tension(state, t)
            if g.min_tension is not None and not v > g.min_tension:
                return f"tension above {g.min_tension:g} (it is {v:.2f})"
            if g.max_tension is not None and not v < g.max_tension:
                return f"tension below {g.max_tension:g} (it is {v:.2f})"
        return None

    # ---------------------------------------------------------------- overlays

    @staticmethod
    def _overlay_on(state, name, off_at, fade_s):
        # Switching on an overlay that is on already restarts its timeout; the repeated
        # SetOverlay lets the engine re-trigger it (a second press, a second chime).
        overlays = tuple(o for o in state.overlays if o[0] != name) + ((name, off_at, fade_s),)
        return replace(state, overlays=overlays), [SetOverlay(name, True, fade_s)]

    @staticmethod
    def _overlay_off(state, name, fade_s):
        if name not in state.overlay_names:
            return state, []
        overlays = tuple(o for o in state.overlays if o[0] != name)
        return replace(state, overlays=overlays), [SetOverlay(name, False, fade_s)]

    @staticmethod
    def _expire_overlays(state, t, actions):
        due = [o for o in state.overlays if o[1] is not None and t >= o[1]]
        if not due:
            return state
        for name, _, fade_s in sorted(due, key=lambda o: o[1]):
            actions.append(SetOverlay(name, False, fade_s))
        return replace(state, overlays=tuple(o for o in state.overlays if o not in due))

    # ----------------------------------------------------------------- tension

    def _tension_crossing(self, guards, state, t):
        """When tension, on its course from ``state`` (no event meanwhile), first gets
        strictly inside the guards' range after ``t``; None when it is inside at ``t``,
        has no bound to cross, or never gets there."""
        low, high = guards.min_tension, guards.max_tension
        if low is None and high is None:
            return None
        value = self.tension(state, t)
        spec = self.show.tension
        goal = spec.rise_per_s * self._active_count(state) * spec.decay_s
        if low is not None and value <= low:
            if not goal > low or low >= 1.0:
                return None  # it never rises above: clamped at 1, or the goal is lower
            bound = low
        elif high is not None and value >= high:
            if not goal < high:
                return None
            bound = high
        else:
            return None
        # T(t) = goal + (T0 - goal) exp(-(t - t0) / decay_s), solved for T = bound; a
        # microsecond later it is strictly past the bound whatever the rounding.
        ratio = (state.tension - goal) / (bound - goal)
        return state.tension_t + spec.decay_s * math.log(ratio) + 1e-6

    def _send_tension(self, state, t):
        v = self.tension(state, t)
        if abs(v - state.tension_sent) > TENSION_STEP:
            return replace(state, tension_sent=v), [SetVariable("tension", v)]
        return state, []
