"""Turn raw sensor edges into the events a show understands, with an injected clock.

Pure code: no threads, no clocks of its own, no I/O. The render loop (or a test) feeds
raw edges and asks for time-driven outcomes::

    cond = Conditioner(site.sensors, start_t=0.0, initial_levels=bank.levels())
    events = cond.edge(t, "door", 1)   # a raw edge, level 1 = active
    events += cond.poll(t)             # debounce expiry, hold end, faults, recoveries
    cond.states()                      # {"door": "active", "motion": "warming"}

Rules, per sensor (``severed.config.model.SensorSpec``):

* **debounce** (``debounce``, ``debounce_s``), one of two rules:

  - ``stable``: a level counts once it has been stable for ``debounce_s``. The event's
    ``t`` is that moment (edge time + ``debounce_s``): the first instant at which it
    could be known.
  - ``first_edge`` (the door's default): a change of a contact that was quiet for
    ``debounce_s`` counts at once, stamped with its own edge, and the pin is then not
    looked at for ``debounce_s`` (a lockout): the bounces of a reed switch, a few ms
    of chatter after its first contact, fall inside it and are nothing. A level that
    moved within the lockout (a door shut and opened again, a glitch) or any change
    amid chatter came out of noise, not out of quiet: it counts as under ``stable``,
    once stable for ``debounce_s``. So a loose wire flapping every few tens of ms
    reaches the show once, not at every flap. A door reaches the show with no
    delay at all, where a 50 ms stable-for spent the whole 50 ms a visitor may wait
    for the sound; the price is that a spike on the line is reported (as a change and
    its return ``debounce_s`` later), so a long, noisy cable wants ``stable`` (or the
    capacitor hardware/README.md suggests).

  Every event is stamped with the time it became decidable, never earlier, so an
  offline render that polls up to the end of the next block gets each event at its
  exact sample, and events come out in time order.
* **hold** (``hold_s``): an active state is reported for at least ``hold_s``; the
  inactive event waits for the end of the hold (and is dropped if the sensor is
  active again by then).
* **warm-up** (``warmup_s``, PIRs): edges are ignored for ``warmup_s`` after
  ``start_t``; at the end of warm-up the current level is adopted (through debounce).
* **merge** (``merge_s``): an active state that returns within ``merge_s`` of ending
  is one event: the inactive event is sent only after ``merge_s`` of calm, stamped
  with that moment. With a hold, the inactive event comes at
  ``max(end + merge_s, start + hold_s)``.
* **flapping** (``flap_limit``, ``flap_window_s``, ``quarantine_s``): more than
  ``flap_limit`` counted changes within ``flap_window_s`` is a fault (``reason:
  "flapping"``) and the sensor is quarantined for ``quarantine_s``: it produces no
  state events and its last reported state stays as it was. At the end of the
  quarantine, if the flap rule would no longer fire, a ``recovered`` event is sent and
  the current level is adopted (through debounce); otherwise the quarantine starts
  again, silently.

  What is counted is **bursts**, not raw edges: a raw change less than ``debounce_s``
  after the last counted change belongs to that change's burst and is not counted
  again. A reed switch that bounces 5 to 20 times within a few ms as the door shuts
  is one change; a visitor opening and closing the door every few seconds is two
  changes per visit, far below the limit. A loose wire chattering without pause is
  counted once per ``debounce_s`` (20 times a second with the door's 0.05 s), so it
  trips the rule within about ``flap_limit * debounce_s``; a level that toggles
  cleanly (each change further apart than ``debounce_s``) counts every change. With
  ``debounce_s = 0`` every raw change counts.
* **stuck** (``stuck_after_s`` > 0): a level continuously active for longer than that is
  a fault (``reason: "stuck"``); the state events go on, and when the sensor goes
  inactive a ``recovered`` event comes just before the inactive event.

An edge stamped earlier than the last time seen is treated as happening at that time
(clocks of different threads may disagree by a hair).

**New settings while running** (a reload)::

    cond = cond.retuned(new_specs, t)   # at a block boundary, on the render thread

Each sensor that keeps its name keeps its state: its level, what the show was last
told, a fault or quarantine in force, the counted changes. Only the deadlines move to
the new settings (a pending level is due ``debounce_s`` after its raw edge, at once
under ``first_edge``; an end of lockout, hold, merge, stuck or quarantine is recomputed
from when it began), none earlier than ``t``. Nothing is reported anew; what the new settings make due at once (a hold
shortened below the time already held) comes from the next poll, stamped ``t``. A PIR
that was warming up goes on warming up to its (new) end; one that had settled does not
start again. A sensor that is new starts as at start-up (its warm-up begins at ``t``,
its level is 0 until an edge says otherwise); a sensor that is gone is forgotten.
"""

from severed.show.events import Event, sensor_event


class _Sensor:
    """Conditioning state of one sensor."""

    def __init__(self, spec, start_t, level):
        self.spec = spec
        self.start_t = start_t
        self.raw = level  # last raw level seen
        self.raw_since = start_t
        self.stable = 0  # debounced level
        self.stable_since = start_t
        self.reported = 0  # what the show was last told
        self.on_t = start_t  # when the reported active state began
        self.pending_level = None  # a level waiting out its debounce ...
        self.pending_at = None  # ... until this time
        self.locked_until = None  # first_edge: the pin is not looked at before this
        self.stop_at = None  # a deferred inactive event (hold, merge)
        self.stuck_at = None  # when the current active level becomes "stuck"
        self.stuck = False
        self.warm_until = start_t + spec.warmup_s if spec.warmup_s > 0 else None
        self.quarantine_until = None
        self.changes = []  # times of the counted changes inside the flap window
        self.counted_at = None  # the last counted change (start of the current burst)
        if self.warm_until is None and level:
            self._set_pending(level, start_t, at_once=spec.debounce == "first_edge")

    # -------------------------------------------------------------- deadlines

    def next_deadline(self):
        """The earliest time something happens by itself, or None."""
        if self.quarantine_until is not None:
            return self.quarantine_until
        if self.warm_until is not None:
            return self.warm_until
        times = [x for x in (self.pending_at, self.locked_until, self.stop_at, self.stuck_at)
                 if x is not None]
        return min(times) if times else None

    def fire(self, t, out):
        """Handle every outcome due at ``t`` (the value next_deadline returned)."""
        if self.quarantine_until is not None:
            self._end_quarantine(t, out)
            return
        if self.warm_until is not None:
            self.warm_until = None
            self._adopt_raw(t, out)
            return
        if self.locked_until is not None and self.locked_until <= t:
            # The lockout is over. A level that moved meanwhile came out of chatter:
            # it counts once stable for debounce_s, as under the stable rule.
            self.locked_until = None
            if self.raw != self.stable:
                self._set_pending(self.raw, self.raw_since)
                self.pending_at = max(self.pending_at, t)
        if self.pending_at is not None and self.pending_at <= t:
            level, self.pending_level, self.pending_at = self.pending_level, None, None
            self._stable_change(t, level, out)
        if self.stop_at is not None and self.stop_at <= t:
            self.stop_at = None
            self.reported = 0
            out.append(sensor_event(t, self.spec.name, self.spec.kind, False))
        if self.stuck_at is not None and self.stuck_at <= t:
            self.stuck_at = None
            self.stuck = True
            out.append(Event(t, f"{self.spec.name}.fault", self.spec.name, {"reason": "stuck"}))

    # ------------------------------------------------------------------ edges

    def edge(self, t, level, out):
        if level == self.raw:
            return  # a repeated level is no change (callbacks may repeat)
        quiet = t - self.raw_since >= self.spec.debounce_s  # no chatter before this edge
        self.raw, self.raw_since = level, t
        if self.warm_until is not None:
            return
        self._count_change(t)
        if self.quarantine_until is None and len(self.changes) > self.spec.flap_limit:
            self.quarantine_until = t + self.spec.quarantine_s
            out.append(Event(t, f"{self.spec.name}.fault", self.spec.name,
                             {"reason": "flapping"}))
            return
        if self.quarantine_until is not None:
            return
        if self.locked_until is not None:
            return  # a bounce after a first edge; the level is looked at when it ends
        if level == self.stable:
            self.pending_level = self.pending_at = None  # bounced back: nothing happened
        else:
            self._set_pending(level, t, at_once=quiet and self.spec.debounce == "first_edge")
            if self.pending_at <= t:
                self.fire(t, out)

    def _count_change(self, t):
        # A change within debounce_s of the last counted one is the same burst (a
        # bounce); continuous chatter is still counted once per debounce_s.
        if self.counted_at is None or t - self.counted_at >= self.spec.debounce_s:
            self.counted_at = t
            self.changes.append(t)
        self._prune(t)

    def _prune(self, t):
        # A change exactly flap_window_s ago has left the window.
        horizon = t - self.spec.flap_window_s
        while self.changes and self.changes[0] <= horizon:
            self.changes.pop(0)

    def _set_pending(self, level, since, at_once=False):
        """``level`` counts once stable for debounce_s since ``since`` (or at once: a
        first edge out of quiet)."""
        self.pending_level = level
        self.pending_at = since if at_once else since + self.spec.debounce_s

    # ------------------------------------------------------------- transitions

    def _stable_change(self, t, level, out):
        self.stable, self.stable_since = level, t
        spec = self.spec
        if spec.debounce == "first_edge" and spec.debounce_s > 0:
            self.locked_until = t + spec.debounce_s
        if level:
            if self.stop_at is not None:
                self.stop_at = None  # back within hold/merge: still the same event
            elif not self.reported:
                self.reported, self.on_t = 1, t
                out.append(sensor_event(t, spec.name, spec.kind, True))
            if spec.stuck_after_s > 0:
                self.stuck_at = t + spec.stuck_after_s
            return
        self.stuck_at = None
        if self.stuck:
            self.stuck = False
            out.append(Event(t, f"{spec.name}.recovered", spec.name, {"reason": "stuck"}))
        if self.reported:
            stop_at = max(t + spec.merge_s, self.on_t + spec.hold_s)
            if stop_at <= t:
                self.reported = 0
                out.append(sensor_event(t, spec.name, spec.kind, False))
            else:
                self.stop_at = stop_at

    def _adopt_raw(self, t, out):
        """Take the current raw level as if it had just been seen (after warm-up or
        quarantine): it counts once stable for debounce_s since it last changed, under
        either rule (under first_edge it then locks out as for any change)."""
        self.pending_level = self.pending_at = None
        self.locked_until = None
        if self.raw != self.stable:
            self._set_pending(self.raw, self.raw_since)
            self.pending_at = max(self.pending_at, t)
        # Deadlines that fell inside a quarantine are due now, not in the past.
        if self.stop_at is not None:
            self.stop_at = max(self.stop_at, t)
        if self.stuck_at is not None:
            self.stuck_at = max(self.stuck_at, t)
        if self.pending_at is not None and self.pending_at <= t:
            self.fire(t, out)

    def _end_quarantine(self, t, out):
        self._prune(t)
        if len(self.changes) > self.spec.flap_limit and self.spec.quarantine_s > 0:
            self.quarantine_until = t + self.spec.quarantine_s
            return
        self.quarantine_until = None
        out.append(Event(t, f"{self.spec.name}.recovered", self.spec.name,
                         {"reason": "flapping"}))
        self._adopt_raw(t, out)

    def retuned(self, spec, t):
        """This sensor's state under new settings from ``t`` on (see the module
        docstring); deadlines are moved, never earlier than ``t``."""
        new = _Sensor.__new__(_Sensor)
        new.__dict__.update(self.__dict__)
        new.spec = spec
        new.changes = list(self.changes)
        old = self.spec
        if self.pending_level is not None:
            new.pending_at = max(self.raw_since + spec.debounce_s, t)
        if self.locked_until is not None:
            if spec.debounce == "first_edge":
                new.locked_until = max(self.stable_since + spec.debounce_s, t)
            else:  # no lockout under the new rule: the current level waits its debounce
                new.locked_until = None
                if self.raw != self.stable:
                    new.pending_level = self.raw
                    new.pending_at = max(self.raw_since + spec.debounce_s, t)
        if self.stop_at is not None:
            # The active state ended at stable_since; it is reported ended after the
            # (new) merge and hold.
            new.stop_at = max(self.stable_since + spec.merge_s, self.on_t + spec.hold_s, t)
        if self.stable and not self.stuck and spec.stuck_after_s > 0:
            new.stuck_at = max(self.stable_since + spec.stuck_after_s, t)
        elif not self.stuck:
            new.stuck_at = None
        if self.warm_until is not None:
            new.warm_until = max(self.start_t + spec.warmup_s, t)
        if self.quarantine_until is not None:
            began = self.quarantine_until - old.quarantine_s
            new.quarantine_until = max(began + spec.quarantine_s, t)
        return new

    def state(self):
        if self.quarantine_until is not None:
            return "quarantined"
        if self.warm_until is not None:
            return "warming"
        if self.stuck:
            return "stuck"
        return "active" if self.reported else "inactive"


class Conditioner:
    """Debounce, hold, merge, warm-up, flap and stuck rules for a set of sensors.

    ``specs``: ``SensorSpec`` objects; ``start_t``: the time (same clock as the edges)
    at which conditioning starts; ``initial_levels``: optional {name: level} read from
    the pins at start (level 1 = active); a sensor active at start is reported active
    once debounced (or at the end of its warm-up).
    """

    def __init__(self, specs, start_t, initial_levels=None):
        initial_levels = initial_levels or {}
        self._sensors = {
            spec.name: _Sensor(spec, start_t, 1 if initial_levels.get(spec.name) else 0)
            for spec in specs
        }
        self._now = start_t

    def retuned(self, specs, t):
        """A Conditioner for ``specs`` that goes on from this one at time ``t``.

        Sensors are matched by name: a kept one carries its state over (see the module
        docstring), a new one starts at ``t`` with level 0, a missing one is dropped.
        This one is left as it was."""
        now = max(t, self._now)
        new = Conditioner((), now)
        for spec in specs:
            old = self._sensors.get(spec.name)
            new._sensors[spec.name] = (old.retuned(spec, now) if old is not None
                                       else _Sensor(spec, now, 0))
        return new

    @property
    def specs(self):
        """The ``SensorSpec`` of every sensor, in order."""
        return tuple(state.spec for state in self._sensors.values())

    def knows(self, sensor):
        """True when ``sensor`` is one of the names conditioned here."""
        return sensor in self._sensors

    def edge(self, t, sensor, level):
        """Feed one raw edge; return the events due up to and including ``t``."""
        try:
            state = self._sensors[sensor]
        except KeyError:
            raise KeyError(f"conditioning: no sensor named {sensor!r} "
                           f"(known: {', '.join(self._sensors) or 'none'})") from None
        t = max(t, self._now)
        out = self.poll(t)
        state.edge(t, 1 if level else 0, out)
        return out

    def poll(self, t):
        """Return the events that time alone brings about up to and including ``t``."""
        t = max(t, self._now)
        self._now = t
        out = []
        while True:
            due = None
            for state in self._sensors.values():
                at = state.next_deadline()
                if at is not None and at <= t and (due is None or at < due[0]):
                    due = (at, state)
            if due is None:
                return out
            due[1].fire(due[0], out)

    def next_deadline(self):
        """The earliest time at which poll() would have something to do, or None.

        Lets a caller sleep until then instead of polling often."""
        times = [s.next_deadline() for s in self._sensors.values()]
        times = [x for x in times if x is not None]
        return min(times) if times else None

    def states(self):
        """{name: "active" | "inactive" | "warming" | "quarantined" | "stuck"}."""
        return {name: state.state() for name, state in self._sensors.items()}
