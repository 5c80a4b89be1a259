"""The ``cue`` layer: a precomputed sound played when its scene is entered (or an
overlay switched on), and on ``trigger()``: the elevator's ding, the barrier's
string swell.

The engine calls ``enter()`` at the frame of the scene change, and the render loop
splits blocks at events, so the cue starts on the first frame of the new scene: the
ding sounds on the sample of the debounced door event, at full level however long the
scene's crossfade in (a struck sound, ``Layer.STRUCK``).

    [scenes.descent.layers.ding]
    type = "cue"
    recipe = "elevator_bell"
    recipe_params = { freq_hz = 1046.5 }
    delay_s = 0

When the audio cannot be had (unknown recipe, cache failure) the layer is silent and
says why in ``fault``.
"""

import logging


from severed.engine.layers.base import Layer, register
from severed.engine.layers.voices import VoiceBank, fetch
from severed.engine.params import Param
from severed.errors import SeveredError

log = logging.getLogger("severed.engine.cue")


@register
class Cue(Layer):
    TYPE = "cue"
    DOC = "a precomputed sound played on scene entry and on trigger (an arrival bell)"
    STRUCK = True  # not faded in with its scene: a ding is at its peak at once
    PARAMS = (
        Param("recipe", "elevator_bell", kind=str, automatable=False),
        Param("recipe_params", {}, kind=dict, automatable=False),
        Param("on_enter", True, kind=bool, automatable=False,
              doc="play when the scene is entered"),
        Param("delay_s", 0.0, min=0.0, max=600.0, automatable=False,
              doc="seconds after entry (or trigger) before it sounds"),
        Param("rate", 1.0, min=0.25, max=4.0, automatable=False,
              doc="playback speed (2: an octave up)"),
        Param("pitch_cents", 0.0, min=0.0, max=1200.0, automatable=False,
              doc="each play is up to this much higher or lower (no two alike)"),
    )

    @classmethod
    def cache_items(cls, params):
        """The precompute cache entries this layer will ask for."""
        from severed.precompute.recipes import Recipe
        return [Recipe(params.get("recipe", "elevator_bell"),
                       dict(params.get("recipe_params", {}) or {}))]

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.fault = None
        self.rng = ctx.rng
        lowest = self.params["rate"] * 2.0 ** (-self.params["pitch_cents"] / 1200.0)
        self.bank = VoiceBank(ctx.channels, ctx.max_frames, sample_rate=ctx.sample_rate,
                              max_stretch=max(1.0, 1.0 / lowest))
        self.delay = int(self.params["delay_s"] * ctx.sample_rate)
        try:
            audio = fetch(ctx, self.params["recipe"], self.params["recipe_params"])
            self.bank.add_source(audio)
        except (SeveredError, OSError, ValueError) as exc:
            self.fault = str(exc)
            log.error("layer %s: %s; the layer stays silent", ctx.name, exc)

    def reset(self):
        self.bank.reset()

    def enter(self):
        if self.params["on_enter"]:
            self.trigger()

    def trigger(self, what="hit"):
        if self.fault is None:
            rate = self.params["rate"]
            cents = self.params["pitch_cents"]
            if cents:
                rate *= 2.0 ** (self.rng.uniform(-cents, cents) / 1200.0)
            self.bank.start(0, delay=self.delay, gain=1.0, rate=rate)

    def process(self, out, frames, controls):
        if self.bank.active:
            self.bank.render(out, frames)
