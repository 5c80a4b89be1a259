"""The ``sampler`` layer: plays precomputed audio from the cache.

The audio is either a precompute recipe or a user's file::

    [scenes.outie.layers.motif]
    type = "sampler"
    recipe = "sine_ping"                      # a registered recipe ...
    recipe_params = { freq_hz = 660, decay_s = 2.0 }
    mode = "every_s"                          # loop | oneshot | every_s
    every_s = 30
    jitter = 0.33                             # each interval 30 s +- 33 %

    [scenes.mde.layers.muzak]
    type = "sampler"
    file = "/srv/severed/stems/waiting_room.flac"   # ... or a WAV/FLAC/OGG file
    mode = "loop"

Modes:

- ``loop``: plays from ``start_s`` to the end and around again; the last
  ``loop_crossfade_s`` of the region is crossfaded into its start, so the loop point
  has no click (the fade law keeps the level whether the two ends are alike or not).
  The first pass plays the region's true start.
- ``oneshot``: silent until ``trigger()``; each trigger starts a voice at ``start_s``
  on the first frame of the next block (the render loop splits blocks at events, so
  that is the event's own sample). Up to ``voices`` play at once; one more steals the
  oldest, which fades out over 10 ms.
- ``every_s``: a oneshot that triggers itself every ``every_s`` seconds (``jitter``
  moves each interval by up to that share), the first hit ``offset_s`` after the scene
  starts.

With ``on_enter = true`` a oneshot (or every_s) layer also plays a hit the moment its
scene is entered or its overlay switched on: the elevator's ding at the door event.

``rate`` is the playback speed (0.25 to 4, linear interpolation; 2 is an octave up),
ramped across each block. The engine owns gain and reverb send. Mono audio goes to
every channel.

A file path may be absolute or relative; relative paths are resolved against the
show file's folder (``LayerContext.show_dir``), then the current directory. The audio is fetched (and rendered on
a cache miss) when the layer is built, off the render thread. When it cannot be had
(unknown recipe, missing or damaged file) the layer plays silence, logs the problem
once and keeps it in ``fault``; the rest of the scene plays on.
"""

import logging
import math

import numpy as np

from severed.engine.compiled import kernels
from severed.engine.layers.base import Layer, register
from severed.engine.params import Param
from severed.errors import SeveredError

log = logging.getLogger("severed.engine.sampler")

MODES = ("loop", "oneshot", "every_s")
STEAL_FADE_S = 0.010
PREFETCH_MAX_BYTES = 16 * 1024 * 1024  # entries up to this are read into memory at build

_MEMORY_CACHES = {}


def _fallback_cache():
    """A memory-only cache for engines built without one (tests, quick renders)."""
    from severed.precompute.cache import Cache

    if None not in _MEMORY_CACHES:
        _MEMORY_CACHES[None] = Cache(None)
    return _MEMORY_CACHES[None]


def source_item(params, work_dir=None, base_dir=None):
    """The cache item (Recipe or Stem) a sampler's parameters ask for, and a list of
    problems (messages naming the key) when they ask for nothing usable."""
    from severed.precompute.recipes import Recipe, check_recipe
    from severed.precompute.stems import Stem, resolve_stem_path

    name = params.get("recipe", "") or ""
    path = params.get("file", "") or ""
    if name and path:
        return None, ["give either recipe or file, not both"]
    if not name and not path:
        return None, ["give recipe = \"NAME\" or file = \"PATH\""]
    if path:
        return Stem(resolve_stem_path(path, base_dir), work_dir=work_dir), []
    rparams = params.get("recipe_params", {}) or {}
    problems = check_recipe(name, rparams)
    if problems:
        key = "recipe" if problems[0].startswith("no such recipe") else "recipe_params"
        return None, [f"{key}: recipe {name!r}: {p}" for p in problems]
    return Recipe(name, dict(rparams)), []


@register
class Sampler(Layer):
    TYPE = "sampler"
    DOC = "plays a precomputed recipe or a user's audio file: loop, oneshot or every N s"
    PARAMS = (
        Param("recipe", "", kind=str, automatable=False, doc="name of a precompute recipe"),
        Param("recipe_params", {}, kind=dict, automatable=False,
              doc="the recipe's parameters, a table"),
        Param("file", "", kind=str, automatable=False,
              doc="a WAV/FLAC/OGG file (absolute, or relative to the show file)"),
        Param("mode", "loop", choices=MODES, kind=str, automatable=False),
        Param("every_s", 30.0, min=0.05, max=86400.0, doc="every_s mode: seconds between hits"),
        Param("jitter", 0.0, min=0.0, max=1.0, automatable=False,
              doc="every_s mode: each interval moves by up to this share"),
        Param("offset_s", 0.0, min=0.0, max=86400.0, automatable=False,
              doc="every_s mode: the first hit this long after the scene starts"),
        Param("on_enter", False, kind=bool, automatable=False,
              doc="oneshot/every_s: also play a hit when the scene is entered"),
        Param("voices", 4, min=1, max=32, kind=int, automatable=False,
              doc="oneshot/every_s: hits that may sound at once"),
        Param("rate", 1.0, min=0.25, max=4.0, doc="playback speed (2: an octave up)"),
        Param("start_s", 0.0, min=0.0, max=86400.0, automatable=False,
              doc="where playback (and the loop) starts in the audio"),
        Param("loop_crossfade_s", 0.05, min=0.0, max=30.0, automatable=False,
              doc="loop mode: crossfade at the loop point"),
    )

    @classmethod
    def check_params(cls, params):
        """Problems a show checker can report before the engine is built, as
        ``(key, message)``: recipe or file missing or both given, an unknown recipe, a
        recipe parameter it does not have. (A missing file is found when the layer is
        built or by ``severed precompute``.)"""
        _, problems = source_item(params)
        out = []
        for msg in problems:
            key, sep, rest = msg.partition(": ")
            out.append((key, rest) if sep and key in ("recipe", "recipe_params") else ("", msg))
        return out

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        p = self.params
        self.fault = None  # a message when the layer cannot play (it is then silent)
        self.mode = p["mode"]
        self.sr = ctx.sample_rate
        self.src = None
        cache = ctx.cache if ctx.cache is not None else _fallback_cache()
        item, problems = source_item(p, work_dir=getattr(cache, "directory", None),
                                     base_dir=ctx.show_dir)
        if problems:
            self._fail("; ".join(problems))
            return
        try:
            audio = cache.get_or_render(item, ctx.sample_rate)
        except (SeveredError, OSError, ValueError) as exc:
            self._fail(str(exc))
            return
        except Exception as exc:  # a bug in a recipe must not stop the whole show
            log.exception("layer %s: rendering %s failed", ctx.name, item.label)
            self._fail(f"{item.label}: rendering failed: {type(exc).__name__}: {exc}")
            return
        start = min(int(round(p["start_s"] * self.sr)), len(audio) - 1)
        self.src = audio[start:]  # a view: a memory map stays a memory map
        self.length = len(self.src)
        self.src_channels = audio.shape[1]
        if self.length < 2:
            self._fail(f"{item.label}: only {self.length} frame(s) after start_s")
            return
        _advise(audio)
        self._build_buffers(ctx)
        if self.mode == "loop":
            self._build_loop()
        self.reset()

    def _fail(self, message):
        self.fault = message
        log.error("layer %s: %s; the layer stays silent", self.ctx.name, message)

    # -- set-up ------------------------------------------------------------------

    def _build_buffers(self, ctx):
        count = 2 * self.params["voices"]  # room for voices fading out after a steal
        self.v_pos = np.zeros(count, np.float64)
        self.v_active = np.zeros(count, bool)
        self.v_delay = np.zeros(count, np.int64)
        self.v_release = np.full(count, -1, np.int64)  # frames left of a fade-out; -1 none
        self.v_age = np.zeros(count, np.int64)
        self.steal_frames = max(1, int(round(STEAL_FADE_S * self.sr)))

    def _build_loop(self):
        """Period P = N - C; its first C frames (played on every pass but the first)
        are the region's start faded in over its tail A[P:N] faded out.

        The fade law follows how alike the two are: with correlation r (0..1) the
        gains satisfy a^2 + b^2 + 2 r a b = 1, so the level holds whether the tail
        and the start are unrelated (r = 0: equal power) or the same wave (r = 1: the
        gains sum to 1, no 3 dB bump on a loop cut at whole cycles)."""
        n = self.length
        c = min(int(round(self.params["loop_crossfade_s"] * self.sr)), n // 2)
        self.period = n - c
        self.xfade = c
        self.loop_correlation = 0.0
        if c == 0:
            self.head = np.zeros((1, self.src_channels), np.float32)
            return
        start = np.asarray(self.src[:c], np.float64)
        tail = np.asarray(self.src[self.period:n], np.float64)
        energy = math.sqrt(float(np.sum(start * start)) * float(np.sum(tail * tail)))
        self.loop_correlation = (min(1.0, max(0.0, float(np.sum(start * tail)) / energy))
                                 if energy > 0.0 else 0.0)
        x = (np.arange(c) + 0.5) / c
        fade_in = np.sin(0.5 * np.pi * x)
        fade_out = np.cos(0.5 * np.pi * x)
        norm = np.sqrt(1.0 + 2.0 * self.loop_correlation * fade_in * fade_out)
        head = start * (fade_in / norm)[:, None] + tail * (fade_out / norm)[:, None]
        self.head = head.astype(np.float32)

    # -- control -------------------------------------------------------------------

    def reset(self):
        if self.src is None:
            return
        self.loop_pos = 0.0
        self.v_active[:] = False
        self.v_release[:] = -1
        self.frame = 0  # frames since reset: the every_s schedule's clock
        self.next_hit = int(round(self.params["offset_s"] * self.sr))
        self._rate = None

    def trigger(self, what="hit"):
        """Start a voice at the next block (oneshot and every_s modes)."""
        if self.src is None or self.mode == "loop":
            return
        self._start_voice(0)

    def enter(self):
        """The scene was entered: with ``on_enter``, a hit on this very frame (an
        arrival bell)."""
        if self.params["on_enter"]:
            self.trigger()

    def _start_voice(self, delay):
        playing = self.v_active & (self.v_release < 0)
        if playing.sum() >= self.params["voices"]:
            # Steal the oldest playing voice: it fades out rather than stopping dead.
            oldest = int(np.argmax(np.where(playing, self.v_age, -1)))
            self.v_release[oldest] = self.steal_frames + delay
        free = np.flatnonzero(~self.v_active)
        if len(free):
            v = int(free[0])
        else:  # every slot busy fading: reuse the one nearest its end
            v = int(np.argmin(np.where(self.v_release >= 0, self.v_release, 1 << 62)))
        self.v_active[v] = True
        self.v_pos[v] = 0.0
        self.v_delay[v] = delay
        self.v_release[v] = -1
        self.v_age[v] = 0
        self.v_age[self.v_active] += 1

    # -- rendering -------------------------------------------------------------------

    def process(self, out, frames, controls):
        if self.src is None or frames <= 0:
            return
        r1 = min(max(self.params["rate"].value(controls), 0.25), 4.0)
        r0 = r1 if self._rate is None else self._rate
        self._rate = r1
        if self.mode == "loop":
            self.loop_pos = self._play(out, 0, self.loop_pos, r0, r1, frames, loop=True)[0]
        else:
            if self.mode == "every_s":
                self._schedule(frames, controls)
            self._play_voices(out, frames, r0, r1)
        self.frame += frames

    def _schedule(self, frames, controls):
        end = self.frame + frames
        while self.next_hit < end:
            self._start_voice(max(0, self.next_hit - self.frame))
            interval = self.params["every_s"].value(controls)
            jitter = self.params["jitter"]
            if jitter > 0.0:
                interval *= 1.0 + jitter * self.ctx.rng.uniform(-1.0, 1.0)
            self.next_hit += max(1, int(round(interval * self.sr)))

    def _play_voices(self, out, frames, r0, r1):
        for v in np.flatnonzero(self.v_active):
            delay = int(self.v_delay[v])
            if delay >= frames:
                self.v_delay[v] -= frames
                continue
            self.v_delay[v] = 0
            # The rate ramp across the block, from where this voice starts in it.
            ra = r0 + (r1 - r0) * delay / frames
            release = int(self.v_release[v])
            pos, ended = self._play(out, delay, self.v_pos[v], ra, r1, frames - delay,
                                    loop=False, release=release)
            self.v_pos[v] = pos
            if release >= 0:
                release = max(0, release - (frames - delay))
                self.v_release[v] = release
            if ended or release == 0:
                self.v_active[v] = False
                self.v_release[v] = -1

    def _play(self, out, at, pos, r0, r1, n, loop, release=-1):
        """Add n frames read from source position ``pos`` (speed going from r0 to r1)
        into out[at:at+n]; return (next position, whether a oneshot ran out). The loop
        over frames is ``kernels.sampler_play`` (src/severed/engine/kernels/sampler.c)."""
        if loop:
            played, advance = kernels.sampler_play(
                out[at:at + n], self.src, self.head, pos, r0, r1, self.period,
                self.xfade, release, self.steal_frames)
        else:
            played, advance = kernels.sampler_play(
                out[at:at + n], self.src, self.src, pos, r0, r1, 0, 0, release,
                self.steal_frames)
        new_pos = pos + advance
        if loop and new_pos >= self.period:
            # Stay in [P, 2P): past the first pass, reads below C come from the head.
            new_pos = self.period + math.fmod(new_pos - self.period, self.period)
        return new_pos, played < n


def _advise(audio):
    """Tell the kernel how a memory-mapped entry will be read (best effort): a short
    one is fetched whole now, so the render thread never waits on the SD card for it;
    a long one is read ahead as it plays and its played pages may be dropped soon."""
    mm = getattr(audio, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise"):
        return
    import mmap
    try:
        mm.madvise(mmap.MADV_WILLNEED if audio.nbytes <= PREFETCH_MAX_BYTES
                   else mmap.MADV_SEQUENTIAL)
    except (OSError, ValueError, AttributeError):
        pass
