"""The ``rhythm`` layer: a step sequencer of found sounds (stapler, pen, keys, chatter).

Tracks are parallel lists: ``sounds`` (recipe names), ``patterns`` (one character per
step) and ``gains_db``. Pattern characters:

- ``x`` a hit, ``X`` an accent (+4 dB), ``o`` a ghost (-10 dB);
- ``1`` .. ``9``: a hit with that chance in tenths (``5``: half the time);
- ``.`` (or ``-``, ``_``, space) a rest.

Steps are ``1 / steps_per_beat`` of a beat at ``bpm``; a track loops its own pattern
length (tracks of different lengths drift against each other into polymeters).
``swing`` delays every second step by that share of a step. ``density`` scales every
chance (2 doubles them; a rest stays a rest), so tension can thicken the pattern;
``humanize_ms`` moves hits at random by up to that much, ``pitch_cents`` varies their
pitch, ``velocity_db`` their level (up to that much quieter). Each sound has ``takes``
renderings (different seeds: no two keys click quite alike) picked at random per hit.
Hits stay on the grid of the layer's own clock, which starts when the scene is
entered: the show's tempo is exact.

So that the rhythm breathes instead of repeating one bar for minutes, each bar (the
longest pattern's length) is drawn anew, and three chances, each automatable (map
them from ``tension``), shape it:

- ``fill``: chance that a track plays its ``fills`` pattern for the bar instead (an
  empty string: the track has no fill);
- ``dropout``: chance that a track sits the bar out;
- ``accent``: chance that a hit is accented (+6 dB).

    [scenes.innie.layers.desk]
    type = "rhythm"
    bpm = 96
    sounds   = ["stapler",          "pen_click",        "keyboard"]
    patterns = ["x.......x.....o.", "..x...x...x...5.", "o.x.o.x3o.x.o.x3"]
    gains_db = [0, -4, -8]
"""

import logging


from severed.engine.layers.base import Layer, register
from severed.engine.layers.voices import VoiceBank, fetch
from severed.engine.params import Param
from severed.errors import ConfigError, SeveredError

log = logging.getLogger("severed.engine.rhythm")

RESTS = ".-_ "
ACCENT = 10 ** (6 / 20)


def parse_pattern(text):
    """[(chance 0..1, gain)] per step of a pattern string; ValueError when unreadable."""
    steps = []
    for ch in text:
        if ch in RESTS:
            steps.append((0.0, 1.0))
        elif ch == "x":
            steps.append((1.0, 1.0))
        elif ch == "X":
            steps.append((1.0, 10 ** (4 / 20)))
        elif ch == "o":
            steps.append((1.0, 10 ** (-10 / 20)))
        elif ch in "123456789":
            steps.append((int(ch) / 10.0, 1.0))
        else:
            raise ValueError(f"unknown step {ch!r} (use x X o 1-9 or . for a rest)")
    return steps


@register
class Rhythm(Layer):
    TYPE = "rhythm"
    DOC = "step sequencer of found-sound one-shots: patterns, swing, chance per step"
    PARAMS = (
        Param("bpm", 96.0, min=10.0, max=400.0),
        Param("steps_per_beat", 4, min=1, max=16, kind=int, automatable=False),
        Param("sounds", ["stapler", "pen_click", "keyboard"], kind=list, automatable=False,
              doc="recipe name of each track"),
        Param("patterns", ["x.......x.......", "..x...x...x...x.", "o.o.o.o.o.o.o.o."],
              kind=list, automatable=False, doc="one pattern string per track"),
        Param("gains_db", [0.0, -4.0, -8.0], kind=list, min=-60.0, max=12.0,
              automatable=False, doc="level of each track"),
        Param("swing", 0.0, min=0.0, max=0.5, doc="delay of every second step, in steps"),
        Param("density", 1.0, min=0.0, max=4.0, doc="multiplies every step's chance"),
        Param("humanize_ms", 0.0, min=0.0, max=50.0, automatable=False),
        Param("pitch_cents", 0.0, min=0.0, max=1200.0, automatable=False,
              doc="random pitch variation of each hit"),
        Param("takes", 2, min=1, max=8, kind=int, automatable=False,
              doc="renderings of each sound (different seeds)"),
        Param("fills", [], kind=list, automatable=False,
              doc="a fill pattern per track (empty string: none)"),
        Param("fill", 0.0, min=0.0, max=1.0, doc="chance per bar a track plays its fill"),
        Param("dropout", 0.0, min=0.0, max=1.0, doc="chance per bar a track sits out"),
        Param("accent", 0.0, min=0.0, max=1.0, doc="chance a hit is accented (+6 dB)"),
        Param("velocity_db", 0.0, min=0.0, max=24.0, automatable=False,
              doc="each hit up to this much quieter, at random"),
    )

    @classmethod
    def cache_items(cls, params):
        """The precompute cache entries this layer will ask for."""
        from severed.precompute.recipes import RECIPES, Recipe
        import severed.instruments  # noqa: F401
        items = []
        for name in params.get("sounds", cls.param("sounds").default):
            seed0 = RECIPES[name].defaults.get("seed") if name in RECIPES else None
            for k in range(int(params.get("takes", 2))):
                items.append(Recipe(name, {} if seed0 is None or k == 0
                                    else {"seed": int(seed0) + 101 * k}))
        return items

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        p = self.params
        sounds, patterns, gains = p["sounds"], p["patterns"], p["gains_db"]
        if not (len(sounds) == len(patterns) == len(gains)):
            raise ConfigError(f"layer {ctx.name}: sounds, patterns and gains_db need one "
                              f"entry per track (got {len(sounds)}, {len(patterns)}, "
                              f"{len(gains)})")
        fills = p["fills"]
        if fills and len(fills) != len(sounds):
            raise ConfigError(f"layer {ctx.name}: fills needs one pattern per track (an "
                              f"empty string for none): got {len(fills)} for "
                              f"{len(sounds)} tracks")
        try:
            self.tracks = [parse_pattern(str(t)) for t in patterns]
            self.fills = [parse_pattern(str(t)) if str(t) else None for t in fills] \
                or [None] * len(self.tracks)
        except ValueError as exc:
            raise ConfigError(f"layer {ctx.name}: patterns or fills: {exc}") from None
        self.bar_steps = max(len(t) for t in self.tracks) if self.tracks else 16
        # This bar's pattern of each track (its own, its fill, or None: sitting out).
        self.bar = list(self.tracks)
        self.track_gain = [10 ** (g / 20) for g in gains]
        self.sr = ctx.sample_rate
        self.rng = ctx.rng
        self.fault = None
        self.bank = VoiceBank(ctx.channels, ctx.max_frames, sample_rate=ctx.sample_rate,
                              max_stretch=1.1)
        self.takes = []  # per track: list of source indices
        takes = p["takes"]
        try:
            items = self.cache_items({"sounds": sounds, "takes": takes})
            for i in range(len(sounds)):
                self.takes.append([self.bank.add_source(fetch(ctx, it.name, it.params))
                                   for it in items[i * takes:(i + 1) * takes]])
        except (SeveredError, OSError, ValueError, KeyError) as exc:
            self.fault = str(exc)
            log.error("layer %s: %s; the layer stays silent", ctx.name, exc)
        self.reset()

    def reset(self):
        self.bank.reset()
        self.step = 0  # index of the next step to schedule
        self.step_pos = 0.0  # absolute frame of that step (before swing)
        self.frame = 0

    def process(self, out, frames, controls):
        if self.fault is not None:
            return
        p = self.params
        step_len = 60.0 / p["bpm"].value(controls) / p["steps_per_beat"] * self.sr
        swing = p["swing"].value(controls)
        density = p["density"].value(controls)
        accent = p["accent"].value(controls)
        human = p["humanize_ms"] * self.sr / 1000.0
        cents = p["pitch_cents"]
        vel_db = p["velocity_db"]
        end = self.frame + frames
        while self.step_pos < end:
            if self.step % self.bar_steps == 0:
                self._new_bar(controls)
            # Schedule every track's hit of this step (swing may put it in a later
            # block, where the bank's delay holds it).
            at = self.step_pos + (swing * step_len if self.step % 2 else 0.0)
            for t, steps in enumerate(self.bar):
                if steps is None:
                    continue
                chance, gain = steps[self.step % len(steps)]
                if chance <= 0.0 or self.rng.random() >= min(1.0, chance * density):
                    continue
                if accent and self.rng.random() < accent:
                    gain *= ACCENT
                if vel_db:
                    gain *= 10.0 ** (-vel_db * self.rng.random() / 20.0)
                when = at + (self.rng.uniform(-human, human) if human else 0.0)
                rate = 2.0 ** (self.rng.uniform(-cents, cents) / 1200.0) if cents else 1.0
                takes = self.takes[t]
                src = takes[int(self.rng.integers(len(takes)))] if len(takes) > 1 else takes[0]
                self.bank.start(src, delay=max(0, int(when) - self.frame),
                                gain=gain * self.track_gain[t], rate=rate)
            self.step += 1
            self.step_pos += step_len
        self.frame = end
        if self.bank.active:
            self.bank.render(out, frames)

    def _new_bar(self, controls):
        """Draw this bar: each track plays its pattern, its fill, or sits out."""
        fill = self.params["fill"].value(controls)
        dropout = self.params["dropout"].value(controls)
        for t, steps in enumerate(self.tracks):
            if dropout and self.rng.random() < dropout:
                self.bar[t] = None
            elif fill and self.fills[t] is not None and self.rng.random() < fill:
                self.bar[t] = self.fills[t]
            else:
                self.bar[t] = steps
