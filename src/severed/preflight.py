"""What a site config and its show need from the machine, checked before they are used.

The loaders check what the files say; this checks what they point at, for ``severed
check`` and for a reload (which refuses, keeping the running show, when anything here
is wrong)::

    errors = check_resources(site, show)

- the event log's directory exists and can be written (the daemon would otherwise run
  without it, saying so once);
- every stem a sampler layer names (its path resolved as the daemon resolves it:
  relative to the show file's folder) exists and holds audio that can be decoded: a
  missing file, an empty one, a header without audio or random bytes are errors, not
  a silent layer;
- the stems fit the site's ``stem_budget_mb`` once converted (float32 at the site's
  rate, up to two channels: 23 MiB a minute of stereo at 48 kHz), so a 90-minute WAV
  is refused by name before anything converts it.

Each message starts with the file it is about and names the key.
"""

import os

from severed.config.schema import Report, read_text
from severed.errors import CacheError, ConfigError

MIB = 1024 * 1024


def check_resources(site, show):
    """Errors (strings, each naming its file and key) about the event log's directory
    and the show's stems; an empty list when everything is usable."""
    return _event_log_problems(site) + check_stems(site, show)


def event_log_problem(path):
    """Why an event log at ``path`` cannot be written, or None."""
    path = os.path.expanduser(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"{directory}: no such directory"
    if os.path.isdir(path):
        return f"{path} is a directory"
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            return f"{path} cannot be written (permission denied)"
    elif not os.access(directory, os.W_OK | os.X_OK):
        return f"{directory} cannot be written (permission denied)"
    return None


def _event_log_problems(site):
    if not site.event_log:
        return []
    problem = event_log_problem(site.event_log)
    if problem is None:
        return []
    report = _report(site.path)
    report.error("site.event_log", problem)
    return report.errors


def stems_of(show):
    """[(layer key, Stem)] for every sampler layer of ``show`` that names a file,
    resolved as the daemon resolves it."""
    from severed.engine.layers.sampler import Sampler, source_item

    base_dir = os.path.dirname(os.path.abspath(show.path)) if show.path else None
    found = []
    for scene in show.scenes.values():
        for layer in scene.layers:
            if layer.type != Sampler.TYPE or not layer.params.get("file"):
                continue
            params = {p.name: layer.params.get(p.name, p.default) for p in Sampler.PARAMS}
            item, _ = source_item(params, base_dir=base_dir)
            if item is not None:
                found.append((f"scenes.{scene.name}.layers.{layer.name}.file", item))
    return found


def check_stems(site, show):
    """Errors about the stems of ``show``: unusable files, and the budget of ``site``."""
    stems = stems_of(show)
    if not stems:
        return []
    report = _report(show.path or show.name)
    rate = site.audio.sample_rate
    sizes = {}  # path -> (layer key, bytes once converted)
    for key, stem in stems:
        if stem.path in sizes:
            continue
        try:
            sizes[stem.path] = (key, stem.converted_bytes(rate))
        except CacheError as exc:
            report.error(key, str(exc))
    total = sum(size for _, size in sizes.values())
    budget = site.stem_budget_mb * MIB
    if total > budget:
        where = f" in {site.path}" if site.path else ""
        path, (key, size) = max(sizes.items(), key=lambda item: item[1][1])
        report.error(key, f"{path}: {size / MIB:.0f} MiB once converted (float32 at "
                          f"{rate} Hz); the show's stems come to {total / MIB:.0f} MiB, over "
                          f"the stem budget of {site.stem_budget_mb:g} MiB ([site] "
                          f"stem_budget_mb{where})")
    return report.errors


def _report(path):
    text = None
    if path and os.path.isfile(str(path)):
        try:
            text = read_text(path)
        except ConfigError:
            text = None
    return Report(path, text)
