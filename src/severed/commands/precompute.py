"""``severed precompute``: render every cache entry a show needs, before it plays.

Walks the show's ``sampler`` layers, collects their recipes and stems, and renders
each one missing or damaged from the cache (present, valid entries are skipped). Run
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
    relative stem paths resolved next to the show file first, then the current
    directory."""
    from severed.engine.layers.sampler import Sampler, source_item

    base_dir = os.path.dirname(os.path.abspath(show.path)) if show.path else None
    found = []
    for scene in show.scenes.values():
        for layer in scene.layers:
            if layer.type != Sampler.TYPE:
                continue
            params = {p.name: layer.params.get(p.name, p.default) for p in Sampler.PARAMS}
            item, problems = source_item(params, work_dir=work_dir, base_dir=base_dir)
            path = params.get("file") or ""
            if path and not os.path.isabs(os.path.expanduser(path)) and item is not None \
                    and item.path != os.path.abspath(path):
                print(f"severed: warning: {path} (scenes.{scene.name}.layers.{layer.name}) "
                      f"was found next to the show as {item.path}, but the daemon looks for "
                      "relative paths in its working directory: give the absolute path",
                      file=sys.stderr)
            found.append((f"scenes.{scene.name}.layers.{layer.name}", item,
                          "; ".join(problems) or None))
    return found


def run(args):
    from severed.commands.common import load_inputs
    from severed.precompute.cache import Cache, cache_dir, entry_key

    site, show, _ = load_inputs(args.config, args.show)
    directory = cache_dir(site, args.cache)
    cache = Cache(directory, sample_rate=site.audio.sample_rate)
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
    rendered = present = 0
    megabytes = 0.0
    for i, (where, item) in enumerate(jobs):
        if bar is not None:
            bar.show(i, item.label)
        try:
            audio, what = cache.ensure(item, rate)
        except Exception as exc:  # report every entry, whatever went wrong with one
            failed.append(f"{where}: {item.label}: {exc}")
            continue
        megabytes += audio.nbytes / 1e6
        if what == "present":
            present += 1
        elif what == "rendered":
            rendered += 1
        else:
            failed.append(f"{where}: {item.label}: rendered but {directory} cannot be "
                          "written")
    if bar is not None:
        bar.show(len(jobs), "")
        bar.done()
    for line in failed:
        print(f"severed: error: {line}", file=sys.stderr)
    if args.prune:
        if failed:
            print("severed: not pruning: some entries failed", file=sys.stderr)
        else:
            removed, freed = cache.prune(cache.paths(item, rate)[0] for _, item in jobs)
            print(f"{directory}: pruned {removed} file{'s' if removed != 1 else ''}, "
                  f"{freed / 1e6:.1f} MB freed")
    print(f"{directory}: {rendered} rendered, {present} present, {len(failed)} failed; "
          f"{megabytes:.1f} MB at {rate} Hz in {time.monotonic() - started:.1f} s")
    return 1 if failed else 0


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
