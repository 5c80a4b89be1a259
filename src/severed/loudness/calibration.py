"""Scene loudness calibration: the gain that makes each scene play at its
``loudness_lufs``, worked out offline and kept in the precompute cache.

A scene's representative render is the scene alone, from its entry, at tension
``NOMINAL_TENSION``, for ``RENDER_S`` seconds with each of the seeds ``SEEDS``, through
the master (high-pass and limiter) at unit gain; its loudness is the BS.1770 integrated
loudness of all of it, gated as one programme. The cache keeps that measurement (not
the gain), keyed by what the scene's sound is made of: its layers and reverb (not its
target), the cache entries its layers play (instruments' recipes with their code,
stems with their content), the engine's code, the sample rate, channels and mains
frequency. So moving a target needs no new measurement; editing a layer (or a new
version of severed) does.

Where it happens, never on the render thread:

* ``severed precompute`` and ``severed loudness`` measure every scene that has a target
  and no measurement, and store it;
* ``severed render`` does the same before it renders (offline, time is no object);
* the daemon (and every RenderLoop) reads the measurements when it builds its engine,
  on the thread that builds it; a scene with none plays at unit gain (its layers'
  gains), and one warning names those scenes and says to run ``severed precompute``.

    results = calibrate(show, cache, sample_rate=48000, mains_hz=50)   # offline
    missing = apply(engine, cache)     # the engine's scenes get their gains
"""

import dataclasses
import hashlib
import logging
import math
from pathlib import Path

import numpy as np

from severed.loudness.meter import block_powers, gated_loudness

log = logging.getLogger("severed.loudness")

NOMINAL_TENSION = 0.3  # a visitor who moves now and then
RENDER_S = 60.0
SEEDS = (1, 2)
BLOCK_FRAMES = 2048
MAX_GAIN_DB = 30.0  # a scene needing more than this is broken, not quiet
FORMAT = 1  # bump when the way of measuring changes: every scene is measured again
LABEL = "loudness"


@dataclasses.dataclass(frozen=True)
class SceneLoudness:
    """One scene's target, its loudness at unit gain, and the gain it plays with."""

    scene: str
    target_lufs: float | None
    measured_lufs: float | None  # None: not measured yet; -inf: silent
    key: str | None = None

    @property
    def gain_db(self):
        """The calibration gain: target minus measured, within +-MAX_GAIN_DB; 0 when
        there is no target or no (finite) measurement."""
        if self.target_lufs is None or self.measured_lufs is None \
                or not math.isfinite(self.measured_lufs):
            return 0.0
        return min(MAX_GAIN_DB, max(-MAX_GAIN_DB, self.target_lufs - self.measured_lufs))


def scene_key(spec, fetched, *, sample_rate, channels, mains_hz):
    """Hex key of what a scene's loudness depends on (see the module doc): its spec
    without its target, the cache keys of what its layers fetched when built
    (``fetched``), the engine's code, and the rendering settings."""
    h = hashlib.sha256()
    h.update(f"format {FORMAT} tension {NOMINAL_TENSION} render {RENDER_S} seeds "
             f"{SEEDS} block {BLOCK_FRAMES}\n".encode())
    h.update(f"{sample_rate} {channels} {mains_hz!r}\n".encode())
    h.update(repr(dataclasses.replace(spec, loudness_lufs=None)).encode())
    h.update(_engine_code())
    for key in sorted(fetched or ()):
        h.update(f"\n{key}".encode())
    return h.hexdigest()


_CODE = []


def _engine_code():
    """A digest of the engine's source (layers, DSP, kernels, mixing, master): a new
    version of severed measures again, as a change of a recipe's code renders again."""
    if not _CODE:
        root = Path(__file__).resolve().parent.parent / "engine"
        h = hashlib.sha256()
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".c", ".h")):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
        _CODE.append(h.digest())
    return _CODE[0]


def _note_label(scene):
    return f"{LABEL}-{scene}"


def engine_keys(engine):
    """{scene: key} for an engine's scenes that have a target (None when the engine
    was built without a cache, so nothing was recorded)."""
    keys = {}
    for name, mix in engine.scenes.items():
        if mix.spec.loudness_lufs is None:
            continue
        fetched = engine.fetched.get(name)
        keys[name] = None if fetched is None else scene_key(
            mix.spec, fetched, sample_rate=engine.sample_rate, channels=engine.channels,
            mains_hz=engine.mains_hz)
    return keys


def lookup(engine, cache):
    """[SceneLoudness] for the engine's scenes that have a target, from the cache's
    notes (measured_lufs None where there is none)."""
    out = []
    for name, key in engine_keys(engine).items():
        note = (cache.read_note(_note_label(name), key)
                if cache is not None and key is not None else None)
        measured = note.get("measured_lufs") if note else None
        if measured == "-inf":  # JSON has no infinity: a silent scene
            measured = -math.inf
        elif isinstance(measured, bool) or not isinstance(measured, (int, float)):
            measured = None  # none, or a note not written by this code: measure again
        out.append(SceneLoudness(name, engine.scenes[name].spec.loudness_lufs,
                                 measured, key))
    return out


def apply(engine, cache, warn=True):
    """Give each of the engine's scenes its calibration gain from the cache; return
    the names of scenes with a target and no measurement (they play at unit gain,
    and one warning names them unless ``warn`` is false)."""
    missing = []
    for result in lookup(engine, cache):
        engine.scenes[result.scene].set_loudness_gain_db(result.gain_db)
        if result.measured_lufs is None:
            missing.append(result.scene)
    engine.loudness_unmeasured = tuple(missing)
    if missing and warn:
        log.warning("loudness: no calibration for scene%s %s of show %s in the cache "
                    "(%s): %s at %s layers' gains, not at %s loudness_lufs; run "
                    "`severed precompute` to measure %s",
                    "s" if len(missing) > 1 else "", ", ".join(missing), engine.show.name,
                    getattr(cache, "directory", None) or "memory",
                    "they play" if len(missing) > 1 else "it plays",
                    "their" if len(missing) > 1 else "its",
                    "their" if len(missing) > 1 else "its",
                    "them" if len(missing) > 1 else "it")
    return missing


# ------------------------------------------------------------------ measuring

def render_scene(show, scene, cache, *, sample_rate=48000, channels=2, mains_hz=50.0,
                 seconds=RENDER_S, seed=SEEDS[0], tension=NOMINAL_TENSION,
                 block_frames=BLOCK_FRAMES, gain_db=0.0):
    """The scene alone from its entry at ``tension``: (audio (frames, channels), the
    engine that rendered it). ``gain_db``: its calibration gain (0: unit gain)."""
    from severed.engine.engine import Engine
    from severed.show.events import SetVariable

    alone = dataclasses.replace(show, scenes={scene: show.scenes[scene]},
                                initial_scene=scene, transitions=(), reactions=())
    engine = Engine(alone, sample_rate=sample_rate, channels=channels,
                    max_frames=block_frames, seed=seed, mains_hz=mains_hz, cache=cache)
    engine.scenes[scene].set_loudness_gain_db(gain_db)
    engine.start(scene, fade_s=0.0)
    engine.apply(SetVariable("tension", tension))
    frames = int(round(seconds * sample_rate))
    out = np.zeros((frames, channels), np.float32)
    for pos in range(0, frames, block_frames):
        engine.render(out[pos:], min(block_frames, frames - pos))
    return out, engine


def measure_scene(show, scene, cache, *, sample_rate=48000, channels=2, mains_hz=50.0):
    """(loudness at unit gain in LUFS, key) of a scene's representative render."""
    powers = []
    for seed in SEEDS:
        audio, engine = render_scene(show, scene, cache, sample_rate=sample_rate,
                                     channels=channels, mains_hz=mains_hz, seed=seed)
        powers.append(block_powers(audio, sample_rate))
    # The key is what the scene is made of, the same whatever the seed.
    return gated_loudness(np.concatenate(powers)), engine_keys(engine)[scene]


def calibrate(show, cache, *, sample_rate=48000, channels=2, mains_hz=50.0,
              remeasure=False, progress=None):
    """Measure every scene of ``show`` that has a target and no measurement in
    ``cache`` (all of them with ``remeasure``), store the measurements, and return a
    SceneLoudness for each scene with a target. ``progress(scene)`` is called before
    each measurement."""
    engine = _targets_engine(show, cache, sample_rate, channels, mains_hz)
    if engine is None:
        return []
    known = {r.scene: r for r in lookup(engine, cache)}  # a scene with a note: done
    del engine
    results = []
    for name in known:
        result = known[name]
        if result.measured_lufs is None or remeasure:
            if progress is not None:
                progress(name)
            measured, key = measure_scene(show, name, cache, sample_rate=sample_rate,
                                          channels=channels, mains_hz=mains_hz)
            cache.write_note(_note_label(name), key, {
                "scene": name, "measured_lufs": measured if math.isfinite(measured)
                else "-inf", "tension": NOMINAL_TENSION, "seconds": RENDER_S,
                "seeds": list(SEEDS)})
            result = SceneLoudness(name, show.scenes[name].loudness_lufs, measured, key)
        results.append(result)
    return results


def note_paths(cache, results):
    """The cache files of the calibration notes behind ``results`` (what ``calibrate``
    returned), for pruning the rest."""
    return [cache.note_path(_note_label(r.scene), r.key) for r in results if r.key]


def _targets_engine(show, cache, sample_rate, channels, mains_hz):
    """An engine of the show's scenes that have a target, built as the daemon builds
    them (cheap once the instruments are in the cache), for their keys; None if the
    show has no target."""
    from severed.engine.engine import Engine

    targets = {n: s for n, s in show.scenes.items() if s.loudness_lufs is not None}
    if not targets:
        return None
    alone = dataclasses.replace(show, scenes=targets, initial_scene=next(iter(targets)),
                                transitions=(), reactions=())
    return Engine(alone, sample_rate=sample_rate, channels=channels,
                  max_frames=BLOCK_FRAMES, mains_hz=mains_hz, cache=cache)
