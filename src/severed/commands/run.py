"""``severed run``: the daemon. Under systemd it is the service; on a laptop,
``--simulate`` puts its sensors on mock pins driven by a scenario or the keyboard."""

import os
import sys

DEFAULT_CONFIG = "/etc/severed/severed.toml"
SIMULATED_WAV = os.path.join("out", "simulated.wav")


def register(sub):
    p = sub.add_parser(
        "run", help="play the show live (the daemon)",
        description="Play the show in real time, following the site's sensors. With "
                    "--simulate, sensors are simulated: a scenario file drives them, or "
                    "the keyboard (d door, m motion, r reward, q quit) on a terminal.")
    p.add_argument("--config", metavar="SITE",
                   help=f"site config (default: {DEFAULT_CONFIG}; with --simulate and no "
                        "such file, the built-in dev site)")
    p.add_argument("--show", help="show file or built-in name (default: the site's show)")
    p.add_argument("--simulate", nargs="?", const=True, default=False, metavar="SCENARIO",
                   help="simulated sensors; a scenario file plays them and ends the run "
                        "after its duration")
    p.add_argument("--out", metavar="WAV", default=SIMULATED_WAV,
                   help="with --simulate: where to play when this machine has no sound "
                        f"card (default: {SIMULATED_WAV})")
    p.add_argument("--control", metavar="SOCKET",
                   help="control socket path (default: $SEVERED_CONTROL; under systemd "
                        "/run/severed/control.sock; started by hand, a private directory: "
                        "$XDG_RUNTIME_DIR/severed or /tmp/severed-UID)")
    p.add_argument("--state-dir", metavar="DIR", help="crash record directory")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args):
    from severed.commands.common import load_inputs
    from severed.service import socketpath
    from severed.service.daemon import Daemon
    from severed.service.journal import setup_logging
    from severed.service.record import RECORDINGS_DIR

    setup_logging()
    simulate = bool(args.simulate)
    scenario_path = args.simulate if isinstance(args.simulate, str) else None
    config = args.config
    if config is None and not (simulate and not os.path.exists(DEFAULT_CONFIG)):
        config = DEFAULT_CONFIG
    site, show, scenario = load_inputs(config, args.show, scenario_path)
    by_hand = not socketpath.under_systemd()
    control = args.control or socketpath.daemon_path()
    state_dir = args.state_dir
    log_path = None
    if by_hand:
        if control == socketpath.hand_started_path():
            # Before anything is written there: a directory someone else made first
            # must not receive our socket (nor our crash record).
            socketpath.make_private_directory(os.path.dirname(control))
        if simulate:
            # A laptop user cannot write /var/lib: keep the crash record with the socket.
            state_dir = state_dir or os.path.dirname(control)
        log_path = _log_to_file(os.path.join(os.path.dirname(control), socketpath.LOG_NAME))
    daemon = Daemon(site, show, config_path=config, simulate=simulate, scenario=scenario,
                    # Only a simulation may fall back to a file: a Pi without its DAC
                    # must wait for the card, not fill the SD card with a WAV.
                    fallback_wav=args.out if simulate else None, control_path=control,
                    state_dir=state_dir, seed=args.seed,
                    # The service has a recordings directory; by hand, a relative name
                    # is taken from the directory `severed record` runs in.
                    recordings_dir=None if by_hand else RECORDINGS_DIR, log_path=log_path)
    daemon.install_signal_handlers()
    if by_hand:
        # The terminal is all there is: say where the commands find it...
        found = ("severed status finds it" if control in socketpath.candidate_paths()
                 or control == os.environ.get("SEVERED_CONTROL")
                 else f"use severed status --socket {control}")
        print(f"severed: {'simulating sensors; ' if simulate else ''}control socket "
              f"{control} ({found})"
              + (f"; scenario {scenario_path} ({scenario.duration_s:g} s)" if scenario else ""),
              file=sys.stderr)
    code = daemon.run()
    if by_hand and daemon.loop is not None and daemon.sink is not None:
        # ... and, at the end, where the sound went.
        print(f"severed: {daemon.loop.t:.1f} s of sound went to {daemon.sink.description}",
              file=sys.stderr)
    return code


def _log_to_file(path, max_bytes=1024 * 1024):
    """Started by hand there is no journal: log into ``path`` as well (1 MiB, one old
    file kept), for ``severed logs``. Returns the path, or None if it cannot be opened."""
    import logging
    from logging.handlers import RotatingFileHandler

    from severed.service.journal import ConsoleFormatter

    try:
        handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=1)
    except OSError as exc:
        logging.getLogger("severed.daemon").warning("no log file %s: %s", path, exc.strerror)
        return None
    handler.setFormatter(ConsoleFormatter())
    logging.getLogger().addHandler(handler)
    return path
