"""Serve the local Image Builder endpoint in its own process, so it never skews measurements.

``python -m bench.serve_fake VERSIONS`` adds VERSIONS versions of ``golden`` and as many
versions of other images, prints the URL, and serves until standard input closes.
"""

from __future__ import annotations

import sys

from local_endpoints.imagebuilder import FakeImageBuilder

IMAGE = "golden"


def populate(fake: FakeImageBuilder, versions: int) -> None:
    """``versions`` versions of IMAGE, plus as many versions of 50 other images."""
    for index in range(versions):
        fake.add(IMAGE, f"1.{index // 100}.{index % 100}")
        fake.add(f"other-{index % 50}", f"{index}.0.0")


def main() -> None:
    """Start, announce the URL, wait for stdin to close."""
    fake = FakeImageBuilder()
    populate(fake, int(sys.argv[1]))
    fake.start()
    print(fake.url, flush=True)
    sys.stdin.read()
    fake.stop()


if __name__ == "__main__":
    main()
