"""``severed loudness [SHOW]``: each scene's target, measured loudness and applied gain.

Measures what the cache lacks (a representative render of each scene with a
``loudness_lufs``: see severed.loudness.calibration) and stores it, so the daemon
plays every scene at its target; then prints one line per scene::

    severed loudness --config /etc/severed/severed.toml
    severed loudness myshow.toml --verify      # render again at the gain, and measure

Exit status 0, or 1 when a scene cannot reach its target (silent, or further than
the largest gain allowed) or, with --verify, misses it by more than 1 LU.
"""

import math
import sys

TOLERANCE_LU = 1.0


def register(sub):
    p = sub.add_parser(
        "loudness", help="measure scenes' loudness and show the gains that meet their targets",
        description="Measure the loudness (ITU-R BS.1770) of each scene that has a "
                    "loudness_lufs target, keep it in the precompute cache, and print "
                    "each scene's target, measured loudness and the gain it plays with.")
    p.add_argument("show", nargs="?", help="show file or built-in name (default: the site's)")
    p.add_argument("--config", metavar="SITE", help="site config (default: the dev site)")
    p.add_argument("--cache", metavar="DIR",
                   help="cache directory (default: $SEVERED_CACHE, else the site's cache_dir)")
    p.add_argument("--remeasure", action="store_true",
                   help="measure every scene again, even those the cache knows")
    p.add_argument("--verify", action="store_true",
                   help="then render each scene at its gain (another seed) and measure it")
    p.set_defaults(func=run)


def run(args, out=None):
    from severed.commands.common import load_inputs
    from severed.loudness import calibration
    from severed.loudness.meter import integrated_loudness
    from severed.precompute.cache import Cache, cache_dir

    out = out or sys.stdout
    site, show, _ = load_inputs(args.config, args.show)
    audio = site.audio
    cache = Cache(cache_dir(site, args.cache), sample_rate=audio.sample_rate)
    settings = dict(sample_rate=audio.sample_rate, channels=audio.channels,
                    mains_hz=site.mains_hz)
    results = calibration.calibrate(
        show, cache, remeasure=args.remeasure, progress=lambda scene: print(
            f"severed: measuring scene {scene} ...", file=sys.stderr), **settings)
    print(f"{show.name}: integrated loudness (BS.1770) of each scene alone from its "
          f"entry, at tension {calibration.NOMINAL_TENSION:g}, "
          f"{len(calibration.SEEDS)} x {calibration.RENDER_S:g} s; cache {cache.directory}",
          file=out)
    header = f"{'scene':<16} {'target':>9} {'measured':>9} {'gain':>9}"
    print(header + (f" {'verified':>9}" if args.verify else ""), file=out)
    bad = 0
    for r in results:
        line = (f"{r.scene:<16} {r.target_lufs:>9.1f} {_lufs(r.measured_lufs):>9} "
                f"{r.gain_db:>+6.1f} dB")
        reachable = math.isfinite(r.measured_lufs) and \
            abs(r.target_lufs - r.measured_lufs - r.gain_db) < 0.05
        if args.verify:
            audio_out, _ = calibration.render_scene(show, r.scene, cache, seed=99,
                                                    gain_db=r.gain_db, **settings)
            heard = integrated_loudness(audio_out, site.audio.sample_rate)
            line += f" {_lufs(heard):>9}"
            if not (math.isfinite(heard) and abs(heard - r.target_lufs) <= TOLERANCE_LU):
                line += f"  off by more than {TOLERANCE_LU:g} LU"
                bad += 1
        if not reachable:
            line += ("  silent: no gain reaches the target" if not math.isfinite(
                r.measured_lufs) else f"  beyond the {calibration.MAX_GAIN_DB:g} dB allowed")
            bad += 1
        print(line, file=out)
    others = [name for name, spec in show.scenes.items() if spec.loudness_lufs is None]
    if others:
        print(f"no target (they play at their layers' gains): {', '.join(others)}", file=out)
    return 1 if bad else 0


def _lufs(value):
    return f"{value:.1f}" if math.isfinite(value) else "silent"
