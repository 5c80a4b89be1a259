"""Chip malfunction and silence as an instrument: the ``glitch`` and ``silence`` layers.

``glitch``: pops (a few milliseconds of a displaced membrane), hiss bursts (white
noise, 20-250 ms) and hard cuts of the scene to silence (``cut_ms`` range, 50-300 ms by
default), arriving at random (a Poisson process) at ``rate_hz`` events per second;
map it from tension to make the chip fail more when the room is agitated. ``on_enter``
events (pops or hiss, never cuts) fire within the first 300 ms after the scene is
entered (a transition hiccup).

``silence``: scheduled gaps: every ``every_s`` seconds (give or take ``jitter``), the
whole scene falls silent for ``silence_s``, with ``ramp_ms`` fades.

Both cut through the scene's cut curve (``ctx.scene_cut``, see ``base``): the scene
multiplies all it plays (every layer, wherever listed, and its reverb return) by it,
while its layers and reverb run on underneath. A glitch cut's edges are 1 ms ramps:
abrupt to the ear, never a full-scale step. A glitch's own pops and hiss are part of
the scene too: one that falls inside a cut is cut.
"""

import numpy as np

from severed.engine.layers.base import Layer, SceneCut, register
from severed.engine.params import Param

POP_S = 0.004
HISS_MAX_S = 0.25
HISS_LENGTHS_S = (0.02, 0.05, 0.12, 0.25)
CUT_RAMP_S = 0.001
ENTER_WINDOW_S = 0.3


class _Cuts:
    """Cut windows in engine frames, written into the scene's cut curve block by block."""

    def __init__(self, ctx, ramp_s):
        # Named `gate` because probes (the soak test) read `cuts.gate.open`.
        self.gate = ctx.scene_cut
        self._own = self.gate is None  # a layer built outside a scene (a test): its own
        if self._own:
            self.gate = SceneCut(ctx.max_frames)
        self.windows = []  # [start frame, end frame] pairs, absolute
        self.ramp = max(1, int(ramp_s * ctx.sample_rate))
        self._idx = np.arange(ctx.max_frames, dtype=np.float32)
        self._tmp = np.zeros(ctx.max_frames, np.float32)
        self._rise = np.zeros(ctx.max_frames, np.float32)

    def add(self, start, length):
        self.windows.append((int(start), int(start + length)))

    def clear(self):
        self.windows.clear()

    def write(self, frame0, frames, _controls=None):
        """Shape the curve for the block of ``frames`` starting at layer frame ``frame0``."""
        if self._own:
            self.gate.reopen()
        if not self.windows:
            return
        end_block = frame0 + frames
        keep = []
        for start, stop in self.windows:
            if start - self.ramp >= end_block:
                keep.append((start, stop))
                continue
            if stop + self.ramp <= frame0:
                continue
            # Only the frames of the block the window touches, ramps included.
            a = max(0, start - self.ramp - frame0)
            b = min(frames, stop + self.ramp - frame0)
            # Gain: 1 outside, 0 inside, linear ramps of `ramp` frames on both edges
            # (falling before start, rising after stop).
            # Frame differences are taken in Python ints first: absolute frames pass
            # 1e9 after six hours, where float32 steps by 64 frames.
            g = self._tmp[a:b]
            np.add(self._idx[a:b], np.float32(frame0 - start), out=g)
            np.multiply(g, np.float32(-1.0 / self.ramp), out=g)  # (start - f) / ramp
            rise = self._rise[a:b]
            np.add(self._idx[a:b], np.float32(frame0 - stop), out=rise)
            rise *= np.float32(1.0 / self.ramp)
            np.maximum(g, rise, out=g)
            np.clip(g, 0.0, 1.0, out=g)
            self.gate.shape(g, a, b)
            if stop + self.ramp > end_block:
                keep.append((start, stop))
        self.windows = keep


@register
class Glitch(Layer):
    TYPE = "glitch"
    CUTS_SCENE = True
    ALWAYS_RUN = True  # its cuts silence the scene's other layers, whatever its own gain
    DOC = "chip malfunction: pops, hiss bursts and hard cuts of the scene to silence"
    PARAMS = (
        Param("rate_hz", 0.05, min=0.0, max=20.0,
              doc="events per second (Poisson); map it from tension"),
        Param("pop_share", 0.5, min=0.0, max=1.0, automatable=False,
              doc="share of events that are pops"),
        Param("hiss_share", 0.3, min=0.0, max=1.0, automatable=False,
              doc="share that are hiss bursts; the rest are cuts"),
        Param("cut_ms", [50.0, 300.0], kind=list, min=1.0, max=5000.0, automatable=False,
              doc="shortest and longest cut, milliseconds"),
        Param("on_enter", 0, min=0, max=8, kind=int, automatable=False,
              doc="events fired within 300 ms of entering the scene"),
        Param("pop_db", -6.0, min=-60.0, max=0.0, automatable=False,
              doc="peak of a pop before the layer gain, dBFS"),
        Param("hiss_db", -12.0, min=-60.0, max=0.0, automatable=False,
              doc="peak of a hiss burst before the layer gain, dBFS"),
    )

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        sr = ctx.sample_rate
        p = self.params
        self.rng = ctx.rng
        self.sr = sr
        self.cuts = _Cuts(ctx, CUT_RAMP_S)
        lo, hi = sorted(p["cut_ms"][:2]) if len(p["cut_ms"]) >= 2 else (50.0, 300.0)
        self.cut_frames = (int(lo * sr / 1000), int(hi * sr / 1000))
        n_pop = int(POP_S * sr)
        x = np.arange(n_pop) / n_pop
        # A pop: the speaker cone pushed and let go: a sharp rise, a decaying swing.
        self.pop = (10 ** (p["pop_db"] / 20) * np.sin(np.pi * x) ** 0.5
                    * np.cos(3 * np.pi * x) * (1 - x)).astype(np.float32)
        self.hiss_noise = ctx.rng.uniform(-1, 1, int(HISS_MAX_S * sr)).astype(np.float32)
        self.hiss_noise *= np.float32(10 ** (p["hiss_db"] / 20))
        self.hiss_envs = []
        for length in HISS_LENGTHS_S:
            n = int(length * sr)
            t = np.linspace(0, 1, n)
            self.hiss_envs.append((np.minimum(1.0, 20 * t) * (1 - t) ** 2).astype(np.float32))
        self.tail = max(n_pop, int(HISS_MAX_S * sr))
        self._buf = np.zeros((ctx.max_frames + self.tail,), np.float32)
        self._scratch = np.zeros(self.tail, np.float32)
        self.reset()

    def reset(self):
        self._buf[:] = 0.0
        self.pending = 0
        self._last = 0
        self.frame = 0
        self.cuts.clear()
        self._enter_left = 0

    def enter(self):
        self._enter_left = self.params["on_enter"]

    def _event(self, at, kind=None):
        p = self.params
        u = self.rng.random() if kind is None else kind
        if u < p["pop_share"]:
            n = len(self.pop)
            seg = self._buf[at:at + n]
            if self.rng.random() < 0.5:
                seg += self.pop
            else:
                seg -= self.pop
        elif u < p["pop_share"] + p["hiss_share"]:
            env = self.hiss_envs[int(self.rng.integers(len(self.hiss_envs)))]
            n = len(env)
            start = int(self.rng.integers(0, len(self.hiss_noise) - n + 1))
            tmp = self._scratch[:n]
            np.multiply(self.hiss_noise[start:start + n], env, out=tmp)
            self._buf[at:at + n] += tmp
        else:
            lo, hi = self.cut_frames
            self.cuts.add(self.frame + at, int(self.rng.integers(lo, max(lo, hi) + 1)))

    def process(self, out, frames, controls):
        buf = self._buf
        if self.pending:
            buf[:self.pending] = buf[self._last:self._last + self.pending]
        buf[self.pending:frames + self.tail] = 0.0
        rate = self.params["rate_hz"].value(controls)
        count = self.rng.poisson(rate * frames / self.sr) if rate > 0.0 else 0
        for _ in range(count):
            self._event(int(self.rng.integers(frames)))
        if self._enter_left:
            window = int(ENTER_WINDOW_S * self.sr)
            # Entry hiccups are pops and hiss, never cuts: a cut here would swallow
            # an arrival bell.
            audible = self.params["pop_share"] + self.params["hiss_share"]
            for _ in range(self._enter_left):
                self._event(int(self.rng.integers(min(frames, window))),
                            kind=self.rng.random() * audible if audible > 0 else None)
            self._enter_left = 0
        self.pending = self.tail
        self._last = frames
        self.cuts.write(self.frame, frames, controls)
        for ch in range(out.shape[1]):
            out[:frames, ch] += buf[:frames]
        self.frame += frames


@register
class Silence(Layer):
    TYPE = "silence"
    CUTS_SCENE = True
    ALWAYS_RUN = True  # makes no sound of its own: its work is the scene's cut curve
    DOC = "scheduled silences: the whole scene stops for a while, now and then"
    PARAMS = (
        Param("every_s", 45.0, min=1.0, max=3600.0, doc="seconds between silences"),
        Param("jitter", 0.3, min=0.0, max=1.0, automatable=False,
              doc="each interval moves by up to this share"),
        Param("silence_s", 3.0, min=0.05, max=600.0, doc="length of a silence"),
        Param("offset_s", 20.0, min=0.0, max=3600.0, automatable=False,
              doc="the first silence this long after the scene starts"),
        Param("ramp_ms", 60.0, min=1.0, max=5000.0, automatable=False,
              doc="fade into and out of each silence"),
    )

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.sr = ctx.sample_rate
        self.cuts = _Cuts(ctx, self.params["ramp_ms"] / 1000.0)
        self.reset()

    def reset(self):
        self.frame = 0
        self.cuts.clear()
        self.next_at = int(self.params["offset_s"] * self.sr)

    def process(self, out, frames, controls):
        p = self.params
        while self.next_at < self.frame + frames:
            length = int(p["silence_s"].value(controls) * self.sr)
            self.cuts.add(self.next_at + self.cuts.ramp, length)
            interval = p["every_s"].value(controls)
            interval *= 1.0 + p["jitter"] * self.ctx.rng.uniform(-1.0, 1.0)
            self.next_at += max(length + 2 * self.cuts.ramp, int(interval * self.sr))
        self.cuts.write(self.frame, frames, controls)
        self.frame += frames
