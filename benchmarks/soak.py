"""Soak: simulate days of exhibit life offline through the live loop's code path.

    .venv/bin/python benchmarks/soak.py --hours 24 [--seed 1] [--cache DIR]

The built-in ``lumon`` show on the dev site (door, motion, reward on mock pins) plays
through :class:`severed.loop.RenderLoop` into a checking sink, block by block, for the
simulated hours asked. The scenario is generated (see :func:`make_scenario`): visitors
arriving as a Poisson process whose rate follows the time of day, each with motion
bursts, a bouncing door closing and opening and sometimes the reward button; bounce
storms on the door; a motion sensor that flaps into quarantine; a door stuck closed
for an hour; volume and mute commands, scene commands; and reloads of the show
mid-run (``request_reload``, alternating the show as shipped and a variant).

Every block is checked (cheap checks, see :class:`Checker`): no exception, every
sample finite, peak at or below -1 dBFS (+1e-6), no discontinuity outside the blocks
where a glitch layer acted; the event log is checked record by record
(:class:`CheckingLog`): every scene change is a transition the show allows or a
command. RSS is sampled every 5 simulated minutes; the growth per simulated hour is the
slope of a straight line fitted to the samples after the first hour, given at least an
hour of them (12); a shorter run says it has too few instead of a number.

Prints one line per simulated hour and the figures at the end; exits 1 when a check
failed. docs/reliability.md explains the measures and holds the last 24 h figures.
The short version of this run is tests/reliability/test_soak.py.
"""

import argparse
import dataclasses
import math
import sys
import time
import traceback
from collections import Counter

import severed  # noqa: F401  (first: one BLAS thread, like the daemon)
import numpy as np

CEILING = 10 ** (-1 / 20)  # -1 dBFS, the master limiter's ceiling
# A discontinuity: one sample-to-sample step both audible (above -40 dBFS, 0.01) and far
# above the signal's own slope around it. See docs/reliability.md for how these were
# measured on clean blocks.
STEP_FLOOR = 0.01
STEP_RATIO = 6.0  # the step / the largest of its neighbours
NEIGHBOURS = 16  # on each side
STUCK_AFTER_S = 900.0  # the door sensor of the soak's site reports a fault after this


# -------------------------------------------------------------------- scenario


def _bounce(steps, t, sensor, level, rng, n_max=4):
    """A contact that bounces: a few fast toggles, then ``level`` for good."""
    n = int(rng.integers(0, n_max + 1))
    for _ in range(n):
        steps.append((t, sensor, level))
        t += float(rng.uniform(0.002, 0.012))
        steps.append((t, sensor, 1 - level))
        t += float(rng.uniform(0.002, 0.012))
    steps.append((t, sensor, level))
    return t


def visitors_per_hour(hour_of_day):
    """Traffic by time of day: none at night, a peak in the afternoon."""
    h = hour_of_day % 24
    if h < 8 or h >= 20:
        return 0.3
    return 4.0 + 16.0 * math.sin(math.pi * (h - 8) / 12) ** 2


def make_scenario(hours, seed=1, start_hour=6.0, storms=True, reload_every_s=3 * 3600.0,
                  command_every_s=1800.0, traffic=1.0):
    """The steps of a generated exhibit life: (sensor edges, commands) and reload times.

    Returns (scenario TOML text, [reload time s ...]). ``start_hour`` is the time of day
    at t = 0 (traffic follows it); ``traffic`` multiplies the visitor rate."""
    rng = np.random.default_rng(seed)
    duration = hours * 3600.0
    edges = []  # (t, sensor, level)
    commands = []  # (t, command, args)
    door_closed_until = 0.0

    # Visitors: a Poisson process with a rate that follows the time of day (thinning).
    peak = traffic * 20.0 / 3600.0
    t = 0.0
    while True:
        t += float(rng.exponential(1.0 / peak))
        if t >= duration - 60:
            break
        if rng.random() > visitors_per_hour(start_hour + t / 3600.0) / 20.0:
            continue
        if t < door_closed_until + 5:
            continue
        # Motion in the booth: a few bursts while they look around.
        m = t
        for _ in range(int(rng.integers(1, 5))):
            edges.append((m, "motion", 1))
            m += float(rng.uniform(2.0, 12.0))
            edges.append((m, "motion", 0))
            m += float(rng.uniform(1.0, 15.0))
        # The door closes behind them (bouncing), the ride, then it opens.
        close_at = t + float(rng.uniform(3.0, 20.0))
        _bounce(edges, close_at, "door", 1, rng)
        open_at = close_at + float(rng.uniform(8.0, 120.0))
        _bounce(edges, open_at, "door", 0, rng)
        door_closed_until = open_at
        if rng.random() < 0.15:
            press = open_at + float(rng.uniform(1.0, 30.0))
            _bounce(edges, press, "reward", 1, rng, n_max=2)
            _bounce(edges, press + float(rng.uniform(0.1, 0.6)), "reward", 0, rng, n_max=2)

    # Faults, each a few times a day at random: bounce storms on the door, a motion
    # sensor flapping into quarantine, the door stuck closed for an hour.
    per_day = max(1, int(round(hours / 24 * 3)))
    for i in range(per_day if storms else 0):
        # In a short run, late: visitors drive the show before the sensors are
        # quarantined (300 s by default).
        late = duration < 7200
        s = 0.6 * duration if late else float(rng.uniform(0, duration - 120))
        level = 1
        for _ in range(int(rng.integers(20, 60))):
            edges.append((s, "door", level))
            level = 1 - level
            s += float(rng.uniform(0.003, 0.03))
        edges.append((s, "door", 0))
        f = 0.75 * duration if late else float(rng.uniform(0, duration - 120))
        level = 1
        for _ in range(int(rng.integers(40, 120))):
            edges.append((f, "motion", level))
            level = 1 - level
            f += float(rng.uniform(0.05, 0.3))
        edges.append((f, "motion", 0))
    if storms and duration > 2 * 3600:
        s = float(rng.uniform(0, duration - 2 * 3600))
        edges.append((s, "door", 1))
        edges.append((s + 3600.0, "door", 0))

    # A technician now and then: volume, mute/unmute, a scene command, the reward button.
    t = 0.0
    while True:
        t += float(rng.exponential(command_every_s))
        if t >= duration - 30:
            break
        u = rng.random()
        if u < 0.35:
            commands.append((t, "volume", {"db": round(float(rng.uniform(-20.0, 0.0)), 1)}))
        elif u < 0.55:
            commands.append((t, "mute", {}))
            commands.append((t + float(rng.uniform(5.0, 120.0)), "unmute", {}))
        elif u < 0.8:
            scene = str(rng.choice(["outie", "innie", "testing_floor", "barrier", "mde"]))
            commands.append((t, "scene", {"scene": scene}))
        else:
            commands.append((t, "trigger", {"event": "reward.press"}))
    at = np.arange(reload_every_s, duration - 60, reload_every_s)
    jitter_s = min(600.0, reload_every_s / 4)
    reloads = list(at + rng.uniform(-jitter_s, jitter_s, len(at)))
    lines = [f"seed = {seed}", f"duration_s = {duration:.3f}", ""]
    for at, sensor, level in edges:
        lines.append(f'[[timeline]]\nat_s = {at:.6f}\nsensor = "{sensor}"\nlevel = {level}\n')
    for at, command, args in commands:
        extra = "".join(f"\n{k} = {v!r}" if not isinstance(v, str) else f'\n{k} = "{v}"'
                        for k, v in args.items())
        lines.append(f'[[timeline]]\nat_s = {at:.6f}\ncommand = "{command}"{extra}\n')
    return "\n".join(lines), sorted(float(r) for r in reloads if r > 0)


# ---------------------------------------------------------------------- checks


class CheckingLog:
    """An event log that checks each record as it is written and keeps only counts.

    Every scene change must come from a command or a transition of the show whose
    source is the scene playing, whose target is the new scene and whose trigger is
    the record's reason (an event type, or "after N s" no earlier than N s in)."""

    def __init__(self, show):
        from severed.eventlog import _journal  # the journal line the daemon writes too
        self._journal = _journal
        self.show = show
        self.counts = Counter()
        self.problems = []
        self.scene = None
        self.entered_at = 0.0
        self.frame_s = 1.0 / 48000
        self.recent = []

    def write(self, record):
        self.counts[record["type"]] += 1
        kind = record["type"]
        if kind in ("start", "reload"):
            self.scene, self.entered_at = record["scene"], record["t"]
        elif kind == "scene":
            self.counts["scene:" + record["reason"]] += 1
            why = self._not_allowed(record)
            if why:
                self.problems.append(f"t={record['t']:.3f}: {why}: {record}")
            self.scene, self.entered_at = record["to"], record["t"]
        elif kind == "overlay":
            spec = self.show.scenes.get(record["name"])
            if spec is None or not spec.overlay:
                self.problems.append(f"t={record['t']:.3f}: overlay of a non-overlay: {record}")
        self.recent.append(record)
        if len(self.recent) > 200:
            del self.recent[:100]

    def _not_allowed(self, r):
        if r["from"] != self.scene:
            return f"from {r['from']!r} but {self.scene!r} was playing"
        if r["reason"].startswith("cmd."):
            return None if r["to"] in self.show.scenes else "unknown scene"
        for tr in self.show.transitions:
            if tr.to != r["to"] or not (tr.sources == ("*",) or r["from"] in tr.sources):
                continue
            if tr.on is not None and tr.on == r["reason"]:
                return None
            if tr.after_s is not None and r["reason"] == f"after {tr.after_s:g} s":
                # Records carry the frame's time; the machine counts from the exact
                # deadline, up to a frame earlier: allow one frame.
                if r["t"] - self.entered_at >= tr.after_s - self.frame_s - 1e-6:
                    return None
                return f"timer fired {r['t'] - self.entered_at:.3f} s in, before {tr.after_s} s"
        return "no transition of the show allows it"

    def close(self):
        pass


class Checker:
    """A sink that checks every block: finite, peak, discontinuities.

    Discontinuity: in each block (with the last NEIGHBOURS + 2 frames of the block
    before, so the boundary is covered) the largest sample-to-sample step of each
    channel is compared with the largest step among its NEIGHBOURS neighbours on each
    side (leaving out the two adjacent ones, so that a one-sample spike counts). A click in a continuous signal is one step far above its neighbours; a
    sine, noise, a resonant burst or a 1 ms ramp has neighbours of about its own size.
    A block is flagged when that step is above STEP_FLOOR and STEP_RATIO times its
    neighbours, unless a glitch layer acted in it (``glitch_active`` is asked after
    each block is rendered). A block is judged when the next one arrives (the steps
    near its end need neighbours); call ``finish()`` after the last."""

    def __init__(self, glitch_active=lambda: False, keep=20):
        self.glitch_active = glitch_active
        self.blocks = 0
        self.frames = 0
        self.nonfinite = 0
        self.over_ceiling = 0
        self.peak = 0.0
        self.clicks = []  # (block, step, ratio, at the boundary) of the first ``keep``
        self.click_count = 0
        self.glitch_blocks = 0
        self.silent_blocks = 0  # peak below -90 dBFS
        self.ratio_max_clean = 0.0
        self.ratio_max_glitch = 0.0
        self.step_max_clean = 0.0
        self.clean_ratios = []  # every 7th measured block, for percentiles
        self._tail = None  # the last frames of the block before the pending one
        self._pending = None  # (index, block, glitch acted) waiting for its successor
        self._keep = keep

    def write(self, block):
        frames = len(block)
        self.blocks += 1
        self.frames += frames
        peak = float(np.max(np.abs(block))) if frames else 0.0
        if not math.isfinite(peak):
            self.nonfinite += 1
            self._analyse(None)
            self._tail = None
            return
        self.peak = max(self.peak, peak)
        if peak > CEILING + 1e-6:
            self.over_ceiling += 1
        if peak < 3e-5:
            self.silent_blocks += 1
        # A block's steps are judged when the next block arrives, so that a step near
        # its end has neighbours on both sides.
        self._analyse(block)
        self._pending = (self.blocks - 1, block.copy(), self.glitch_active())

    def finish(self):
        """Judge the last block (call once the run is over)."""
        self._analyse(None)

    def _analyse(self, following):
        if self._pending is None:
            return
        index, block, glitch = self._pending
        self._pending = None
        frames = len(block)
        parts = [block]
        lead = 0
        if self._tail is not None:
            parts.insert(0, self._tail)
            lead = len(self._tail)
        if following is not None and len(following):
            parts.append(following[:NEIGHBOURS + 2])
        x = np.concatenate(parts) if len(parts) > 1 else block
        self._tail = block[-(NEIGHBOURS + 2):].copy()
        if len(x) < 2:
            return
        steps = np.abs(np.diff(x, axis=0))
        # the steps that belong to this block: from the one into its first frame
        # (across the boundary) to the one into its last frame
        first = max(lead - 1, 0)
        last = lead + frames - 1
        step, ratio, at = 0.0, 0.0, -1
        for c in range(steps.shape[1]):
            k = first + int(np.argmax(steps[first:last, c]))
            s = float(steps[k, c])
            # skip the adjacent steps: a one-sample spike is two big steps side by side
            before = steps[max(0, k - NEIGHBOURS):max(0, k - 1), c]
            after = steps[k + 2:k + 2 + NEIGHBOURS, c]
            near = max(float(before.max()) if len(before) else 0.0,
                       float(after.max()) if len(after) else 0.0)
            r = s / (near + 1e-9)
            if s > STEP_FLOOR and r > ratio:
                step, ratio, at = s, r, k
        if glitch:
            self.glitch_blocks += 1
            self.ratio_max_glitch = max(self.ratio_max_glitch, ratio)
            return
        if step <= STEP_FLOOR:
            return
        self.ratio_max_clean = max(self.ratio_max_clean, ratio)
        self.step_max_clean = max(self.step_max_clean, step)
        if index % 7 == 0:
            self.clean_ratios.append(ratio)
        if ratio > STEP_RATIO:
            self.click_count += 1
            if len(self.clicks) < self._keep:
                self.clicks.append((index, round(step, 4), round(ratio, 1),
                                    lead > 0 and at == lead - 1))


def glitch_probe(loop):
    """A function telling whether a glitch or silence layer of an audible scene acted in
    the block just rendered (a pop or hiss in its buffer, or a cut window open)."""
    from severed.engine.layers.glitch import Glitch, Silence

    def layers():
        engines = [loop.engine]
        if loop._old_engine is not None:
            engines.append(loop._old_engine[0])
        for engine in engines:
            for scene in engine.scenes.values():
                if scene.audible:
                    for slot in scene.slots:
                        if isinstance(slot.layer, (Glitch, Silence)) and slot.enabled:
                            yield slot.layer

    def active():
        for layer in layers():
            if layer.cuts.windows or not layer.cuts.gate.open:
                return True
            if isinstance(layer, Glitch) and (layer._buf[:loop.block_frames + layer.tail].any()):
                return True
        return False

    return active


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


#: RSS is sampled this often (simulated seconds), whatever the progress lines do.
RSS_EVERY_S = 300.0
#: A growth line needs this many samples after the first hour (an hour of them): two
#: samples of a 1-hour run once made "54.56 MiB/h" out of the first scenes played.
GROWTH_MIN_SAMPLES = 12


def slope_per_hour(samples):
    """MiB per hour of a least-squares line through (hour, MiB) samples."""
    if len(samples) < 2:
        return float("nan")
    h, m = np.array(samples).T
    return float(np.polyfit(h, m, 1)[0])


def growth(samples, after_h=1.0, min_samples=GROWTH_MIN_SAMPLES):
    """(MiB per hour, text) of the RSS samples from ``after_h`` on (the first hour
    touches every scene's buffers for the first time, which is not a leak); the slope
    is NaN and the text says why when there are fewer than ``min_samples``."""
    late = [s for s in samples if s[0] >= after_h]
    if len(late) < min_samples:
        return float("nan"), (f"too few samples to fit a growth line: {len(late)} after "
                              f"the first hour, {min_samples} needed (a run of at least "
                              f"{after_h + min_samples * RSS_EVERY_S / 3600:g} h)")
    slope = slope_per_hour(late)
    return slope, (f"{slope:.2f} MiB/h, a line through {len(late)} samples from "
                   f"{late[0][0]:.2f} h to {late[-1][0]:.2f} h")


# ------------------------------------------------------------------------- run


def soak_site(site):
    """The dev site with a stuck-door timeout, so that the stuck door is a fault."""
    sensors = tuple(dataclasses.replace(s, stuck_after_s=STUCK_AFTER_S) if s.kind == "door"
                    else s for s in site.sensors)
    return dataclasses.replace(site, sensors=sensors)


def variant_show_text():
    """The lumon show with slower crossfades and a louder outie: what a reload swaps in."""
    import importlib.resources
    text = (importlib.resources.files("severed") / "shows" / "lumon.toml").read_text()
    return text.replace("crossfade_s = 4.0", "crossfade_s = 5.0", 1)


class Soak:
    """One soak run; ``run()`` returns the figures (a dict). Usable from tests."""

    def __init__(self, hours, seed=1, cache_dir=None, out=sys.stdout, block_frames=None,
                 reload_every_s=3 * 3600.0, report_every_s=3600.0, start_hour=6.0,
                 command_every_s=1800.0, traffic=1.0):
        from severed.commands.common import load_inputs
        from severed.config import load_scenario_text, load_show_text
        from severed.loop import RenderLoop
        from severed.precompute.cache import Cache

        self.hours = hours
        self.out = out
        self.report_every_s = report_every_s
        site, show, _ = load_inputs()
        self.site = soak_site(site)
        self.show = show
        self.variant = load_show_text(variant_show_text(), show.path)
        text, self.reloads = make_scenario(hours, seed, start_hour=start_hour,
                                           reload_every_s=reload_every_s,
                                           command_every_s=command_every_s,
                                           traffic=traffic)
        self.scenario = load_scenario_text(text, "soak.toml", show=show, site=self.site)
        self.cache = Cache(cache_dir) if cache_dir else Cache.for_site(self.site)
        self.log = CheckingLog(show)
        self.log.frame_s = 1.0 / self.site.audio.sample_rate
        self.checker = Checker()
        t0 = time.perf_counter()
        self.loop = RenderLoop(show, self.site, self.checker, seed=seed,
                               scenario=self.scenario, event_log=self.log,
                               block_frames=block_frames, cache=self.cache)
        self.build_s = time.perf_counter() - t0
        self.checker.glitch_active = glitch_probe(self.loop)
        self.reload_build_s = []

    def run(self):
        loop = self.loop
        sr = loop.sample_rate
        total = int(round(self.hours * 3600 * sr))
        reloads = list(self.reloads)
        rss = [(0.0, rss_mib())]
        next_report = self.report_every_s
        next_rss = RSS_EVERY_S
        error = None
        started = time.perf_counter()
        cpu0 = time.process_time()
        n_reload = 0
        slowest = [(0.0, 0.0, "")] * 5  # (CPU s, engine s, scene) of the slowest blocks
        self._print(f"soak: {self.hours:g} h simulated, {len(self.scenario.steps)} scenario "
                    f"steps, {len(reloads)} reloads; built in {self.build_s:.1f} s; "
                    f"RSS {rss[0][1]:.1f} MiB")
        try:
            while loop.engine.frame < total:
                if reloads and loop.t >= reloads[0]:
                    reloads.pop(0)
                    n_reload += 1
                    show = self.variant if n_reload % 2 else self.show
                    t0 = time.perf_counter()
                    loop.request_reload(self.site, show)
                    self.reload_build_s.append(time.perf_counter() - t0)
                    self.log.show = show
                c0 = time.thread_time()
                loop.render_block(min(loop.block_frames, total - loop.engine.frame))
                spent = time.thread_time() - c0
                if spent > slowest[0][0]:
                    slowest[0] = (spent, round(loop.t, 2), loop.state.scene)
                    slowest.sort()
                if loop.t >= next_rss:
                    rss.append((loop.t / 3600.0, rss_mib()))
                    next_rss += RSS_EVERY_S
                if loop.t >= next_report:
                    self._report(loop, rss, started)
                    next_report += self.report_every_s
        except Exception:
            error = traceback.format_exc()
            self._print(error)
        self.checker.finish()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu0
        rss.append((loop.t / 3600.0, rss_mib()))
        c = self.checker
        rss_growth, rss_growth_text = growth(rss)
        ratios = np.array(c.clean_ratios) if c.clean_ratios else np.zeros(1)
        figures = {
            "simulated_h": loop.t / 3600.0,
            "wall_s": wall,
            "cpu_s": cpu,
            "speed_x": loop.t / max(wall, 1e-9),
            "blocks": c.blocks,
            "error": error,
            "nonfinite_blocks": c.nonfinite,
            "over_ceiling_blocks": c.over_ceiling,
            "peak_dbfs": 20 * math.log10(max(c.peak, 1e-12)),
            "clicks": c.click_count,
            "click_examples": c.clicks,
            "glitch_blocks": c.glitch_blocks,
            "silent_blocks": c.silent_blocks,
            "ratio_max_clean": c.ratio_max_clean,
            "ratio_p999_clean": float(np.percentile(ratios, 99.9)),
            "ratio_max_glitch": c.ratio_max_glitch,
            "step_max_clean": c.step_max_clean,
            "log_problems": list(self.log.problems),
            "log_counts": dict(self.log.counts),
            "rss_mib": rss,
            "rss_growth_mib_per_h": rss_growth,
            "rss_growth": rss_growth_text,
            "render_ms_max": loop.render_s_max * 1000,
            "block_cpu_ms_slowest": [(round(c * 1000, 1), t, sc) for c, t, sc in
                                     reversed(slowest)],
            "block_cpu_ms_mean": cpu / max(c.blocks, 1) * 1000,
            "reload_build_s_max": max(self.reload_build_s, default=0.0),
            "reloads": n_reload,
            "build_s": self.build_s,
        }
        self._summary(figures)
        return figures

    def ok(self, f):
        return (f["error"] is None and not f["nonfinite_blocks"] and not f["over_ceiling_blocks"]
                and not f["clicks"] and not f["log_problems"])

    def _report(self, loop, rss, started):
        c = self.checker
        wall = time.perf_counter() - started
        self._print(f"h {loop.t / 3600:6.2f}  wall {wall:7.0f} s  {loop.t / wall:5.1f}x  "
                    f"RSS {rss[-1][1]:6.1f} MiB  scene {loop.state.scene:<13} "
                    f"changes {self.log.counts['scene']:4d}  faults {self.log.counts['fault']:3d}  "
                    f"reloads {self.log.counts['reload']:2d}  peak "
                    f"{20 * math.log10(max(c.peak, 1e-12)):6.2f} dBFS  clicks {c.click_count}  "
                    f"nonfinite {c.nonfinite}  log problems {len(self.log.problems)}")

    def _summary(self, f):
        self._print("--- figures ---")
        for k, v in f.items():
            if k == "rss_mib":  # every hour's first sample, and the last
                hourly = [v[0]] + [x for a, x in zip(v, v[1:]) if int(x[0]) > int(a[0])]
                v = " ".join(f"{h:.1f}h:{m:.1f}" for h, m in hourly + v[-1:])
            elif isinstance(v, float):
                v = f"{v:.4g}"
            self._print(f"{k}: {v}")
        self._print("PASS" if self.ok(f) else "FAIL")

    def _print(self, line):
        print(line, file=self.out, flush=True)


def rss_split_mib():
    """(VmRSS, RssAnon, RssFile) in MiB: file pages (memory-mapped stems) can be dropped
    by the kernel; anonymous ones are the process's own."""
    d = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                d[k] = int(v.split()[0]) / 1024.0
    return d.get("VmRSS", math.nan), d.get("RssAnon", math.nan), d.get("RssFile", math.nan)


def reload_memory(reloads=12, seconds_between=10.0, out=sys.stdout):
    """Memory across repeated reloads: every scene is played once first (first touches
    of its buffers), then the show is reloaded ``reloads`` times (alternating the
    variant), the innie scene played ``seconds_between`` after each. Prints RSS and the
    count of live Python objects after each reload; returns [(rss, anon, objects)]."""
    import gc

    from severed.show import events as ev
    run = Soak(1, seed=3, reload_every_s=1e9, report_every_s=1e9, out=out)
    loop = run.loop
    for scene in ("outie", "innie", "testing_floor", "mde", "idle", "descent", "ascent"):
        loop.post(ev.Event(0.0, "cmd.scene", None, {"scene": scene}))
        loop.run(seconds=loop.t + 5.0)
    rows = []
    for i in range(reloads):
        loop.request_reload(run.site, run.variant if i % 2 else run.show)
        loop.post(ev.Event(0.0, "cmd.scene", None, {"scene": "innie"}))
        loop.run(seconds=loop.t + seconds_between)
        gc.collect()
        rss, anon, file_ = rss_split_mib()
        objects = len(gc.get_objects())
        rows.append((rss, anon, objects))
        print(f"reload {i + 1:2d}: RSS {rss:6.1f} MiB (anonymous {anon:6.1f}, file {file_:5.1f})"
              f"  Python objects {objects}", file=out, flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start-hour", type=float, default=6.0,
                   help="time of day at the start; traffic follows it (default 6)")
    p.add_argument("--cache", help="precompute cache directory (default: the dev site's)")
    p.add_argument("--report-every-s", type=float, default=3600.0,
                   help="simulated seconds between progress lines and RSS samples")
    p.add_argument("--reloads", type=int, metavar="N",
                   help="instead of a soak: memory across N reloads of the show")
    args = p.parse_args(argv)
    import logging
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if args.reloads:
        reload_memory(args.reloads)
        return 0
    soak = Soak(args.hours, seed=args.seed, cache_dir=args.cache,
                report_every_s=args.report_every_s, start_hour=args.start_hour)
    return 0 if soak.ok(soak.run()) else 1


if __name__ == "__main__":
    sys.exit(main())
