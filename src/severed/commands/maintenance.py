"""Maintenance commands: thin clients of the running daemon's control socket.

``severed status``, ``watch``, ``sensors``, ``trigger``, ``scene``, ``volume``,
``mute``, ``unmute``, ``test-tone``, ``record``, ``reload``, ``config`` talk to the
daemon (the service's, or one started by hand: ``--socket`` or ``SEVERED_CONTROL`` to
point elsewhere); ``logs`` runs journalctl (or shows a hand-started daemon's log file),
``doctor`` checks the installation and ``restart`` is the way back from a crash loop.
docs/maintenance.md shows each one.
"""

import argparse
import json
import os
import shutil
import sys
import time

from severed.service.record import RECORDINGS_DIR

DEFAULT_CONFIG = "/etc/severed/severed.toml"


def _client(args, timeout_s=5.0):
    from severed.service.control import ControlClient
    return ControlClient(args.socket, timeout_s=timeout_s)


def _ask(args, cmd, **fields):
    with _client(args) as client:
        return client.request(cmd, **fields)


def _add(sub, name, func, help_text, parents):
    parser = sub.add_parser(name, help=help_text, description=help_text, parents=parents)
    parser.set_defaults(func=func)
    return parser


def register(sub):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--socket", metavar="PATH", default=None,
                        help="the daemon's control socket (default: $SEVERED_CONTROL or "
                             "/run/severed/control.sock)")
    parents = [common]

    p = _add(sub, "status", cmd_status, "show what the daemon is playing", parents)
    p.add_argument("--json", action="store_true", help="print the raw status as JSON")
    p = _add(sub, "watch", cmd_watch, "live view of scene, tension, levels and sensors "
                                      "(Ctrl-C to leave)", parents)
    p.add_argument("--interval", type=float, default=0.5, metavar="S",
                   help="refresh every S seconds (default 0.5)")
    p.add_argument("--count", type=int, default=None, help=argparse.SUPPRESS)
    _add(sub, "sensors", cmd_sensors, "list sensors, their pins and live states", parents)
    p = _add(sub, "trigger", cmd_trigger, "inject a sensor event as if it happened",
             parents)
    p.add_argument("event", help="a sensor event, e.g. door.closed or reward.press")
    p = _add(sub, "scene", cmd_scene, "cross-fade to a scene now", parents)
    p.add_argument("name")
    p = _add(sub, "volume", cmd_volume, "set the master volume in dB (0 is the show's "
                                        "level)", parents)
    p.add_argument("db", type=float, metavar="DB")
    _add(sub, "mute", cmd_simple, "fade the sound out (the stream keeps running)",
         parents).set_defaults(cmd="mute")
    _add(sub, "unmute", cmd_simple, "fade the sound back in", parents).set_defaults(
        cmd="unmute")
    p = _add(sub, "test-tone", cmd_test_tone, "play a sine on one or both speakers",
             parents)
    p.add_argument("channel", nargs="?", default="both", choices=("left", "right", "both"))
    p.add_argument("--freq", type=float, default=440.0, metavar="HZ",
                   help="frequency in Hz (default 440)")
    p.add_argument("--seconds", type=float, default=3.0, metavar="S",
                   help="duration (default 3)")
    p = _add(sub, "record", cmd_record, "record what the daemon plays into a WAV file",
             parents)
    p.add_argument("seconds", type=float)
    p.add_argument("file", help=f"the WAV to write, by the daemon; for the service a bare "
                                f"name goes to {RECORDINGS_DIR}, for a daemon started by "
                                f"hand a relative name is taken from here")
    _add(sub, "reload", cmd_reload, "re-read the config and show; keep playing the old "
                                    "ones if they are invalid", parents)
    _add(sub, "config", cmd_config, "print the daemon's effective config as JSON", parents)
    _add(sub, "restart", cmd_restart, "start the service afresh, whatever state it is in: "
                                      "out of safe mode, past systemd's start limit "
                                      "(as root)", parents)
    p = _add(sub, "logs", cmd_logs, "show the daemon's journal through journalctl "
                                    "(anything after -- goes to journalctl as is), or "
                                    "the log file of a daemon started by hand", parents)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    p.add_argument("-n", "--lines", type=int, default=200, help="entries to show (200)")
    p.add_argument("-p", "--priority", metavar="LEVEL",
                   help="only this level and worse: err, warning, info")
    p.add_argument("-b", "--boot", action="store_true", help="only since the last boot")
    p.add_argument("--since", metavar="WHEN", help="e.g. '1 hour ago', 'today', '09:00'")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="-- and journalctl arguments "
                                                           "(e.g. -- SENSOR=door)")
    p = _add(sub, "doctor", cmd_doctor, "check the installation and say how to fix it",
             parents)
    p.add_argument("--config", default=None,
                   help="site config to check (default: the one the running daemon uses, "
                        f"else {DEFAULT_CONFIG})")
    p.add_argument("--json", action="store_true")


# ---------------------------------------------------------------- formatting


def _duration(seconds):
    seconds = int(seconds or 0)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s"


def _db(value, unit="dB"):
    return "-inf" if value is None else f"{value:+.1f} {unit}" if unit == "dB" \
        else f"{value:.1f} {unit}"


def _meter(dbfs, width=30, floor_db=-60.0):
    if dbfs is None or dbfs <= floor_db:
        return "." * width
    filled = int(round(width * (dbfs - floor_db) / -floor_db))
    return "#" * min(width, filled) + "." * max(0, width - filled)


def format_status(status):
    """The human form of ``status`` (lines, no trailing newline)."""
    overlays = [o for o in status.get("overlays") or () if o]
    scene = str(status.get("scene")) + (f" (+{'+'.join(overlays)})" if overlays else "")
    volume = _db(status.get("volume_db")) + ("  MUTED" if status.get("muted") else "")
    sensors = status.get("sensors") or {}
    lines = [
        f"severed running (pid {status.get('pid')}, up {_duration(status.get('uptime_s'))})"
        f", site {status.get('site')}, show {status.get('show')}"
        + ("  SAFE MODE" if status.get("safe_mode") else ""),
        f"scene      {scene}",
        f"tension    {status.get('tension', 0):.2f}",
        f"volume     {volume}",
        f"level      peak {_db(status.get('peak_dbfs'), 'dBFS')}, "
        f"rms {_db(status.get('rms_dbfs'), 'dBFS')}, "
        f"short-term {_db(status.get('short_term_lufs'), 'LUFS')}",
        f"underruns  {status.get('underruns', 0)}",
        "sensors    " + (", ".join(f"{k} {v}" for k, v in sensors.items()) or "none"),
        f"rendered   {status.get('blocks_rendered', 0)} blocks, "
        f"{status.get('engine_s', 0):.1f} s",
    ]
    if status.get("pin_factory"):
        lines.append(f"gpio       {status['pin_factory']}")
    if status.get("recording", {}).get("state") == "recording":
        lines.append(f"recording  into {status['recording']['path']}")
    if status.get("fleet"):
        from severed.fleet.report import status_lines
        lines += status_lines(status["fleet"])
    return "\n".join(lines)


def format_watch(status):
    """One screen: the status plus level meters."""
    peak, rms = status.get("peak_dbfs"), status.get("rms_dbfs")
    return "\n".join([
        format_status(status), "",
        f"peak [{_meter(peak)}] {_db(peak, 'dBFS')}",
        f"rms  [{_meter(rms)}] {_db(rms, 'dBFS')}",
        "", "Ctrl-C to leave",
    ])


# ---------------------------------------------------------------- commands


def cmd_status(args):
    status = _ask(args, "status")["status"]
    print(json.dumps(status, indent=2, sort_keys=True) if args.json else format_status(status))
    return 0


def cmd_watch(args):
    from severed.errors import ControlError

    clear = "\x1b[H\x1b[2J" if sys.stdout.isatty() else ""
    shown = 0
    with _client(args, timeout_s=2.0) as client:
        try:
            while args.count is None or shown < args.count:
                try:
                    screen = format_watch(client.request("status")["status"])
                except ControlError as exc:
                    screen = f"severed: {exc}\n(retrying; Ctrl-C to leave)"
                print(clear + screen, flush=True)
                shown += 1
                if args.count is None or shown < args.count:
                    time.sleep(args.interval)
        except KeyboardInterrupt:
            print()
    return 0


def cmd_sensors(args):
    rows = _ask(args, "sensors")["sensors"]
    if not rows:
        print("no sensors configured")
        return 0
    print(f"{'name':<12} {'kind':<7} {'pin':>4}  state")
    for row in rows:
        pin = "" if row.get("pin") is None else f"{row['pin']}"
        state = row.get("state") or "-"
        required = "  (required)" if row.get("required") else ""
        print(f"{row['name']:<12} {row.get('kind') or '-':<7} {pin:>4}  {state}{required}")
    return 0


def _posted(reply, text):
    print(text)
    return 0


def cmd_trigger(args):
    reply = _ask(args, "trigger", event=args.event)
    if reply.get("unmoved"):
        # The event happened, but a technician testing the show wants to know why the
        # scene stays where it is.
        return _posted(reply, f"triggered {args.event}; no scene change: {reply['unmoved']}")
    return _posted(reply, f"triggered {args.event}")


def cmd_scene(args):
    reply = _ask(args, "scene", name=args.name)
    if reply.get("unmoved"):
        return _posted(reply, f"no scene change: {reply['unmoved']}")
    return _posted(reply, f"cross-fading to {args.name}")


def cmd_volume(args):
    return _posted(_ask(args, "volume", db=args.db), f"volume {args.db:+.1f} dB")


def cmd_simple(args):
    return _posted(_ask(args, args.cmd), f"{args.cmd}d")


def cmd_test_tone(args):
    _ask(args, "test_tone", channel=args.channel, freq_hz=args.freq, seconds=args.seconds)
    print(f"test tone {args.freq:g} Hz on {args.channel} for {args.seconds:g} s")
    return 0


def cmd_record(args):
    # Relative names are resolved by the daemon: the service puts a bare name in its
    # recordings directory, a daemon started by hand takes it from our directory.
    path = args.file
    with _client(args) as client:
        reply = client.request("record", seconds=args.seconds, path=path, cwd=os.getcwd())
        path = reply["recording"]["path"]
        print(f"recording {args.seconds:g} s into {path} ...", flush=True)
        # The daemon ends a take that stops making progress; poll until it says so.
        while True:
            time.sleep(min(0.5, args.seconds / 4))
            info = client.request("record_status")["recording"]
            if info["state"] != "recording":
                break
    if info["state"] != "done":
        print(f"severed: error: recording failed: {info.get('error', info['state'])}",
              file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def cmd_reload(args):
    from severed.errors import ControlError

    try:
        reply = _ask(args, "reload")
    except ControlError as exc:
        problems = (getattr(exc, "reply", None) or {}).get("problems") or []
        print(f"severed: error: {exc}", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"reloaded: show {reply.get('show')}")
    if reply.get("sensors_kept"):
        print(f"warning: {reply['sensors_kept']}")
    if reply.get("restart_needed"):
        print(f"changed {', '.join(reply['restart_needed'])}: these take effect after "
              f"sudo systemctl restart severed")
    return 0


UNIT = "severed.service"


def cmd_restart(args, run=None, state_dir=None):
    """The way back that always works: forget the crash record (the technician says the
    cause is fixed), reset systemd's start limit, restart, and say what now plays."""
    import subprocess

    from severed.errors import ControlError, SeveredError
    from severed.service.safemode import DEFAULT_STATE_DIR, CrashCounter

    run = run or subprocess.run
    if os.geteuid() != 0:
        raise SeveredError("restarting the service needs root: sudo severed restart")
    if shutil.which("systemctl") is None:
        raise SeveredError("systemctl not found: severed restart is for the installed "
                           "service; stop a daemon started by hand with Ctrl-C or q")
    CrashCounter(state_dir or DEFAULT_STATE_DIR).clear()
    # After a crash loop systemd refuses even a manual start ("start of the service
    # was attempted too often") until its start counter is reset.
    run(["systemctl", "reset-failed", UNIT], check=False)
    done = run(["systemctl", "restart", UNIT], check=False)
    if done.returncode != 0:
        raise SeveredError(f"systemctl restart {UNIT} failed (exit {done.returncode}): "
                           f"severed logs -p err says why; systemctl status severed")
    status = None
    for _ in range(20):
        try:
            status = _ask(args, "status")["status"]
            break
        except ControlError:
            time.sleep(0.5)
    if status is None:
        print("severed restarted, but does not answer yet: severed status in a moment")
        return 0
    print(f"severed restarted: show {status.get('show')}, scene {status.get('scene')}"
          + ("  SAFE MODE (it crashed again: severed logs -p err)"
             if status.get("safe_mode") else ""))
    return 0


def cmd_config(args):
    reply = _ask(args, "config")
    print(json.dumps({"site": reply["config"], "show": reply["show"]}, indent=2))
    return 0


def journalctl_argv(args, interactive):
    """The journalctl command line for ``severed logs``."""
    # The daemon logs to its own journal namespace (the unit's LogNamespace=severed);
    # "+" interleaves systemd's lines about the unit from the system journal.
    argv = ["journalctl", "--namespace=+severed", "--unit", "severed.service", "--no-hostname",
            "--output", "short-iso", "--lines", str(args.lines)]
    if args.follow:
        argv.append("--follow")
    elif interactive:
        argv.append("--pager-end")  # open at the newest entries
    else:
        argv.append("--no-pager")
    if args.priority:
        argv += ["--priority", args.priority]
    if args.boot:
        argv.append("--boot")
    if args.since:
        argv += ["--since", args.since]
    return argv + [a for a in args.extra if a != "--"]


UNIT_FILE = "/etc/systemd/system/severed.service"  # where install.sh puts the unit


def cmd_logs(args, execvp=os.execvp):
    """Replace this process with journalctl (so paging and -f behave as usual), or with
    tail on the log file of a daemon started by hand (it has no journal)."""
    from severed.errors import ControlError, SeveredError
    from severed.service import socketpath

    try:
        with _client(args, timeout_s=2.0) as client:
            status = client.request("status")["status"]
    except ControlError:
        status = None
    last_hand_log = os.path.join(socketpath.hand_started_dir(), socketpath.LOG_NAME)
    log_file = (status or {}).get("log_path")
    if log_file is None and status is None and os.path.exists(last_hand_log) \
            and not os.path.exists(UNIT_FILE):
        print("severed is not running; the log of the last one started by hand:",
              file=sys.stderr)
        log_file = last_hand_log
    if log_file is None and shutil.which("journalctl") is not None:
        execvp("journalctl", journalctl_argv(args, sys.stdout.isatty()))
        return 0  # only reached when execvp is replaced (tests)
    if log_file is None and os.path.exists(last_hand_log):
        log_file = last_hand_log
    if log_file is None:
        raise SeveredError(f"journalctl not found, and no daemon started by hand has "
                           f"logged here: the service logs to the systemd journal (run "
                           f"this on the installation); a daemon started by hand logs to "
                           f"its terminal and to {last_hand_log}")
    if args.priority or args.boot or args.since or [a for a in args.extra if a != "--"]:
        print("severed: -p, -b, --since and journalctl arguments filter the journal only; "
              f"this is the whole log file {log_file}", file=sys.stderr)
    execvp("tail", ["tail", "-n", str(args.lines)] + (["-F"] if args.follow else [])
           + [log_file])
    return 0


MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def cmd_doctor(args):
    from severed.errors import ControlError
    from severed.service.control import ControlClient
    from severed.service.doctor import Context, run_checks

    try:
        with ControlClient(args.socket, timeout_s=2.0) as client:
            running = client.request("status")["status"]
    except ControlError as exc:
        running, down = None, exc

    def daemon_status():
        if running is None:
            raise down
        return running

    # The config that matters is the one playing: a daemon started by hand on the dev
    # site has nothing to do with /etc/severed/severed.toml.
    config = args.config or (running or {}).get("config_path") or DEFAULT_CONFIG
    if not args.json and args.config is None and running is not None:
        print(f"checking {config}, the config of the running daemon (pid "
              f"{running.get('pid')})\n")
    results = run_checks(Context(config_path=config, status=daemon_status))
    if args.json:
        print(json.dumps([{"check": name, **r._asdict()} for name, r in results], indent=2))
    else:
        for name, result in results:
            print(f"[{MARKS[result.status]}] {name:<15} {result.message}")
            if result.fix and result.status in ("warn", "fail"):
                print(f"       {'':<15} fix: {result.fix}")
    failed = sum(1 for _, r in results if r.status == "fail")
    warned = sum(1 for _, r in results if r.status == "warn")
    if not args.json:
        print(f"\n{failed} failed, {warned} warnings, {len(results)} checks")
    return 1 if failed else 0
