"""``severed run``: the parts of the live daemon, started in order and stopped in reverse.

Start: crash record (safe mode?) -> audio sink -> render loop -> sensors -> render
thread -> first block -> READY=1 -> watchdog -> control socket -> simulation inputs.
Stop (SIGTERM, SIGINT, the end of a simulated scenario): STOPPING=1 -> simulation
inputs -> control socket -> fade out (under 1 s) -> render thread -> watchdog ->
sensors -> sink. A clean stop clears the crash record; SIGHUP reloads the site config
and show, keeping the running ones when the new files are bad.

A reload (SIGHUP, or ``severed reload`` over the control socket) applies the sensor
section too: one log line per changed sensor ("sensor door: debounce_s 0.05 -> 0.2"),
conditioning retuned on the render thread with each sensor's state kept, and, when a
pin, pull, active_state, kind or the pin factory changed, a sensor was added or removed,
or a sensor was out of service, the GPIO devices closed and opened again. If the new
devices cannot all be opened, the reason is logged (sensor and pin) and the previous
sensors are opened again, so the show keeps the sensors it had.

A reload whose show names stems is prepared on a thread of its own (the stems hashed
and, when new, converted into the cache) and swapped in when ready, so the control
socket answers at once; the event log and the cache directory move with the config.
Each engine a reload replaces is collected as soon as the render loop lets it go, and
glibc's malloc is kept from growing a heap that never shrinks (fix_malloc_thresholds),
so memory stays flat across reloads (benchmarks/bench_reload_memory.py).

The sound never stops because of a part around it: a sensor that cannot be opened is a
fault, a control socket that cannot be bound is a warning, an event log that cannot be
written is reported once and tried again. Only the render loop itself
failing ends the process (non-zero, so systemd restarts it; repeated failures lead to
safe mode: the built-in "safe" show, a quiet room tone, with no sensors).
"""

import dataclasses
import functools
import gc
import logging
import os
import signal
import sys
import threading
import time

from severed.errors import ConfigError, ControlError, SeveredError
from severed.show.events import Event

log = logging.getLogger("severed.daemon")

FADE_OUT_S = 0.5  # well under the 1 s a stop may take
# A run that has played this long was a healthy start: it no longer counts towards safe
# mode if it ends without a clean stop. Otherwise switching the booth off at the wall
# (a power cut, never a clean stop) three times in five minutes would mean safe mode.
HEALTHY_AFTER_S = 60.0
FIRST_BLOCK_TIMEOUT_S = 30.0
# After a reload the replaced engine plays out its crossfade (at most 120 s) before it
# is dropped; then its memory is collected (see settle_memory_if_due).
SETTLE_AFTER_RELOAD_S = 130.0
SAFE_SHOW = "safe"
# What a gpiozero device is opened with: a change to any of these means reopening it.
DEVICE_FIELDS = ("kind", "pin", "pull", "active_state")


class Daemon:
    def __init__(self, site, show, *, config_path=None, simulate=False, scenario=None,
                 fallback_wav=None, control_path=None, state_dir=None, seed=0,
                 loader=None, recordings_dir=None, log_path=None):
        self.site = site
        self.show = show
        self.config_path = config_path
        self.simulate = simulate
        self.scenario = scenario
        self.fallback_wav = fallback_wav
        self.control_path = control_path
        self.state_dir = state_dir
        self.seed = seed
        self.loader = loader
        self.recordings_dir = recordings_dir
        self.log_path = log_path  # a log file besides the console (started by hand)
        self.safe_mode = False
        self.loop = None
        self.bank = None
        self.handler = None  # the control commands, for the socket and the fleet link
        self.fleet = None  # the broker link, when the site has [fleet]
        self._fleet_error = None
        self.sink = None
        self._stop = threading.Event()  # ask the main thread to stop
        self._render_stop = threading.Event()
        self._reload_requested = threading.Event()
        self._render_error = None
        self._counter = None  # the crash record, once the daemon is playing
        self._reload_lock = threading.Lock()  # SIGHUP and the control socket may race
        self._bank_lock = threading.Lock()  # held while self.bank is being replaced
        self._parts = []  # (name, stop function), in start order
        self._settle_memory_at = None  # monotonic time to collect a replaced engine
        self._reload_seq = 0  # the latest reload asked for; older pending ones give way
        self._engines_collected = 0  # loop.engines_retired at the last collection
        self.reload_pending = None  # what a reload waits for (stems converting), or None

    # -- signals -------------------------------------------------------------------

    def install_signal_handlers(self):
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload_requested.set())

    def stop(self):
        self._stop.set()

    # -- life cycle ----------------------------------------------------------------

    def run(self):
        """Run until asked to stop; return the exit code."""
        from severed.service.notify import Notifier, Watchdog, status_line
        from severed.service.safemode import DEFAULT_STATE_DIR, CrashCounter

        notifier = Notifier()
        counter = CrashCounter(self.state_dir or DEFAULT_STATE_DIR)
        clean = False
        fix_malloc_thresholds()  # before the engine's buffers are allocated
        try:
            if not self.simulate and counter.should_use_safe_mode(time.time()):
                self._enter_safe_mode()
            self._start_sink()
            self._start_loop()
            self._start_sensors()
            self._start_render_thread()
            self._wait_first_block()
            notifier.ready(status_line(self.status()))
            watchdog = Watchdog(notifier, progress=lambda: self.loop.blocks_rendered,
                                status=lambda: status_line(self.status()))
            watchdog.start()
            self._parts.append(("watchdog", watchdog.stop))
            self._start_control()
            self._start_fleet()
            self._start_simulation()
            # Everything made so far (modules, the show, the engine's buffers) lives as
            # long as the process: keep it out of the garbage collector's full passes,
            # which would otherwise scan it all while the render thread waits.
            gc.freeze()
            self._counter = counter
            log.info("severed is playing '%s' (scene %s)%s", self.loop.show.name,
                     self.loop.state.scene, " in SAFE MODE" if self.safe_mode else "")
            self._serve()
            clean = self._render_error is None
        finally:
            notifier.stopping()
            self._shutdown()
            if clean:
                counter.clear()
        return 0 if clean else 1

    def _serve(self):
        """The main thread: wait for a stop, a reload or a dead render thread."""
        healthy_at = time.monotonic() + HEALTHY_AFTER_S
        while not self._stop.wait(0.2):
            if healthy_at is not None and time.monotonic() >= healthy_at:
                healthy_at = None
                if self._render_error is None and self._counter is not None:
                    self._counter.clear()  # this start worked: forget earlier crashes
            if self._render_error is not None:
                log.error("the render loop stopped: %s", self._render_error)
                return
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                self.reload()
            self.collect_retired_engines()
            self.settle_memory_if_due(time.monotonic())

    def _enter_safe_mode(self):
        from severed.config import load_show

        self.safe_mode = True
        self.show = load_show(SAFE_SHOW)
        self.site = _without_sensors(self.site)
        log.error("safe mode: repeated crashes; playing the quiet '%s' show without sensors "
                  "until a clean stop (check `severed logs`)", SAFE_SHOW)

    def _start_sink(self):
        from severed.hardware.sinks import open_sink

        # On a Pi the DAC's driver may come up after the service: wait for it rather
        # than fail into a restart loop. A dev machine without a card gets a WAV file.
        self.sink = open_sink(self.site.audio, fallback_wav_path=self.fallback_wav,
                              wait_for_device=not self.simulate)
        self._parts.append(("audio", self.sink.close))
        log.info("audio: %s", self.sink.description)

    def _start_loop(self):
        from severed.loop import EventLog, RenderLoop
        from severed.precompute.cache import Cache

        # A missing directory or a full disk is reported, and the show plays on; a slow
        # one is written to by the log's own thread, not the render thread.
        event_log = EventLog(self.site.event_log or None,
                             max_bytes=_megabytes(self.site.event_log_max_mb), background=True)
        self._parts.append(("event log", event_log.close))
        self.loop = RenderLoop(self.show, self.site, self.sink, seed=self.seed,
                               event_log=event_log, live=True, cache=Cache.for_site(self.site))

    def _start_sensors(self):
        # The part closes whatever bank is current then: a reload may replace it.
        self._parts.append(("sensors", self._close_bank))
        try:
            self.bank = self._open_bank(self.site)
        except SeveredError as exc:
            log.error("sensors: %s; the show goes on without them", exc)
            return
        self.loop.set_sensor_levels(self.bank.levels())
        for event in self.bank.fault_events(0.0):
            self.loop.post(event)

    def _open_bank(self, site):
        from severed.hardware.sensors import SensorBank

        factory = "mock" if self.simulate else site.pin_factory
        return SensorBank(site.sensors, dac=site.audio.dac, pin_factory=factory,
                          on_edge=self.loop.post_edge, clock=self.loop.clock)

    def _close_bank(self):
        with self._bank_lock:
            bank, self.bank = self.bank, None
        if bank is not None:
            bank.close()

    def _start_render_thread(self):
        thread = threading.Thread(target=self._render, name="severed-render", daemon=True)
        thread.start()

        def stop_render():
            self._render_stop.set()
            thread.join(5.0)

        self._parts.append(("render loop", stop_render))

    def _render(self):
        from severed.service.realtime import try_realtime

        try_realtime()
        try:
            self.loop.run(stop=self._render_stop)
        except Exception as exc:  # noqa: BLE001 - reported to the main thread
            log.exception("render loop failed")
            self._render_error = exc

    def _wait_first_block(self):
        deadline = time.monotonic() + FIRST_BLOCK_TIMEOUT_S
        while self.loop.blocks_rendered == 0:
            if self._render_error is not None:
                raise SeveredError(f"the render loop failed to start: {self._render_error}")
            if time.monotonic() > deadline:
                raise SeveredError("no audio block reached the device within "
                                   f"{FIRST_BLOCK_TIMEOUT_S:g} s")
            time.sleep(0.01)

    def _start_control(self):
        from severed.service.control import ControlServer
        from severed.service.handler import ControlHandler
        from severed.service.socketpath import daemon_path

        # The handler's reload goes through apply_reload, so that it reopens sensors.
        handler = ControlHandler(_ReloadingLoop(self), self.site, self.show,
                                 config_path=self.config_path,
                                 info=self._info, recordings_dir=self.recordings_dir,
                                 **({"loader": self.loader} if self.loader else {}))
        self.handler = handler
        path = self.control_path or daemon_path()
        try:
            server = ControlServer(path, handler).start()
        except (ControlError, OSError) as exc:
            log.warning("control socket unavailable (%s); maintenance commands will not "
                        "reach this daemon", exc)
            return
        self._parts.append(("control socket", server.stop))

    def _start_fleet(self):
        """The broker link ([fleet]): never needed for the sound, so a problem with it
        (paho-mqtt missing, an unreadable password file) is logged and shown in status."""
        if self.site.fleet is None:
            return
        from severed.fleet.link import BoothLink

        handler = self.handler
        try:
            self.fleet = BoothLink(self.site.fleet, self.loop, handler,
                                   status=lambda: handler.status({})["status"],
                                   scenes=lambda: self.show.scenes).start()
        except SeveredError as exc:
            log.error("fleet: %s; this booth plays alone", exc)
            self._fleet_error = str(exc)
            return
        self._parts.append(("fleet", self.fleet.stop))

    def _start_simulation(self):
        if not self.simulate or self.bank is None:
            return
        from severed.hardware.simulate import KeyboardControl, ScenarioDriver
        from severed.loop import scenario_event

        bank = _CurrentBank(self)  # drives the bank of the day, after reloads too
        if self.scenario is not None:
            driver = ScenarioDriver(bank, self.scenario,
                                    on_command=lambda step: self.loop.post(scenario_event(step)))
            driver.start()
            self._parts.append(("scenario", driver.stop))
            timer = threading.Timer(self.scenario.duration_s, self._stop.set)
            timer.daemon = True
            timer.start()
            self._parts.append(("scenario timer", timer.cancel))
        if sys.stdin.isatty():
            from severed.service.notify import status_line

            from severed.service.handler import why_unmoved

            keys = KeyboardControl(bank, status=lambda: status_line(self.status()),
                                   on_quit=self._stop.set,
                                   explain=lambda event: why_unmoved(self.loop, event))
            keys.start()
            self._parts.append(("keyboard", keys.stop))

    def _shutdown(self):
        """Stop every started part in reverse order; fade the sound out first."""
        if self.loop is not None and self.loop.blocks_rendered and self._render_error is None:
            self.loop.post(Event(0.0, "cmd.mute", data={"ramp_s": FADE_OUT_S}))
            time.sleep(FADE_OUT_S + 0.1)
        for name, stop in reversed(self._parts):
            try:
                stop()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                log.exception("stopping %s failed", name)
        self._parts.clear()

    # -- status and reload ---------------------------------------------------------

    def _info(self):
        info = {"safe_mode": self.safe_mode, "pid": os.getpid()}
        if self.log_path:
            info["log_path"] = self.log_path
        if self.bank is not None:
            info["pin_factory"] = self.bank.factory_name
            info["faults"] = sorted(self.bank.faults)
        if self.fleet is not None:
            info["fleet"] = self.fleet.info()
        elif self._fleet_error is not None:
            info["fleet"] = {"connected": False, "problems": [self._fleet_error]}
        return info

    def status(self):
        status = self.loop.status()
        status.update(self._info())
        return status

    def reload(self):
        """SIGHUP: load and check the site config and show; swap them in only if valid."""
        from severed.service.handler import default_loader

        if not self.config_path:
            log.warning("reload: no site config file to read again")
            return False
        try:
            site, show = (self.loader or default_loader)(self.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused, keeping the running show: %s", problem)
            return False
        self.apply_reload(site, show)
        if self.reload_pending:
            log.info("reload of %s: %s", self.config_path, self.reload_pending)
        else:
            log.info("reloaded %s: show '%s'", self.config_path, show.name)
        return True

    def apply_reload(self, site, show):
        """Swap in a validated site config and show, sensors included (see the module
        docstring); return the site config now in force (its sensors are the previous
        ones when the new devices could not be opened).

        A show with stems is prepared first on a thread of its own (its stems hashed
        and, when new, converted into the cache, which takes minutes for a long one on
        a Pi): the caller (the control socket) answers at once and the swap follows
        when they are ready, unless a newer reload came meanwhile."""
        from severed.preflight import stems_of

        with self._reload_lock:
            self._reload_seq += 1
            stems = stems_of(show)
            if stems:
                self._prepare_then_reload(self._reload_seq, site, show, stems)
                return site
            return self._apply_locked(site, show)

    def _prepare_then_reload(self, seq, site, show, stems):
        self.reload_pending = (f"converting the stems of show '{show.name}' "
                               f"({len(stems)}) into the cache first: it starts when "
                               "they are ready")

        def prepare():
            _lower_priority()
            cache = self._cache_for(site)
            for key, stem in stems:
                try:
                    cache.ensure(stem, site.audio.sample_rate)
                except (SeveredError, OSError) as exc:
                    log.error("reload refused, keeping the running show: %s: %s", key, exc)
                    self._end_pending(seq)
                    return
            with self._reload_lock:
                if seq != self._reload_seq:
                    log.info("reload of show '%s' dropped: a newer reload came first",
                             show.name)
                    return
                self._apply_locked(site, show)
            log.info("reloaded %s: show '%s'", self.config_path or "the config", show.name)

        threading.Thread(target=prepare, name="severed-reload", daemon=True).start()

    def _end_pending(self, seq):
        with self._reload_lock:
            if seq == self._reload_seq:
                self.reload_pending = None

    def _cache_for(self, site):
        """The precompute cache ``site`` uses: the loop's, unless it names another."""
        from severed.precompute.cache import Cache, cache_dir

        cache = self.loop.cache
        if cache is not None and cache.directory == cache_dir(site):
            cache.stem_budget_bytes = Cache.for_site(site).stem_budget_bytes
            return cache
        return Cache.for_site(site)

    def _apply_locked(self, site, show):
        """apply_reload, now (the caller holds _reload_lock)."""
        # Reloads back to back (SIGHUPs racing socket reloads): free the engines the
        # loop has let go before building one more, rather than after the race.
        self.collect_retired_engines()
        if self.safe_mode and site.sensors:
            log.warning("reload: safe mode plays without sensors; the %d in %s are "
                        "not opened until a clean stop", len(site.sensors),
                        self.config_path or "the config")
            site = _without_sensors(site)
        old_specs = self.site.sensors
        if site.fleet != self.site.fleet:
            log.warning("reload: [fleet] changes take effect at the next restart")
        for name, pin, text in sensor_changes(old_specs, site.sensors):
            log.info("sensor %s: %s", name, text, extra={"SENSOR": name, "PIN": pin})
        reopen = self._needs_reopen(site)
        self._retarget_files(site)
        # The engine is built first (it takes the longest); conditioning moves to the
        # new specs on the render thread, before any edge of the new devices.
        self.loop.request_reload(site, show)
        if reopen:
            kept = self._reopen_sensors(site, old_specs)
            if kept is not None:
                site = dataclasses.replace(site, sensors=kept)
                self.loop.request_sensors(kept)
        self.site, self.show = site, show
        self._settle_memory_at = time.monotonic() + SETTLE_AFTER_RELOAD_S
        self.reload_pending = None  # and any older reload still preparing gives way
        return site

    def _retarget_files(self, site):
        """The event log and the precompute cache move with the site config on a
        reload: nothing there waits for a restart."""
        self.loop.event_log.retarget(site.event_log or None, _megabytes(site.event_log_max_mb))
        cache = self._cache_for(site)
        if cache is not self.loop.cache:
            self.loop.cache = cache
            log.info("precompute cache: %s", cache.directory)

    def collect_retired_engines(self):
        """Free the engines the render loop has let go since the last call.

        An engine holds reference cycles, so it is freed only by a collection, and the
        full ones come seldom: reloads in a row (or SIGHUPs racing socket reloads)
        left one engine each behind, 45 MiB for ten of them. Objects frozen at start
        are not scanned, so this pass is short; the allocator is then asked to give
        back what it can (``trim_heap``)."""
        retired = self.loop.engines_retired
        if retired == self._engines_collected:
            return
        self._engines_collected = retired
        gc.collect()
        trim_heap()

    def settle_memory_if_due(self, now):
        """Once the engine a reload replaced has faded out: collect it and freeze what
        lives on. Frozen objects are never collected, so the old engine's reference
        cycles stay until the collector is allowed to see them again."""
        if self._settle_memory_at is None or now < self._settle_memory_at:
            return
        self._settle_memory_at = None
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        trim_heap()

    def _needs_reopen(self, site):
        if not self.simulate and site.pin_factory != self.site.pin_factory:
            return True
        if _device_keys(site.sensors) != _device_keys(self.site.sensors):
            return True
        # A sensor out of service (missing, busy, refused at start) gets another try:
        # fix the wiring, then reload.
        return bool(site.sensors) and (self.bank is None or bool(self.bank.faults))

    def _reopen_sensors(self, site, old_specs):
        """Close the sensors and open ``site.sensors``; None when that worked, else the
        specs opened again instead (the previous ones)."""
        # Simulation inputs wait (they drive through _bank_lock) rather than find no bank.
        with self._bank_lock:
            return self._reopen_locked(site, old_specs)

    def _reopen_locked(self, site, old_specs):
        old_bank, self.bank = self.bank, None
        old_faults = dict(old_bank.faults) if old_bank is not None else {}
        old_levels = old_bank.levels() if old_bank is not None else {}
        if old_bank is not None:
            old_bank.close()
        problems = []
        try:
            bank = self._open_bank(site)
        except SeveredError as exc:
            pins = {spec.name: spec.pin for spec in site.sensors}
            name = next((n for n in pins if repr(n) in str(exc)), None)
            problems.append((name, pins.get(name), str(exc)))
        else:
            problems = [(name, _pin_of(site.sensors, name), reason)
                        for name, reason in bank.faults.items() if name not in old_faults]
            if problems:
                bank.close()
        if not problems:
            self._install_bank(bank, old_levels, old_faults)
            return None
        for name, pin, reason in problems:
            log.error("reload: %s: %s; keeping the sensors as they were",
                      f"sensor {name}" if name else "sensors", reason,
                      extra={"SENSOR": name, "PIN": pin})
        try:
            bank = self._open_bank(dataclasses.replace(site, sensors=old_specs))
        except SeveredError as exc:
            log.error("sensors: %s; the show goes on without them", exc)
            return tuple(old_specs)
        self._install_bank(bank, old_levels, old_faults)
        return tuple(old_specs)

    def _install_bank(self, bank, old_levels, old_faults):
        """Make ``bank`` the current one and tell the loop its levels and what changed
        in its faults (the caller holds _bank_lock)."""
        if self.simulate and bank.factory_name == "mock":
            # Fresh mock pins read idle: put back the levels the simulation had driven.
            levels = bank.levels()
            for name, level in old_levels.items():
                if name in levels and levels[name] != level:
                    bank.drive(name, level)
        self.bank = bank
        self.loop.post_levels(bank.levels())
        for event in bank.fault_events(0.0):
            if event.sensor not in old_faults:
                self.loop.post(event)
        for name in bank.levels():
            if name in old_faults:
                log.info("sensor %s: open again", name, extra={"SENSOR": name})
                self.loop.post(Event(0.0, f"{name}.recovered", name, {"reason": "opened"}))


class _CurrentBank:
    """The daemon's SensorBank of the moment, for simulation inputs that outlive a
    reload (they keep this object; the bank behind it may be replaced)."""

    def __init__(self, daemon):
        self._daemon = daemon

    def drive(self, name, level):
        from severed.errors import SensorError

        with self._daemon._bank_lock:
            bank = self._daemon.bank
            if bank is None:
                raise SensorError(f"sensor {name!r}: no sensors are open")
            bank.drive(name, level)

    def __getattr__(self, name):
        bank = self._daemon.bank
        if bank is None:
            raise AttributeError(name)
        return getattr(bank, name)


class _ReloadingLoop:
    """The render loop as the control handler sees it: a reload goes through the
    daemon (sensors included); everything else goes to the loop itself."""

    def __init__(self, daemon):
        self._daemon = daemon

    def request_reload(self, site, show):
        return self._daemon.apply_reload(site, show)

    @property
    def reload_pending(self):
        return self._daemon.reload_pending

    def __getattr__(self, name):
        return getattr(self._daemon.loop, name)


def sensor_changes(old_specs, new_specs):
    """[(name, pin, text)], one for each sensor added, removed or changed, e.g.
    ``("door", 17, "debounce_s 0.05 -> 0.2")``; pin is the new one (old if removed)."""
    old = {spec.name: spec for spec in old_specs}
    new = {spec.name: spec for spec in new_specs}
    out = []
    for name, spec in new.items():
        before = old.get(name)
        if before is None:
            out.append((name, spec.pin, f"added ({spec.kind} on GPIO{spec.pin})"))
        elif before != spec:
            diffs = [f"{f.name} {_fmt(getattr(before, f.name))} -> "
                     f"{_fmt(getattr(spec, f.name))}"
                     for f in dataclasses.fields(spec)
                     if getattr(before, f.name) != getattr(spec, f.name)]
            out.append((name, spec.pin, ", ".join(diffs)))
    for name, spec in old.items():
        if name not in new:
            out.append((name, spec.pin, f"removed (was {spec.kind} on GPIO{spec.pin})"))
    return out


def _fmt(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def _device_keys(specs):
    return {tuple(getattr(spec, f) for f in ("name",) + DEVICE_FIELDS) for spec in specs}


def _pin_of(specs, name):
    return next((spec.pin for spec in specs if spec.name == name), None)


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024


@functools.lru_cache(maxsize=1)
def _libc():
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def fix_malloc_thresholds():
    """Keep large blocks (an engine's buffers) in their own mappings, returned to the
    system when freed. glibc otherwise raises its mmap threshold to the size of each
    mapped block freed, up to 32 MiB: after the first reload freed an engine, the next
    engines' buffers came from the heap, which fragments and seldom shrinks (the
    resident size stepped up with reloads). Setting the threshold turns that off.
    No-op where the C library is not glibc."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        libc.mallopt(M_TRIM_THRESHOLD, MMAP_THRESHOLD_BYTES)
        libc.mallopt(M_ARENA_MAX, 1)


def trim_heap():
    """Give freed heap memory back to the system (glibc's malloc_trim)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _lower_priority():
    """Let the render thread have the CPU first while this thread converts (Linux: a
    thread's nice value is its own)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def _megabytes(mb):
    return int(mb * 1024 * 1024)


def _without_sensors(site):
    return dataclasses.replace(site, sensors=())
