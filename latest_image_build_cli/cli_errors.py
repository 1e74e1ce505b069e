"""How the command fails: one line on stderr and an exit code (``exit_codes``)."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from image_lookup.errors import one_line
from latest_image_build_cli.exit_codes import ERROR, USAGE

PROG = "latest-image-build"


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
    """Write one failure line to stderr."""
    print(f"{PROG}: {one_line(message)}", file=sys.stderr)


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), not usage text plus a line."""

    def error(self, message: str) -> NoReturn:
        """Report a usage error in one line and exit with ``USAGE``."""
        report(f"{message} (see {self.prog} --help)")
        sys.exit(USAGE)
