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


from severed.engine.master import Master
from severed.engine.params import Controls
from severed.engine.scene import SceneMix
from severed.engine.tone import TestTone
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
        show_dir = os.path.dirname(os.path.abspath(show.path)) if show.path else None
        self.scenes = {
            name: SceneMix(spec, sample_rate=sample_rate, channels=channels,
                           max_frames=max_frames, seed=seed, mains_hz=mains_hz, cache=cache,
                           show_dir=show_dir)
            for name, spec in show.scenes.items()
        }
        self.current = None
        self._heard = []  # the scenes heard in the block being rendered
        self.master = Master(sample_rate, channels, max_frames, trim_db=trim_db)
        self.tone = TestTone(sample_rate, channels, max_frames)

    @property
    def t(self):
        return self.frame / self.sample_rate

    def start(self, scene, fade_s=2.0):
        """Begin with ``scene``, fading in from silence (the stream is already running)."""
        self.current = scene
        self.scenes[scene].enter(self.t, self.frame, fade_s, "equal_power")

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
        self.frame += frames
