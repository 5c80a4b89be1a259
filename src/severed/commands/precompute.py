"""``severed precompute``: render every cache entry a show needs, before it plays.

Walks the show's ``sampler`` layers, collects their recipes and stems, and renders
each one missing or damaged from the cache (present, valid entries are skipped); then
builds every other layer once with the cache at hand, so whatever precomputed audio
those fetch when built (motif notes, found sounds) is rendered as well. Last, it
measures the loudness of each scene with a ``loudness_lufs`` that the cache does not
know yet (severed.loudness.calibration), so the daemon plays it at its target. Run
at install time and after editing a show, so the daemon never renders at start-up:

    severed precompute --config /etc/severed/severed.toml

Exit status 0 when every entry is in the cache, 1 when some failed (each named).
"""

import os
import sys
import time


def register(sub):
    p = sub.add_parser(
        "precompute", help="render the audio a show needs into the precompute cache",
        description="Render every recipe and convert every stem a show's sampler layers "
                    "use into the precompute cache, skipping entries already there.")
    p.add_argument("--show", help="show file or built-in name (default: the site's show)")
    p.add_argument("--config", metavar="SITE", help="site config (default: the dev site)")
    p.add_argument("--cache", metavar="DIR",
                   help="cache directory (default: $SEVERED_CACHE, else the site's cache_dir)")
    p.add_argument("--prune", action="store_true",
                   help="then delete cache entries this show does not use (old parameters, "
                        "other shows, other rates)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def show_items(show, work_dir=None):
    """[(layer key, item or None, problem)] for every sampler layer of ``show``, with
    relative stem paths resolved as the daemon resolves them (``resolve_stem_path``)."""
    from severed.engine.layers.sampler import Sampler, source_item

    base_dir = os.path.dirname(os.path.abspath(show.path)) if show.path else None
    found = []
    for scene in show.scenes.values():
        for layer in scene.layers:
            if layer.type != Sampler.TYPE:
                continue
            params = {p.name: layer.params.get(p.name, p.default) for p in Sampler.PARAMS}
            # Resolved as the daemon's sampler resolves it: next to the show file.
            item, problems = source_item(params, work_dir=work_dir, base_dir=base_dir)
            found.append((f"scenes.{scene.name}.layers.{layer.name}", item,
                          "; ".join(problems) or None))
    return found


class _Collector:
    """Stands in for the cache while other layer types are built: passes each request
    to the real cache and notes what was asked and how it went."""

    def __init__(self, cache, rate, on_request=None):
        self.cache = cache
        self.directory = cache.directory
        self.sample_rate = rate
        self.asked = []  # (item, audio or None, what or the exception)
        self._on_request = on_request

    def get_or_render(self, item, sample_rate=None, *, warn_missing=True):
        if self._on_request is not None:
            self._on_request(item.label)
        try:
            audio, what = self.cache.ensure(item, sample_rate or self.sample_rate)
        except Exception as exc:
            self.asked.append((item, None, exc))
            raise
        self.asked.append((item, audio, what))
        return audio

    def ensure(self, item, sample_rate=None, **kw):
        audio = self.get_or_render(item, sample_rate)
        return audio, self.asked[-1][2]


def other_layers(show, site, collector):
    """Build every layer that is not a sampler with ``collector`` as its cache, so
    whatever precomputed audio it fetches when built (motif notes, found sounds) is
    rendered too; yield (layer key, exception or None)."""
    import numpy as np

    from severed.engine.layers import LAYER_TYPES
    from severed.engine.layers.base import LayerContext
    from severed.engine.layers.sampler import Sampler

    for scene in show.scenes.values():
        for layer in scene.layers:
            if layer.type == Sampler.TYPE or layer.type not in LAYER_TYPES:
                continue
            ctx = LayerContext(name=f"{scene.name}.{layer.name}",
                               sample_rate=site.audio.sample_rate,
                               channels=site.audio.channels,
                               max_frames=site.audio.block_frames,
                               rng=np.random.default_rng(0), mains_hz=site.mains_hz,
                               cache=collector)
            where = f"scenes.{scene.name}.layers.{layer.name}"
            try:
                built = LAYER_TYPES[layer.type](ctx, layer.params)
            except Exception as exc:  # named and counted; the other layers go on
                yield where, exc
                continue
            fault = getattr(built, "fault", None)
            yield where, (RuntimeError(fault) if fault else None)


def run(args):
    from severed.commands.common import load_inputs
    from severed.precompute.cache import Cache, cache_dir, entry_key

    site, show, _ = load_inputs(args.config, args.show)
    directory = cache_dir(site, args.cache)
    # The site's stem budget holds here too: a stem over it is named, not converted.
    cache = Cache(directory, sample_rate=site.audio.sample_rate,
                  stem_budget_bytes=Cache.for_site(site).stem_budget_bytes)
    rate = site.audio.sample_rate
    cache.remove_stale_temp()
    started = time.monotonic()
    failed, jobs, seen = [], [], set()
    for where, item, problem in show_items(show, work_dir=directory):
        if item is None:
            failed.append(f"{where}: {problem}")
            continue
        try:
            key = entry_key(item, rate)
        except Exception as exc:  # a stem that cannot be read: named, counted, go on
            failed.append(f"{where}: {exc}")
            continue
        if key not in seen:
            seen.add(key)
            jobs.append((where, item))
    bar = _Progress(len(jobs)) if sys.stderr.isatty() and not args.quiet else None
    outcome = {}  # entry key -> (what, MB); an entry asked for twice counts once
    keep = []
    for i, (where, item) in enumerate(jobs):
        if bar is not None:
            bar.show(i, item.label)
        try:
            audio, what = cache.ensure(item, rate)
        except Exception as exc:  # report every entry, whatever went wrong with one
            failed.append(f"{where}: {item.label}: {exc}")
            continue
        _note(outcome, keep, failed, cache, rate, where, item, audio, what, directory)
    if bar is not None:
        bar.show(len(jobs), "other layers")
    collector = _Collector(cache, rate, (lambda label: bar.show(len(jobs), label))
                           if bar is not None else None)
    for where, problem in other_layers(show, site, collector):
        if problem is not None:
            failed.append(f"{where}: {problem}")
        for item, audio, what in collector.asked:
            if audio is not None:
                _note(outcome, keep, failed, cache, rate, where, item, audio, what,
                      directory)
        collector.asked.clear()
    measured = _calibrate(show, site, cache, failed, quiet=args.quiet,
                          bar=(lambda label: bar.show(len(jobs), label))
                          if bar is not None else None)
    if bar is not None:
        bar.done()
    if measured is not None:
        keep += measured
    for line in failed:
        print(f"severed: error: {line}", file=sys.stderr)
    if args.prune:
        if failed:
            print("severed: not pruning: some entries failed", file=sys.stderr)
        else:
            removed, freed = cache.prune(keep)
            print(f"{directory}: pruned {removed} file{'s' if removed != 1 else ''}, "
                  f"{freed / 1e6:.1f} MB freed")
    rendered = sum(1 for what, _ in outcome.values() if what == "rendered")
    present = sum(1 for what, _ in outcome.values() if what == "present")
    megabytes = sum(mb for _, mb in outcome.values())
    print(f"{directory}: {rendered} rendered, {present} present, {len(failed)} failed; "
          f"{megabytes:.1f} MB at {rate} Hz in {time.monotonic() - started:.1f} s")
    return 1 if failed else 0


def _calibrate(show, site, cache, failed, quiet=False, bar=None):
    """Measure the loudness of every scene with a target that the cache does not know
    yet (severed.loudness.calibration) and print the gains; return the paths of the
    show's loudness notes, or None when measuring failed (``failed`` says why).
    ``bar(label)``: the progress bar to name each scene on, instead of a line each."""
    from severed.loudness import calibration

    audio = site.audio
    settings = dict(sample_rate=audio.sample_rate, channels=audio.channels,
                    mains_hz=site.mains_hz)
    if bar is not None:
        say = lambda scene: bar(f"loudness of scene {scene}")  # noqa: E731
    elif quiet:
        say = lambda scene: None  # noqa: E731
    else:
        say = lambda scene: print(f"measuring the loudness of scene {scene}",  # noqa: E731
                                  file=sys.stderr)
    try:
        results = calibration.calibrate(show, cache, progress=say, **settings)
    except Exception as exc:  # named and counted, as for any entry
        failed.append(f"loudness calibration: {type(exc).__name__}: {exc}")
        return None
    if results:
        print("loudness: " + ", ".join(f"{r.scene} {r.gain_db:+.1f} dB" for r in results)
              + " (severed loudness: details)")
    return calibration.note_paths(cache, results)


def _note(outcome, keep, failed, cache, rate, where, item, audio, what, directory):
    from severed.precompute.cache import entry_key

    key = entry_key(item, rate)
    if key in outcome:
        return
    if what == "memory":
        failed.append(f"{where}: {item.label}: rendered but {directory} cannot be written")
    outcome[key] = (what, audio.nbytes / 1e6)
    keep.append(cache.paths(item, rate)[0])


class _Progress:
    """One line on stderr: entries done of total and the one being rendered."""

    WIDTH = 30

    def __init__(self, total):
        self.total = total

    def show(self, done, label):
        share = done / self.total if self.total else 1.0
        filled = int(share * self.WIDTH)
        sys.stderr.write(f"\r[{'#' * filled}{' ' * (self.WIDTH - filled)}] "
                         f"{done}/{self.total} {label[:40]:<40}")
        sys.stderr.flush()

    def done(self):
        sys.stderr.write("\n")
