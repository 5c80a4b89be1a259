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
from severed.suggest import did_you_mean

# Order here is the order of ``severed --help``.
COMMAND_MODULES = (
    "severed.commands.run",
    "severed.commands.render",
    "severed.commands.check",
    "severed.commands.precompute",
    "severed.commands.loudness",
    "severed.commands.devices",
    "severed.commands.maintenance",
    "severed.commands.fleet",
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


def unknown_command(parser, argv):
    """The command word of ``argv`` if it names no command, else None."""
    commands = next(a.choices for a in parser._actions
                    if isinstance(a, argparse._SubParsersAction))
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word is not None and word not in commands else None, commands


def main(argv=None):
    """Run the command line; return the exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    word, commands = unknown_command(parser, argv)
    if word is not None:
        print(f"severed: error: no command {word!r}{did_you_mean(word, commands)} "
              f"(severed --help lists them)", file=sys.stderr)
        return 2
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
