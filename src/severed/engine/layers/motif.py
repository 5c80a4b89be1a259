"""The ``motif`` layer: the four descending notes, sequenced live from precomputed notes.

The figure is ``notes`` (semitones above ``root_hz``, in order; durations in beats in
``beats``), played as a phrase every ``every_s`` seconds (give or take ``jitter``;
phrases never overlap: a phrase starts at the earliest when the last one has ended).
How it is played moves with the show, each parameter automatable (map it from
``tension`` or ``scene_s``):

- ``bpm``: tempo of the phrase; ``transpose``: semitones (playback speed);
- ``drop``: chance that a note is left out (fragmentation);
- ``displace``: chance that a note moves off its beat by up to half a beat;
- ``dissonance``: chance that a note is played a semitone higher, or doubled a semitone
  above (a minor second, the chord that does not resolve);
- ``voicing`` adds a voice an octave below (``octave_down``), above (``octaves``) or a
  fifth above (``fifths``), quieter;
- ``accent``: random level variation from note to note (0 none, 1 up to -12 dB);
- ``humanize_ms``: each note moves off the grid by up to that much (a player, not a
  sequencer).

Each distinct pitch is rendered by ``recipe`` (any recipe with a ``freq_hz``
parameter: ``felt_note`` by default) through the precompute cache, ``takes`` times:
each take with its own ``seed`` and, with ``velocity_spread``, its own velocity (a
recipe that takes ``velocity``: the felt piano is brighter struck harder), so that no
two statements are alike; each note picks a take at random and is as much louder as
its take is harder. A semitone above each note is rendered only when ``dissonance``
can be above 0. Transposition and voicing replay the notes faster or slower. When
the notes cannot be had the layer is silent and says why in ``fault``.

    [scenes.outie.layers.motif]
    type = "motif"
    root_hz = 220
    notes = [7, 3, 2, -2]
    bpm = 52
    every_s = 30
    jitter = 0.3
    reverb_send = 0.9
"""

import logging


from severed.engine.layers.base import Layer, register
from severed.engine.layers.voices import VoiceBank, fetch
from severed.engine.params import Param
from severed.errors import ConfigError, SeveredError

log = logging.getLogger("severed.engine.motif")

VOICINGS = {"single": None, "octaves": 12.0, "octave_down": -12.0, "fifths": 7.0}
EXTRA_VOICE_GAIN = 0.45


@register
class Motif(Layer):
    TYPE = "motif"
    DOC = "the four-note motif: tempo, transposition, fragmentation, dissonance, voicing"
    PARAMS = (
        Param("notes", [7.0, 3.0, 2.0, -2.0], kind=list, min=-36.0, max=36.0,
              automatable=False, doc="semitones above root_hz, in playing order"),
        Param("beats", [1.0, 1.0, 1.0, 2.0], kind=list, min=0.05, max=32.0,
              automatable=False, doc="length of each note in beats"),
        Param("root_hz", 220.0, min=20.0, max=4000.0, automatable=False),
        Param("bpm", 56.0, min=10.0, max=400.0, doc="beats per minute"),
        Param("transpose", 0.0, min=-12.0, max=12.0, doc="semitones"),
        Param("every_s", 30.0, min=0.5, max=3600.0, doc="seconds between phrase starts"),
        Param("jitter", 0.0, min=0.0, max=1.0, automatable=False,
              doc="each interval moves by up to this share"),
        Param("offset_s", 2.0, min=0.0, max=3600.0, automatable=False,
              doc="first phrase this long after the scene starts"),
        Param("drop", 0.0, min=0.0, max=1.0, doc="chance a note is left out"),
        Param("displace", 0.0, min=0.0, max=1.0, doc="chance a note moves off its beat"),
        Param("dissonance", 0.0, min=0.0, max=1.0,
              doc="chance a note is raised or doubled a semitone up"),
        Param("voicing", "single", choices=tuple(VOICINGS), kind=str, automatable=False),
        Param("accent", 0.3, min=0.0, max=1.0, automatable=False),
        Param("humanize_ms", 0.0, min=0.0, max=100.0, automatable=False,
              doc="each note moves off the grid by up to this much"),
        Param("takes", 1, min=1, max=6, kind=int, automatable=False,
              doc="renderings of each note (seeds, velocities): statements differ"),
        Param("velocity_spread", 0.0, min=0.0, max=1.0, automatable=False,
              doc="velocities of the takes spread over +- this share of the recipe's"),
        Param("recipe", "felt_note", kind=str, automatable=False,
              doc="recipe that renders one note; it must take freq_hz"),
        Param("recipe_params", {}, kind=dict, automatable=False,
              doc="further parameters of the recipe (freq_hz is set per note)"),
    )

    @classmethod
    def pitches(cls, params):
        """Semitones that get their own rendered note: the figure, and a semitone
        above it when the layer can play dissonances."""
        notes = [float(n) for n in params.get("notes", cls.param("notes").default)]
        dissonance = params.get("dissonance", 0.0)
        if hasattr(dissonance, "bounds"):  # an Automation: the most it can reach
            dissonance = dissonance.bounds()[1]
        if isinstance(dissonance, (int, float)) and float(dissonance) == 0.0:
            return sorted(set(notes))
        return sorted(set(notes) | {n + 1.0 for n in notes})

    @classmethod
    def take_params(cls, params):
        """[(recipe parameters but freq_hz, relative velocity)] of each take."""
        from severed.precompute.recipes import RECIPES
        import severed.instruments  # noqa: F401  (registers)
        extra = dict(params.get("recipe_params", {}) or {})
        name = params.get("recipe", "felt_note")
        defaults = RECIPES[name].defaults if name in RECIPES else {}
        takes = int(getattr(params.get("takes", 1), "v", params.get("takes", 1)))
        spread = float(getattr(params.get("velocity_spread", 0.0), "v",
                               params.get("velocity_spread", 0.0)))
        if takes == 1:
            return [(extra, 1.0)]
        seed0 = int(extra.get("seed", defaults.get("seed", 1)))
        vel0 = extra.get("velocity", defaults.get("velocity"))
        out = []
        for k in range(takes):
            rel = 1.0 + spread * (2.0 * k / (takes - 1) - 1.0)
            p = {**extra, "seed": seed0 + 7 * k}
            if spread > 0.0 and vel0 is not None:
                p["velocity"] = round(min(1.0, float(vel0) * rel), 4)
            out.append((p, rel if spread > 0.0 and vel0 is not None else 1.0))
        return out

    @classmethod
    def cache_items(cls, params):
        """The precompute cache entries this layer will ask for (pitch by pitch, take
        by take)."""
        from severed.precompute.recipes import Recipe
        root = float(getattr(params.get("root_hz", 220.0), "v", params.get("root_hz", 220.0)))
        name = params.get("recipe", "felt_note")
        return [Recipe(name, {**p, "freq_hz": round(root * 2.0 ** (s / 12.0), 4)})
                for s in cls.pitches(params) for p, _ in cls.take_params(params)]

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        p = self.params
        if len(p["notes"]) != len(p["beats"]) or not p["notes"]:
            raise ConfigError(f"layer {ctx.name}: notes and beats must be lists of the same "
                              f"length (got {len(p['notes'])} and {len(p['beats'])})")
        self.sr = ctx.sample_rate
        self.rng = ctx.rng
        self.fault = None
        self.bank = VoiceBank(ctx.channels, ctx.max_frames, sample_rate=ctx.sample_rate,
                              max_stretch=2.0)
        self.source = {}  # semitone -> [(bank source index, gain of the take)]
        raw = {k: v for k, v in params.items()}
        raw["root_hz"] = p["root_hz"]
        takes = self.take_params(raw)
        # A harder take sounds louder too (about 6 dB from the softest to the hardest
        # of a 0.3 spread); the recipe normalises each take's peak.
        self.take_gain = [rel ** 1.2 for _, rel in takes]
        try:
            items = self.cache_items(raw)
            n = len(takes)
            for i, semis in enumerate(self.pitches(raw)):
                self.source[semis] = [
                    (self.bank.add_source(fetch(ctx, item.name, item.params)), g)
                    for item, g in zip(items[i * n:(i + 1) * n], self.take_gain)]
        except (SeveredError, OSError, ValueError) as exc:
            self.fault = str(exc)
            log.error("layer %s: %s; the layer stays silent", ctx.name, exc)
        self.queue = []  # (absolute frame, source, gain, rate), sorted by frame
        self.reset()

    def reset(self):
        self.bank.reset()
        self.queue = []
        self.frame = 0
        self.next_phrase = int(self.params["offset_s"] * self.sr)

    def trigger(self, what="hit"):
        """Play the phrase now (from the next block)."""
        self.next_phrase = self.frame

    def plan(self, controls):
        """One statement of the figure as it will be played now: [(offset in frames
        from the statement's start, semitones, gain, voice)] in order (voice 0 the
        figure, 1 a doubling a semitone up), and the statement's length in frames."""
        p = self.params
        beat = 60.0 / p["bpm"].value(controls) * self.sr
        drop = p["drop"].value(controls)
        displace = p["displace"].value(controls)
        dissonance = p["dissonance"].value(controls)
        accent = p["accent"]
        human = p["humanize_ms"] * self.sr / 1000.0
        rng = self.rng
        at = 0.0
        notes = []
        for semis, beats in zip(p["notes"], p["beats"]):
            here = at
            at += beats * beat
            if rng.random() < drop:
                continue
            if rng.random() < displace:
                here = max(0.0, here + rng.uniform(-0.5, 0.5) * beat)
            if human:
                here = max(0.0, here + rng.uniform(-human, human))
            gain = 10.0 ** (-12.0 * accent * rng.random() / 20.0)
            semis = float(semis)
            if rng.random() < dissonance:
                if rng.random() < 0.5:
                    notes.append((int(here), semis + 1.0, gain, 0))
                else:
                    notes.append((int(here), semis, gain, 0))
                    notes.append((int(here), semis + 1.0, 0.7 * gain, 1))
            else:
                notes.append((int(here), semis, gain, 0))
        return notes, int(at)

    def _phrase(self, start, controls):
        """Queue the notes of one statement starting at absolute frame ``start``;
        return the frame where it ends."""
        rate = 2.0 ** (self.params["transpose"].value(controls) / 12.0)
        extra = VOICINGS[self.params["voicing"]]
        notes, length = self.plan(controls)
        for offset, semis, gain, _ in notes:
            takes = self.source[semis]
            src, take_gain = takes[int(self.rng.integers(len(takes)))] if len(takes) > 1 \
                else takes[0]
            g = gain * take_gain
            self.queue.append((start + offset, src, g, rate))
            if extra is not None:
                self.queue.append((start + offset, src, EXTRA_VOICE_GAIN * g,
                                   rate * 2.0 ** (extra / 12.0)))
        self.queue.sort(key=lambda e: e[0])
        return start + length

    def process(self, out, frames, controls):
        if self.fault is not None:
            return
        end = self.frame + frames
        if self.next_phrase < end:
            phrase_end = self._phrase(self.next_phrase, controls)
            interval = self.params["every_s"].value(controls)
            jitter = self.params["jitter"]
            if jitter > 0.0:
                interval *= 1.0 + jitter * self.rng.uniform(-1.0, 1.0)
            self.next_phrase = max(phrase_end, self.next_phrase + int(interval * self.sr))
        while self.queue and self.queue[0][0] < end:
            at, src, gain, rate = self.queue.pop(0)
            self.bank.start(src, delay=max(0, at - self.frame), gain=gain, rate=rate)
        self.frame = end
        if self.bank.active:
            self.bank.render(out, frames)
