"""``severed render``: play a show offline, through the same loop as the daemon, into a
WAV file, with its event log and, on request, a picture."""

import sys
import time

from severed.commands.common import load_inputs


def register(sub):
    p = sub.add_parser(
        "render", help="render a show offline into a WAV file",
        description="Render a show offline through the same loop as the daemon. The same "
                    "show, site config, scenario and seed always give the same samples.")
    p.add_argument("--show", help="show file or built-in name (default: the site's show)")
    p.add_argument("--config", metavar="SITE", help="site config (default: the dev site with mock sensors)")
    p.add_argument("--scenario", metavar="FILE", help="scenario: timed sensor edges and commands")
    p.add_argument("--seconds", type=float, help="length (default: the scenario's duration)")
    p.add_argument("--out", required=True, metavar="OUT.wav")
    p.add_argument("--events", metavar="OUT.jsonl", help="write the event log here")
    p.add_argument("--plot", metavar="OUT.png", help="draw a spectrogram with the scene timeline")
    p.add_argument("--seed", type=int, help="random seed (default: the scenario's, else 0)")
    p.add_argument("--block", type=int, metavar="FRAMES",
                   help="block size (default: the site's block_frames, at least 2048)")
    p.add_argument("--format", choices=("int16", "float32"), default="int16",
                   help="WAV sample format (default: int16)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args):
    from severed.errors import SeveredError
    from severed.hardware.sinks import WavSink
    from severed.loop import EventLog, RenderLoop
    from severed.loudness.calibration import calibrate
    from severed.precompute.cache import Cache

    site, show, scenario = load_inputs(args.config, args.show, args.scenario)
    seconds = args.seconds if args.seconds is not None else (scenario.duration_s if scenario else None)
    if seconds is None or seconds <= 0:
        raise SeveredError("give --seconds N (or a scenario with a duration)")
    seed = args.seed if args.seed is not None else (scenario.seed if scenario else 0)
    if args.block is not None and not 16 <= args.block <= 65536:
        raise SeveredError(f"--block {args.block}: give a block size from 16 to 65536 frames")
    if args.events:
        # Offline nothing is to be kept playing: a file that cannot be written is an
        # error before the render, not a warning the event log gives and plays on.
        from severed.preflight import event_log_problem
        problem = event_log_problem(args.events)
        if problem:
            raise SeveredError(f"--events {args.events}: {problem}")
    event_log = EventLog(args.events, keep=None)
    audio = site.audio
    sink = WavSink(args.out, audio.sample_rate, audio.channels, sample_format=args.format)
    progress = _ProgressBar(seconds) if sys.stderr.isatty() and not args.quiet else None
    tap = None
    cache = Cache.for_site(site)
    # Offline there is time to measure what the cache lacks, so every scene plays at
    # its loudness_lufs (the daemon never measures: it warns instead).
    calibrate(show, cache, sample_rate=audio.sample_rate, channels=audio.channels,
              mains_hz=site.mains_hz, progress=lambda scene: print(
                  f"severed: measuring the loudness of scene {scene} (once: it is kept "
                  "in the cache)", file=sys.stderr))
    with sink:
        loop = RenderLoop(show, site, sink, seed=seed, scenario=scenario, event_log=event_log,
                          block_frames=args.block, cache=cache)
        if args.plot:
            from severed.plot import SpectrogramTap
            tap = SpectrogramTap(audio.sample_rate)
            loop.add_tap(tap)
        loop.run(seconds=seconds, progress=progress)
    event_log.close()
    if progress is not None:
        progress.done()
    if args.plot:
        from severed.plot import draw
        draw(args.plot, tap, event_log.recent, title=f"{show.name}: {seconds:g} s, seed {seed}")
    scenes = sum(1 for r in event_log.recent if r["type"] == "scene")
    print(f"{args.out}: {seconds:g} s of '{show.name}' at {audio.sample_rate} Hz, "
          f"{scenes} scene change{'s' if scenes != 1 else ''}", file=sys.stderr)
    return 0


class _ProgressBar:
    """A one-line progress bar on stderr, redrawn at most 5 times a second."""

    WIDTH = 30

    def __init__(self, seconds):
        self.seconds = seconds
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, frame, total):
        now = time.monotonic()
        if now - self.last < 0.2 and frame < total:
            return
        self.last = now
        share = frame / total if total else 1.0
        filled = int(share * self.WIDTH)
        speed = share * self.seconds / max(now - self.started, 1e-6)
        sys.stderr.write(f"\r[{'#' * filled}{' ' * (self.WIDTH - filled)}] {share:4.0%} "
                         f"{share * self.seconds:7.1f}/{self.seconds:g} s  {speed:5.1f}x real time")
        sys.stderr.flush()

    def done(self):
        sys.stderr.write("\n")
