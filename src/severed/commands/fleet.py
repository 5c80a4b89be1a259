"""``severed fleet``: every booth the broker knows, online or not, with its scene,
group, faults and underruns (docs/fleet.md). It reads the broker from this booth's
``[fleet]`` and logs in as a technician."""

import os
import sys

DEFAULT_CONFIG = "/etc/severed/severed.toml"


def register(sub):
    p = sub.add_parser("fleet", help="list the booths on the MQTT broker",
                       description="List every booth the [fleet] broker knows, online or "
                                   "not, with scene, group, faults and underruns.")
    p.add_argument("--config", metavar="SITE", default=DEFAULT_CONFIG,
                   help=f"site config whose [fleet] names the broker (default {DEFAULT_CONFIG})")
    p.add_argument("--host", help="the broker (default: from the config)")
    p.add_argument("--port", type=int, help="its port (default: from the config)")
    p.add_argument("--user", default="technician",
                   help="login with the ACL's technician rights (default technician)")
    p.add_argument("--password-file", metavar="FILE",
                   help="file holding that login's password (default: ask for it; "
                        "$SEVERED_MQTT_PASSWORD is used when set)")
    p.add_argument("--wait", type=float, default=2.0, metavar="S",
                   help="how long to wait for the broker (default 2)")
    p.add_argument("--json", action="store_true", help="print the booths as JSON")
    p.set_defaults(func=run)


def run(args):
    import dataclasses
    import json
    import time

    from severed.errors import SeveredError
    from severed.fleet.roster import collect, format_table
    from severed.fleet.settings import FleetConfig

    cfg = FleetConfig()
    if os.path.exists(args.config):
        from severed.config import load_site

        site = load_site(args.config)
        if site.fleet is None and not args.host:
            raise SeveredError(f"{args.config} has no [fleet] section: give --host")
        cfg = site.fleet or cfg
    elif not args.host:
        raise SeveredError(f"cannot read {args.config}: give --config or --host")
    if args.host:
        cfg = dataclasses.replace(cfg, host=args.host)
    if args.port:
        cfg = dataclasses.replace(cfg, port=args.port)
    booths = collect(cfg, args.user, _password(args), wait_s=args.wait)
    if args.json:
        print(json.dumps({site: {"status": b.status, "state": b.state}
                          for site, b in sorted(booths.items())}, indent=2))
    else:
        print(format_table(booths, time.time()))
    return 0


def _password(args):
    from severed.errors import SeveredError

    from severed.fleet.settings import read_password

    if args.password_file:
        try:
            return read_password(args.password_file)
        except OSError as exc:
            raise SeveredError(f"--password-file {args.password_file}: {exc.strerror}") from exc
    if os.environ.get("SEVERED_MQTT_PASSWORD"):
        return os.environ["SEVERED_MQTT_PASSWORD"]
    if sys.stdin.isatty():
        import getpass
        return getpass.getpass(f"MQTT password for {args.user}: ")
    return None
