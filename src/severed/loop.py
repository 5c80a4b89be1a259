"""The render loop: one thread that turns inputs into sound, live or offline.

Each block it gathers what happened (raw sensor edges, commands, scenario steps),
conditions sensor edges into events, lets the pure show machine answer them with
actions, renders the block through the engine and hands it to the sink. The block is
split at each event's exact frame, so offline renders place every change on its sample.

Live (``severed run``) and offline (``severed render``) differ only in their inputs:

- offline, a scenario's steps carry engine times; conditioning runs on those times;
- live, hardware edges and commands arrive from other threads through ``post`` /
  ``post_edge``; conditioning runs on the monotonic clock, and what it yields applies at
  the start of the next block (the earliest sound not yet handed to the device).

The render thread owns the engine and the show state; other threads only enqueue.
"""

import logging
import math
import queue
import time
from dataclasses import replace
from datetime import datetime

import numpy as np

from severed.engine.compiled import kernels
from severed.engine.engine import Engine
from severed.eventlog import EventLog
from severed.hardware.conditioning import Conditioner
from severed.hours import is_open
from severed.loudness import calibration as loudness
from severed.loudness.meter import LiveMeter
from severed.show import events as ev
from severed.show.machine import ShowMachine

log = logging.getLogger("severed.loop")

RELOAD_CROSSFADE_S = 2.0
# Offline renders (severed render, tests) use blocks at least this large unless told
# otherwise: the site's block_frames is chosen for the door's latency, which a render
# into a file does not have, and small blocks cost more CPU per second of audio. Events
# still land on their exact sample at any block size.
OFFLINE_BLOCK_FRAMES = 2048
HOURS_CHECK_S = 5.0
METER_FLOOR_DB = -120.0


def scenario_event(step):
    """The command event of a scenario step (at its own time)."""
    return ev.Event(step.at_s, f"cmd.{step.command}", None, dict(step.args))


class RenderLoop:
    def __init__(self, show, site, sink, *, seed=0, scenario=None, event_log=None,
                 block_frames=None, live=False, clock=time.monotonic, cache=None):
        audio = site.audio
        self.site = site
        self.show = show
        self.sink = sink
        self.seed = seed
        self.cache = cache
        self.sample_rate = audio.sample_rate
        self.channels = audio.channels
        self.block_frames = block_frames or (
            audio.block_frames if live else max(audio.block_frames, OFFLINE_BLOCK_FRAMES))
        self.live = live
        self.clock = clock
        self.event_log = event_log or EventLog()
        self.engine = self._build_engine(show, site)
        self.machine = ShowMachine(show)
        self.state = self.machine.initial(0.0)
        self.conditioner = Conditioner(site.sensors, 0.0)
        self._timeline = list(scenario.steps) if scenario is not None else []
        self._next_step = 0
        self._inbox = queue.SimpleQueue()
        self._taps = []
        self._old_engine = None  # (engine, frames faded so far, fade frames) during a reload
        self.engines_retired = 0  # engines let go after a reload (their memory is garbage)
        self._out = np.zeros((self.block_frames, self.channels), np.float32)
        self._old_out = np.zeros((self.block_frames, self.channels), np.float32)
        self._fade = np.zeros(self.block_frames, np.float32)
        self._clock0 = clock() if live else None  # input time 0 for live conditioning
        self._next_hours_check = 0.0
        # Scene changes a fleet group agreed on, as [frame, data] in frame order; see
        # schedule_scene. scene_gate(change, t) -> False holds a change the show machine
        # made (the group decides it); output_clock maps wall-clock times to frames.
        self._scheduled = []
        self.scene_gate = None
        self.output_clock = None
        self.blocks_rendered = 0
        self.render_s_max = 0.0  # slowest block so far (seconds), for status and benchmarks
        self.peak_dbfs = METER_FLOOR_DB
        self.rms_dbfs = METER_FLOOR_DB
        self.loudness_meter = LiveMeter(self.sample_rate, self.channels, self.block_frames)
        self.engine.start(self.state.scene)
        self.event_log.write({"t": 0.0, "type": "start", "scene": self.state.scene,
                              "show": show.name, "seed": seed})

    def _build_engine(self, show, site):
        engine = Engine(show, sample_rate=self.sample_rate, channels=self.channels,
                        max_frames=self.block_frames, seed=self.seed, mains_hz=site.mains_hz,
                        trim_db=site.master_trim_db, cache=self.cache)
        # Each scene at its loudness_lufs, from the measurements in the cache (made
        # offline; a scene without one plays at unit gain, and a warning says so).
        loudness.apply(engine, self.cache)
        return engine

    @property
    def t(self):
        """Engine time: seconds of audio rendered so far."""
        return self.engine.frame / self.sample_rate

    # -- inputs from other threads --------------------------------------------------

    def post(self, event):
        """Queue a command event (from the control socket); thread-safe."""
        self._inbox.put(event)

    def post_edge(self, t_clock, sensor, level):
        """Queue a raw sensor edge stamped with ``clock()``; thread-safe (gpiozero)."""
        self._inbox.put(("edge", t_clock, sensor, level))

    def request_reload(self, site, show):
        """Swap in a new (already validated) site config and show, with a crossfade.

        The new engine is built here, on the caller's thread, so the render thread
        never stalls on it. The swap happens on the render thread at the next block
        boundary; sensor conditioning moves to ``site.sensors`` there too, each sensor
        keeping its state (``Conditioner.retuned``): a reload never reports a door
        anew. The GPIO devices are the caller's business (the daemon reopens them when
        pins change, then calls ``post_levels``)."""
        engine = self._build_engine(show, site)
        self._inbox.put(("reload", site, show, engine))

    def request_sensors(self, specs):
        """Condition ``specs`` from the next block on, keeping each sensor's state (as a
        reload does, without touching the show); thread-safe."""
        self._inbox.put(("sensors", tuple(specs)))

    def post_levels(self, levels, t_clock=None):
        """Queue sensor levels read from freshly opened pins ({name: 1 active}) as raw
        edges stamped ``t_clock`` (default: now); a level that is no change is nothing.
        Names not conditioned (yet) are ignored; thread-safe."""
        self._inbox.put(("levels", self.clock() if t_clock is None else t_clock,
                         dict(levels)))

    def set_sensor_levels(self, levels):
        """Start conditioning from the sensors' levels at start-up (a door already
        closed at boot is then reported); call before the first block."""
        self.conditioner = Conditioner(self.site.sensors, 0.0, initial_levels=levels)

    def schedule_scene(self, wall_s, scene, **data):
        """Change to ``scene`` at the sample heard at wall-clock time ``wall_s``
        (``time.time()``, by ``output_clock``); thread-safe. A time already played
        applies at the next block, its lateness in the event log (``late_ms``). The
        change passes no ``scene_gate``: it is the group's decision. ``data`` goes to
        the ``cmd.scene`` event (crossfade_s) and the scene record."""
        self._inbox.put(("scene_at", float(wall_s), scene, data))

    def add_tap(self, fn):
        """``fn(block)`` is called with every rendered block, on the render thread."""
        self._taps = self._taps + [fn]

    def remove_tap(self, fn):
        self._taps = [f for f in self._taps if f is not fn]

    # -- the loop -------------------------------------------------------------------

    def run(self, stop=None, seconds=None, progress=None):
        """Render until ``stop`` (a threading.Event) is set or ``seconds`` are done."""
        total = None if seconds is None else int(round(seconds * self.sample_rate))
        while stop is None or not stop.is_set():
            if total is not None and self.engine.frame >= total:
                break
            frames = self.block_frames if total is None else min(self.block_frames,
                                                                  total - self.engine.frame)
            self.render_block(frames)
            if progress is not None:
                progress(self.engine.frame, total)

    def render_block(self, frames=None):
        frames = frames or self.block_frames
        started = time.perf_counter()
        start = self.engine.frame
        events = self._gather(start, frames)
        self._apply(self.machine.tick(self.state, self.t), "timer")
        out = self._out
        pos = 0
        i = 0
        # Split the block at each event and at each timer deadline, so that every
        # change lands on its own frame whatever the block size.
        while pos < frames:
            at_event = frames
            if i < len(events):
                at_event = min(max(int(round(events[i].t * self.sample_rate)) - start, pos), frames)
            at_timer, deadline = self._deadline_frame(start, pos, frames)
            k = min(at_event, at_timer)
            if k > pos:
                self._render(out[pos:], k - pos)
                pos = k
            if i < len(events) and at_event <= pos:
                self._handle(events[i])
                i += 1
            elif deadline is not None and at_timer <= pos:
                # The frame is the first at or after the deadline; tick at no earlier
                # than the deadline itself, so rounding cannot make the timer miss.
                self._apply(self.machine.tick(self.state, max(self.t, deadline)), "timer")
        for event in events[i:]:  # events at the very end of the block
            self._handle(event)
        block = out[:frames]
        self._meter(block)
        for tap in self._taps:
            tap(block)
        self.render_s_max = max(self.render_s_max, time.perf_counter() - started)
        self.sink.write(block)
        if self.output_clock is not None:
            self.output_clock.wrote(self.engine.frame)
        self.blocks_rendered += 1

    def _deadline_frame(self, start, pos, frames):
        """(block offset, time) of the next timer deadline after ``pos``; the offset is
        ``frames`` when none falls within the block."""
        deadline = self.machine.next_deadline(self.state)
        if deadline is None:
            return frames, None
        k = math.ceil(deadline * self.sample_rate - 1e-6) - start
        return (k, deadline) if pos < k < frames else (frames, None)

    def _render(self, out, frames):
        self.engine.render(out, frames)
        if self._old_engine is not None:
            self._crossfade_old(out, frames)

    def _crossfade_old(self, out, frames):
        old, done, total = self._old_engine
        old_out = self._old_out
        old.render(old_out, frames)
        x = self._fade[:frames]
        np.add(np.arange(done, done + frames, dtype=np.float32), 1.0, out=x)
        x *= np.float32(1.0 / total)
        np.clip(x, 0.0, 1.0, out=x)
        x *= np.float32(math.pi / 2)
        # new * sin + old * cos: equal power across the swap
        out[:frames] *= np.sin(x)[:, None]
        out[:frames] += old_out[:frames] * np.cos(x)[:, None]
        done += frames
        if done >= total:
            self._old_engine = None
            self.engines_retired += 1
        else:
            self._old_engine = (old, done, total)

    def _gather(self, start, frames):
        """Events that take effect in this block, in time order."""
        t_start = start / self.sample_rate
        t_end = (start + frames) / self.sample_rate
        events = []
        steps = self._timeline
        while self._next_step < len(steps) and steps[self._next_step].at_s < t_end:
            step = steps[self._next_step]
            self._next_step += 1
            if step.sensor is not None:
                events += self.conditioner.edge(step.at_s, step.sensor, step.level)
            else:
                events.append(scenario_event(step))
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            events += self._from_inbox(item, t_start)
        if self.live:
            events += self.conditioner.poll(self._input_time())
            # Live inputs happened in the past of the sound being rendered: apply them now.
            events = [ev.Event(t_start, e.type, e.sensor, e.data) for e in events]
            self._check_hours()
        else:
            events += self.conditioner.poll(t_end)
        if self._scheduled and self._scheduled[0][0] < start + frames:
            events += self._due_scenes(start, frames)
        events.sort(key=lambda e: e.t)
        return events

    def _input_time(self):
        now = self.clock()
        if self._clock0 is None:
            self._clock0 = now
        return now - self._clock0

    def _from_inbox(self, item, t_start):
        if isinstance(item, ev.Event):
            return [ev.Event(t_start, item.type, item.sensor, item.data)]
        if item[0] == "edge":
            _, t_clock, sensor, level = item
            if self._clock0 is None:
                self._clock0 = t_clock
            if not self.conditioner.knows(sensor):
                # A sensor dropped by a reload whose device was still closing.
                log.debug("edge of %s ignored: not a conditioned sensor", sensor)
                return []
            return self.conditioner.edge(t_clock - self._clock0, sensor, level)
        if item[0] == "levels":
            _, t_clock, levels = item
            if self._clock0 is None:
                self._clock0 = t_clock
            out = []
            for sensor, level in levels.items():
                if self.conditioner.knows(sensor):
                    out += self.conditioner.edge(t_clock - self._clock0, sensor, level)
            return out
        if item[0] == "scene_at":
            self._add_scheduled(*item[1:])
        elif item[0] == "reload":
            self._reload(*item[1:], t_start)
        elif item[0] == "sensors":
            self._retune_sensors(item[1], t_start)
            self.site = replace(self.site, sensors=item[1])
        return []

    def _add_scheduled(self, wall_s, scene, data):
        clock = self.output_clock
        frame = clock.frame_at(wall_s) if clock is not None else self.engine.frame
        self._scheduled.append([frame, dict(data, scene=scene, at=wall_s)])
        self._scheduled.sort(key=lambda item: item[0])

    def _due_scenes(self, start, frames):
        """The scheduled scene changes that start in this block, as cmd.scene events on
        their own frames (a late one on the block's first)."""
        out = []
        while self._scheduled and self._scheduled[0][0] < start + frames:
            frame, data = self._scheduled.pop(0)
            if frame < start:
                data["late_ms"] = round((start - frame) * 1000 / self.sample_rate, 1)
                frame = start
            if self.output_clock is not None:
                data["heard_at"] = round(self.output_clock.wall_at(frame), 6)
            out.append(ev.Event(frame / self.sample_rate, "cmd.scene", None, data))
        return out

    def _retune_sensors(self, specs, t_start):
        """Move conditioning to ``specs`` now (the input clock live, engine time
        offline), keeping each sensor's state."""
        if tuple(specs) == self.conditioner.specs:
            return
        now = self._input_time() if self.live else t_start
        self.conditioner = self.conditioner.retuned(specs, now)

    def _reload(self, site, show, engine, t_start):
        old = self.engine
        self._retune_sensors(site.sensors, t_start)
        self.site, self.show = site, show
        before = self.state
        tension = self.machine.tension(before, self.t)
        self.machine = ShowMachine(show)
        scene = before.scene if before.scene in show.scenes else show.initial_scene
        self.state = _carried_over(self.machine.initial(self.t), before, tension,
                                   site.sensors)
        if scene != self.state.scene:
            self.state, _ = self.machine.step(self.state, ev.Event(self.t, "cmd.scene",
                                                                   data={"scene": scene}))
        engine.frame = old.frame
        engine.start(self.state.scene, fade_s=0.0)
        # A technician's volume and mute, and closed hours, outlive a reload.
        engine.apply(ev.SetVolume(before.volume_db, 0.0))
        engine.apply(ev.SetMute(before.muted, 0.0))
        if old.master.closed:
            engine.set_closed(True, 0.0)
        self.engine = engine
        if self._old_engine is not None:  # a reload during a reload's crossfade
            self.engines_retired += 1  # that one is dropped without its fade
        self._old_engine = (old, 0, int(RELOAD_CROSSFADE_S * self.sample_rate))
        self.event_log.write({"t": self.t, "type": "reload", "show": show.name,
                              "scene": self.state.scene})

    def _handle(self, event):
        if event.type == "cmd.test_tone":
            d = event.data
            self.engine.tone.start(d.get("channel", "both"), d.get("freq_hz", 440.0),
                                   d.get("seconds", 5.0))
        elif event.type == "cmd.test_tone_stop":
            self.engine.tone.stop()
        self.event_log.write(event.to_record())
        result = self.machine.step(self.state, event)
        agreed = event.type == "cmd.scene" and "at" in event.data
        self._apply(result, event.type, scheduled=event.data if agreed else None)

    def _apply(self, result, reason, scheduled=None):
        state, actions = result
        if self.scene_gate is not None and scheduled is None:
            state, actions = self._gate_scene_changes(state, actions)
            if self._scheduled and any(isinstance(a, ev.ChangeScene) for a in actions):
                # Played here and now (the group is out of reach): a change agreed
                # earlier must not undo it when its time comes.
                self._scheduled.clear()
        self.state = state
        for action in actions:
            self.engine.apply(action)
            record = _action_record(action, self.t, reason)
            if record is not None:
                if scheduled is not None and isinstance(action, ev.ChangeScene):
                    record.update((k, v) for k, v in scheduled.items() if k != "scene")
                self.event_log.write(record)

    def _gate_scene_changes(self, state, actions):
        """Ask ``scene_gate`` about each scene change; one it holds is not played and
        the machine stays in the scene it was in (its timers included)."""
        held = [a for a in actions
                if isinstance(a, ev.ChangeScene) and not self.scene_gate(a, self.t)]
        if not held:
            return state, actions
        before = self.state
        state = replace(state, scene=before.scene, entered_at=before.entered_at,
                        timers_fired=before.timers_fired)
        return state, [a for a in actions if a not in held]

    def _check_hours(self):
        hours = self.site.hours
        now = self._input_time()
        if hours is None or now < self._next_hours_check:
            return
        self._next_hours_check = now + HOURS_CHECK_S
        closed = not is_open(hours, datetime.now())
        if closed != self.engine.master.closed:
            self.engine.set_closed(closed, hours.fade_s)
            self.event_log.write({"t": self.t, "type": "hours",
                                  "state": "closed" if closed else "open"})

    def _meter(self, block):
        if not len(block):
            return
        peak, energy = kernels.levels(block, len(block))  # one pass, compiled
        rms = math.sqrt(energy / block.size)
        self.peak_dbfs = 20 * math.log10(peak) if peak > 1e-6 else METER_FLOOR_DB
        self.rms_dbfs = 20 * math.log10(rms) if rms > 1e-6 else METER_FLOOR_DB
        self.loudness_meter.process(block)

    # -- status ---------------------------------------------------------------------

    def status(self):
        """A snapshot for the control socket (read from another thread: plain values)."""
        state = self.state
        return {
            "scene": state.scene,
            "overlays": self.engine.overlays(),
            "tension": round(self.engine.tension, 3),
            "volume_db": self.engine.master.volume_db,
            "muted": self.engine.master.muted,
            "closed": self.engine.master.closed,
            "engine_s": round(self.t, 3),
            "blocks_rendered": self.blocks_rendered,
            "underruns": getattr(self.sink, "underruns", 0),
            "sensors": self.conditioner.states(),
            "peak_dbfs": round(self.peak_dbfs, 1),
            "rms_dbfs": round(self.rms_dbfs, 1),
            "short_term_lufs": (round(self.loudness_meter.lufs, 1)
                                if math.isfinite(self.loudness_meter.lufs) else None),
            "loudness_unmeasured": list(self.engine.loudness_unmeasured),
            "limiter_db": round(self.engine.master.limiter.reduction_db, 1),
            "render_ms_max": round(self.render_s_max * 1000, 2),
            "show": self.show.name,
        }


def _carried_over(state, before, tension, sensors):
    """``state`` (a new show's initial state) knowing what ``before`` knew about the
    sensors still in ``sensors``: their states (a closed door stays closed for the
    guards), when motion was last seen, which are faulted, which drive tension now
    (a visitor moving through a reload goes on counting); the tension; and the volume
    and mute."""
    names = {spec.name for spec in sensors}
    return replace(state,
                   tension=tension,
                   tension_active=frozenset(n for n in before.tension_active if n in names),
                   sensor_states=tuple(p for p in before.sensor_states if p[0] in names),
                   last_motion=tuple(p for p in before.last_motion if p[0] in names),
                   faulted=frozenset(n for n in before.faulted if n in names),
                   volume_db=before.volume_db, muted=before.muted)


def _action_record(action, t, reason):
    t = round(t, 6)
    if isinstance(action, ev.ChangeScene):
        return {"t": t, "type": "scene", "from": action.source, "to": action.to,
                "reason": action.reason or reason}
    if isinstance(action, ev.SetOverlay):
        return {"t": t, "type": "overlay", "name": action.name, "on": action.on}
    if isinstance(action, ev.SetVolume):
        return {"t": t, "type": "volume", "db": action.db}
    if isinstance(action, ev.SetMute):
        return {"t": t, "type": "mute", "muted": action.muted}
    if isinstance(action, ev.Trigger):
        return {"t": t, "type": "trigger", "scene": action.scene, "layer": action.layer,
                "reason": reason}
    return None
