"""How the command speaks: its name and version, and failures as one line on stderr with an
exit code (``exit_codes``)."""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from typing import NoReturn

from image_lookup.errors import one_line
from latest_image_build_cli.exit_codes import ERROR, USAGE

PROG = "latest-image-build"
#: The distribution that installs the command (pyproject.toml's ``name``).
DISTRIBUTION = "latest-image-build"


def tool_version() -> str:
    """``latest-image-build 0.3.0``: what ``--version`` prints."""
    try:
        return f"{PROG} {metadata.version(DISTRIBUTION)}"
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return f"{PROG} (version unknown: not installed)"


class CommandError(Exception):
    """A failure to report as one line, with the exit code to end with."""

    def __init__(self, message: str, exit_code: int = ERROR) -> None:
        super().__init__(one_line(message))
        self.exit_code = exit_code

    @property
    def message(self) -> str:
        """The one-line message."""
        return str(self.args[0])


def report(message: str) -> None:
    """Write one failure (or notice) line to stderr."""
    print(f"{PROG}: {one_line(message)}", file=sys.stderr)


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), not usage text plus a line."""

    def error(self, message: str) -> NoReturn:
        """Report a usage error in one line and exit with ``USAGE``."""
        report(f"{message} (see {self.prog} --help)")
        sys.exit(USAGE)
