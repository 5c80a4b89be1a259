"""The engine: renders a show's audible scenes, block by block, through the master.

It knows nothing of sensors or time of day: the render loop feeds it actions from the
show machine (``apply``) and asks for blocks (``render``). Everything it needs is made
when it is built, so rendering allocates nothing large.

    engine = Engine(show, sample_rate=48000, max_frames=2048, seed=1)
    engine.start("outie")
    out = np.zeros((2048, 2), np.float32)
    engine.render(out, 2048)
"""

import os

import numpy as np

from severed.engine.master import Master
from severed.engine.params import Controls
from severed.engine.scene import SceneMix
from severed.engine.tone import TestTone
from severed.precompute.cache import Recorder
from severed.show import events as ev


class Engine:
    def __init__(self, show, *, sample_rate=48000, channels=2, max_frames=2048, seed=0,
                 mains_hz=50.0, trim_db=0.0, cache=None):
        self.show = show
        self.sample_rate = sample_rate
        self.channels = channels
        self.max_frames = max_frames
        self.frame = 0  # engine clock: frames rendered so far
        self.tension = 0.0
        self.mains_hz = mains_hz
        show_dir = os.path.dirname(os.path.abspath(show.path)) if show.path else None
        self.scenes = {}
        # The cache entries each scene was made from (its instruments, its stems), for
        # the key of its loudness calibration (severed.loudness.calibration).
        self.fetched = {}
        for name, spec in show.scenes.items():
            recorder = Recorder(cache, sample_rate) if cache is not None else None
            self.scenes[name] = SceneMix(spec, sample_rate=sample_rate, channels=channels,
                                         max_frames=max_frames, seed=seed, mains_hz=mains_hz,
                                         cache=recorder, show_dir=show_dir)
            self.fetched[name] = tuple(recorder.keys) if recorder is not None else None
        self.loudness_unmeasured = ()  # scenes whose target is not measured yet (loudness)
        self.current = None
        self._heard = []  # the scenes heard in the block being rendered
        # Stereo width of the whole output: 1 as rendered, 0 mono (a scene with
        # ``mono = true``). Ramped over the crossfade into or out of such a scene.
        self.width = 1.0
        self._width_to = 1.0
        self._width_step = 0.0  # per frame
        self._ramp = np.arange(1, max_frames + 1, dtype=np.float32)
        self._mid = np.zeros((max_frames, 1), np.float32)
        self._w = np.zeros((max_frames, 1), np.float32)
        self.master = Master(sample_rate, channels, max_frames, trim_db=trim_db)
        self.tone = TestTone(sample_rate, channels, max_frames)

    @property
    def t(self):
        return self.frame / self.sample_rate

    def start(self, scene, fade_s=2.0):
        """Begin with ``scene``, fading in from silence (the stream is already running)."""
        self.current = scene
        self.scenes[scene].enter(self.t, self.frame, fade_s, "equal_power")
        self.width = self._width_to = 0.0 if self.scenes[scene].spec.mono else 1.0

    def overlays(self):
        return [n for n, s in self.scenes.items() if s.spec.overlay and s.fade_to > 0.0]

    def apply(self, action):
        """Carry out one action from the show machine, from the current frame on."""
        if isinstance(action, ev.ChangeScene):
            if action.to == self.current:
                return
            came_from = self.current
            if came_from is not None:
                self.scenes[came_from].fade(0.0, action.crossfade_s, action.curve, self.frame)
            self.current = action.to
            self.scenes[action.to].enter(self.t, self.frame, action.crossfade_s, action.curve,
                                         came_from=came_from)
            self._narrow(0.0 if self.scenes[action.to].spec.mono else 1.0, action.crossfade_s)
        elif isinstance(action, ev.SetOverlay):
            scene = self.scenes[action.name]
            if action.on:
                scene.enter(self.t, self.frame, action.fade_s, "equal_power")
            else:
                scene.fade(0.0, action.fade_s, "equal_power", self.frame)
        elif isinstance(action, ev.SetVariable):
            if action.name == "tension":
                self.tension = float(action.value)
        elif isinstance(action, ev.SetVolume):
            self.master.update(action.ramp_s, volume_db=action.db)
        elif isinstance(action, ev.SetMute):
            self.master.update(action.ramp_s, muted=action.muted)
        elif isinstance(action, ev.Trigger):
            for name, scene in self.scenes.items():
                if scene.audible and action.scene in (None, name):
                    for slot in scene.slots:
                        if slot.spec.name == action.layer:
                            slot.layer.trigger(action.what)

    def _narrow(self, to, seconds):
        """Ramp the output's stereo width to ``to`` over ``seconds`` (at least 10 ms)."""
        self._width_to = to
        frames = max(1.0, max(seconds, 0.01) * self.sample_rate)
        self._width_step = (to - self.width) / frames

    def _apply_width(self, out, frames):
        """Pull the channels towards their mean by the width (1 leaves them alone)."""
        if self.width == self._width_to == 1.0 or self.channels < 2:
            return
        block = out[:frames]
        mid = self._mid[:frames]
        np.mean(block, axis=1, keepdims=True, out=mid)
        if self.width == self._width_to:
            if self.width == 0.0:
                block[:] = mid
                return
            block -= mid
            block *= self.width
            block += mid
            return
        w = self._w[:frames, 0]
        np.multiply(self._ramp[:frames], self._width_step, out=w)
        w += self.width
        lo, hi = sorted((self.width, self._width_to))
        np.clip(w, lo, hi, out=w)
        block -= mid
        block *= self._w[:frames]
        block += mid
        self.width = float(w[-1])
        if self.width == self._width_to or abs(self.width - self._width_to) < 1e-6:
            self.width = self._width_to

    def set_closed(self, closed, fade_s):
        """Opening hours: fade the whole show out (or back in); zeros keep flowing."""
        self.master.update(fade_s, closed=closed)

    def render(self, out, frames):
        """Write the next ``frames`` frames of the show into out[:frames]."""
        block = out[:frames]
        block.fill(0.0)
        controls = Controls(t=self.t, tension=self.tension)
        heard = self._heard
        heard.clear()
        for scene in self.scenes.values():
            if scene.audible:
                heard.append(scene)
        # One scene heard alone leaves its cut to the master (after the high-pass).
        alone = len(heard) == 1 and not self.tone.active
        cut = None
        for i, scene in enumerate(heard):  # the first renders in place (out is empty)
            cut = scene.render(out, frames, self.frame, controls, i == 0, alone)
        self.tone.render(out, frames)
        self.master.process(out, frames, cut)
        # After the master, whose filters and limiter keep state per channel: mono
        # from the end of the ramp on, never above the ceiling (a mean of two samples).
        self._apply_width(out, frames)
        self.frame += frames
