"""``latest-image-build``: the entry point, its subcommands and how it fails.

Each subcommand is a module with ``add_arguments(parser)`` and ``run(args) -> int``. Only
the chosen one is imported (``lock`` pulls in more than ``resolve`` needs), and a bare
``latest-image-build --name ...`` runs ``resolve``, the default.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import NamedTuple

from image_lookup.errors import ImageLookupError
from latest_image_build_cli.aws_session import sdk_failure
from latest_image_build_cli.cli_errors import (
    PROG,
    CommandError,
    OneLineArgumentParser,
    report,
    tool_version,
)
from latest_image_build_cli.exit_codes import ERROR

#: Exit status of a command stopped with Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


class Command(NamedTuple):
    """A subcommand: the module that implements it and its one-line summary."""

    module: str
    summary: str


COMMANDS = {
    "resolve": Command(
        "latest_image_build_cli.resolve_command",
        "print the build a lookup pins now (the default command)",
    ),
    "check": Command(
        "latest_image_build_cli.check_command",
        "check deployed stacks: is each pinned build still usable and still the newest?",
    ),
    "lock": Command(
        "latest_image_build_cli.lock_command",
        "write (or --check) the lock file that pins every lookup of an app",
    ),
    "fleet": Command(
        "latest_image_build_cli.fleet_command",
        "image factory: every pinned build and its holders, and the builds nobody pins",
    ),
}
DEFAULT_COMMAND = "resolve"
EPILOG = (
    "exit codes: 0 ok; 1 error; 2 usage; 3 check: a pin is stale, lock --check: the lock "
    "file is out of date; 4 check: a pinned build is no longer usable (wins over 3)"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (see ``exit_codes``)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or (arguments[0] not in COMMANDS and arguments[0] not in ("-h", "--help")):
        arguments.insert(0, DEFAULT_COMMAND)
    verbose = "--verbose" in arguments
    try:
        parser, module = build_parser(arguments[0])
        args = parser.parse_args(arguments)
        assert module is not None  # parse_args exits on --help and on usage errors
        return int(module.run(args))
    except SystemExit as stop:  # argparse: --help (0) or a usage error (2, already reported)
        return stop.code if isinstance(stop.code, int) else ERROR
    except CommandError as error:
        report(error.message)
        return error.exit_code
    except ImageLookupError as error:
        report(sdk_failure(error) or error.reason)
        return ERROR
    except KeyboardInterrupt:
        report("interrupted")
        return INTERRUPTED
    except Exception as error:
        # The SDK's own failures (no credentials, no network) get their message; anything
        # else is a bug: one line, and the traceback only with --verbose.
        if verbose:
            traceback.print_exc()
        report(sdk_failure(error) or f"unexpected {type(error).__name__}: {error}")
        return ERROR


def build_parser(chosen: str) -> tuple[OneLineArgumentParser, ModuleType | None]:
    """The parser, with the options of the ``chosen`` command only, and that command's module."""
    parser = OneLineArgumentParser(
        prog=PROG,
        description="Pin, check and lock EC2 Image Builder builds for LatestImageBuild lookups.",
        epilog=EPILOG,
    )
    # Listed for --help; `latest-image-build --version` runs resolve's own --version, which
    # prints the same (and, with a value, is the selector's deprecated spelling).
    parser.add_argument("--version", action="version", version=tool_version())
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=OneLineArgumentParser
    )
    module = None
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(
            name, help=command.summary, description=command.summary, epilog=EPILOG
        )
        if name == chosen:
            module = _load(name, command)
            module.add_arguments(sub)
    return parser, module


def _load(name: str, command: Command) -> ModuleType:
    """Import a command's module; a command not installed is a one-line error, not a traceback."""
    if importlib.util.find_spec(command.module) is None:
        raise CommandError(f"the {name} command is not available in this installation")
    return importlib.import_module(command.module)


if __name__ == "__main__":
    sys.exit(main())
