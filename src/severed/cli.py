"""The ``severed`` command: one entry point, one subcommand per job.

Each subcommand lives in a module of ``severed.commands`` that offers
``register(subparsers)``; heavy imports (numpy, audio, GPIO) happen inside the command
so that ``severed --help`` and the maintenance commands start fast.
"""

import argparse
import importlib
import sys

from severed import __version__
from severed.errors import SeveredError

# Order here is the order of ``severed --help``.
COMMAND_MODULES = (
    "severed.commands.run",
    "severed.commands.render",
    "severed.commands.check",
    "severed.commands.precompute",
    "severed.commands.devices",
    "severed.commands.maintenance",
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="severed",
        description="Sound installation firmware: plays a show and follows its sensors.",
    )
    parser.add_argument("--version", action="version", version=f"severed {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="print the full traceback on errors (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command not built yet
        module.register(sub)
    return parser


def main(argv=None):
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except SeveredError as exc:
        if args.traceback:
            raise
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"severed: error: {line}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
