"""``severed check FILE...``: validate site configs, shows and scenarios before use.

Each file's kind is told from its top-level tables (or given with ``--kind``). Every
problem is printed to stderr, one per line, as ``FILE:LINE: key: message``; a good file
gets ``FILE: ok (...)`` on stdout. The exit code is 1 if any file is bad, else 0.

A site config is checked together with the show it names, and that show against the
site's sensors. Scenarios are checked against the site config and show given with
``--site`` / ``--show`` or found among the files of the same run::

    severed check /etc/severed/severed.toml
    severed check myshow.toml visit.toml --site /etc/severed/severed.toml
"""

import sys

KINDS = ("show", "site", "scenario")


def register(subparsers):
    p = subparsers.add_parser(
        "check", help="validate site configs, shows and scenarios",
        description="Check site config, show and scenario files and report every "
                    "problem with its file, line and key. Exit code 1 if any is bad.")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="files to check (a show may also be a built-in show's name)")
    p.add_argument("--kind", choices=KINDS,
                   help="treat every FILE as this kind instead of telling from its tables")
    p.add_argument("--site", metavar="FILE",
                   help="site config to check shows' sensors and scenarios against")
    p.add_argument("--show", metavar="FILE_OR_NAME",
                   help="show to check scenarios' scene names against")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only problems, not the ok lines or warnings")
    p.set_defaults(func=run)
    return p


class _Run:
    """Loads files, remembers the site and show found, prints as it goes."""

    def __init__(self, quiet, out=sys.stdout, err=sys.stderr, traceback=False):
        self.quiet = quiet
        self.traceback = traceback
        self.out, self.err = out, err
        self.bad = False
        self.site = None
        self.show = None
        self.printed = set()

    def problems(self, lines):
        self._print(lines)
        if lines:
            self.bad = True

    def warnings(self, lines):
        if not self.quiet:
            self._print(lines)

    def _print(self, lines):
        # a show named by a site config and also given itself is read twice: say it once
        for line in lines:
            if line not in self.printed:
                self.printed.add(line)
                print(line, file=self.err)

    def ok(self, text):
        if not self.quiet:
            print(text, file=self.out)

    def load(self, loader, source, **kw):
        """Call a loader; return its result, or None after printing its problems."""
        from severed.errors import ConfigError

        warnings = []
        try:
            result = loader(source, warnings=warnings, **kw)
        except ConfigError as exc:
            self.warnings(warnings)
            self.problems(exc.problems)
            return None
        except Exception as exc:  # a bug must not hide the other files' results
            if self.traceback:
                raise
            self.crashed(source, exc)
            return None
        self.warnings(warnings)
        return result

    def crashed(self, source, exc):
        self.problems([f"{source}: cannot check: {type(exc).__name__}: {exc} "
                       "(run with --traceback for details)"])


def run(args, out=None, err=None):
    """Check every file of ``args.files``; return the exit code."""
    from severed.config import detect_kind, load_show, load_site
    from severed.config.show import resolve_show
    from severed.errors import ConfigError

    r = _Run(args.quiet, out or sys.stdout, err or sys.stderr,
             traceback=getattr(args, "traceback", False))
    if args.site:
        r.site = r.load(load_site, args.site)
    if args.show:
        r.show = r.load(load_show, args.show)

    kinds = []
    for path in args.files:
        kind = args.kind
        if kind is None:
            try:
                kind = detect_kind(resolve_show(path) if _is_builtin(path) else path)
            except ConfigError as exc:
                r.problems(exc.problems)
                continue
        kinds.append((path, kind))
    # sites and shows first, so that scenarios can be checked against them
    order = {"site": 0, "show": 1, "scenario": 2}
    for path, kind in sorted(kinds, key=lambda pk: order[pk[1]]):
        try:
            _check_one(r, path, kind)
        except Exception as exc:  # a bug must not hide the other files' results
            if r.traceback:
                raise
            r.crashed(path, exc)
    return 1 if r.bad else 0


def _check_one(r, path, kind):
    from severed.config import check_show_for_site, load_scenario, load_show, load_site
    from severed.config.model import SiteConfig
    from severed.config.schema import Report, read_text
    from severed.preflight import check_resources, check_stems

    if kind == "site":
        site = r.load(load_site, path)
        if site is None:
            return
        r.site = r.site or site
        show = r.load(load_show, site.show)
        if show is None:
            report = Report(path, read_text(path))
            report.error("site.show", f"the show {site.show!r} cannot be used (see above)")
            r.problems(report.errors)
            return
        r.show = r.show or show
        errors, warnings = check_show_for_site(show, site)
        errors += check_resources(site, show)  # the event log's directory, the stems
        r.warnings(warnings)
        r.problems(errors)
        if not errors:
            from severed.hardware import dacs

            board = {None: "", dacs.NO_DAC: ", no DAC HAT"}.get(
                site.audio.dac, f", DAC {dacs.default_table().board(site.audio.dac)}")
            r.ok(f"{path}: ok (site config {site.name!r}: show {show.name!r}, "
                 f"{len(site.sensors)} sensors, {site.audio.sample_rate} Hz, "
                 f"device {site.audio.device!r}{board})")
    elif kind == "show":
        show = r.load(load_show, path)
        if show is None:
            return
        r.show = r.show or show
        errors = []
        if r.site is not None:
            errors, warnings = check_show_for_site(show, r.site)
            r.warnings(warnings)
        # Stems are checked against the site's rate and budget (the defaults alone).
        errors += check_stems(r.site or SiteConfig(), show)
        r.problems(errors)
        if not errors:
            r.ok(f"{path}: ok (show {show.name!r}, {_show_summary(show)})")
    else:
        scenario = r.load(load_scenario, path, show=r.show, site=r.site)
        if scenario is not None:
            against = [w for w, v in (("site", r.site), ("show", r.show)) if v]
            r.ok(f"{path}: ok (scenario, {scenario.duration_s:g} s, "
                 f"{len(scenario.steps)} steps, seed {scenario.seed}"
                 + (f"; checked against the {' and '.join(against)}" if against else "")
                 + ")")


def _is_builtin(path):
    import os

    return not os.path.exists(path) and "/" not in path and not path.endswith(".toml")


def _show_summary(show):
    normal = [s for s in show.scenes.values() if not s.overlay]
    overlays = [s for s in show.scenes.values() if s.overlay]
    layers = sum(len(s.layers) for s in show.scenes.values())
    return (f"{len(normal)} scenes, {len(overlays)} overlays, {layers} layers, "
            f"{len(show.transitions)} transitions")
