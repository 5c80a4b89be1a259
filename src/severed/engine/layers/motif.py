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
- ``accent``: random level variation from note to note (0 none, 1 up to -12 dB).

Each distinct pitch is rendered once by ``recipe`` (any recipe with a ``freq_hz``
parameter: ``felt_note`` by default) through the precompute cache; transposition and
voicing replay them faster or slower. When the notes cannot be had the layer is
silent and says why in ``fault``.

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
        Param("recipe", "felt_note", kind=str, automatable=False,
              doc="recipe that renders one note; it must take freq_hz"),
        Param("recipe_params", {}, kind=dict, automatable=False,
              doc="further parameters of the recipe (freq_hz is set per note)"),
    )

    @classmethod
    def pitches(cls, params):
        """Semitones that get their own rendered note: the figure and a semitone above."""
        notes = [float(n) for n in params.get("notes", cls.param("notes").default)]
        return sorted(set(notes) | {n + 1.0 for n in notes})

    @classmethod
    def cache_items(cls, params):
        """The precompute cache entries this layer will ask for."""
        from severed.precompute.recipes import Recipe
        root = float(getattr(params.get("root_hz", 220.0), "v", params.get("root_hz", 220.0)))
        extra = dict(params.get("recipe_params", {}) or {})
        name = params.get("recipe", "felt_note")
        return [Recipe(name, {**extra, "freq_hz": round(root * 2.0 ** (s / 12.0), 4)})
                for s in cls.pitches(params)]

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
        self.source = {}  # semitone -> bank source index
        raw = {k: v for k, v in params.items()}
        raw["root_hz"] = p["root_hz"]
        try:
            for semis, item in zip(self.pitches(raw), self.cache_items(raw)):
                audio = fetch(ctx, item.name, item.params)
                self.source[semis] = self.bank.add_source(audio)
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

    def _phrase(self, start, controls):
        """Queue the notes of one phrase starting at absolute frame ``start``; return
        the frame where it ends."""
        p = self.params
        beat = 60.0 / p["bpm"].value(controls) * self.sr
        transpose = p["transpose"].value(controls)
        drop = p["drop"].value(controls)
        displace = p["displace"].value(controls)
        dissonance = p["dissonance"].value(controls)
        extra = VOICINGS[p["voicing"]]
        accent = p["accent"]
        rng = self.rng
        at = float(start)
        for semis, beats in zip(p["notes"], p["beats"]):
            here = at
            at += beats * beat
            if rng.random() < drop:
                continue
            if rng.random() < displace:
                here += rng.uniform(-0.5, 0.5) * beat
                here = max(float(start), here)
            gain = 10.0 ** (-12.0 * accent * rng.random() / 20.0)
            rate = 2.0 ** (transpose / 12.0)
            semis = float(semis)
            played = [(semis, gain)]
            if rng.random() < dissonance:
                if rng.random() < 0.5:
                    played = [(semis + 1.0, gain)]
                else:
                    played.append((semis + 1.0, 0.7 * gain))
            for s, g in played:
                self.queue.append((int(here), self.source[s], g, rate))
                if extra is not None:
                    self.queue.append((int(here), self.source[s], EXTRA_VOICE_GAIN * g,
                                       rate * 2.0 ** (extra / 12.0)))
        self.queue.sort(key=lambda e: e[0])
        return int(at)

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
