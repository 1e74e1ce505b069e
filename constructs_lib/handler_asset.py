"""Locate the ``image_lookup`` handler package and stage it alone as the Lambda asset."""

from __future__ import annotations

import functools
import importlib.util
import shutil
import tempfile
from pathlib import Path

HANDLER_PACKAGE = "image_lookup"


def handler_package_dir() -> Path:
    """Where ``image_lookup`` is installed (site-packages, or ``lambda/`` in a checkout)."""
    spec = importlib.util.find_spec(HANDLER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"cannot find the {HANDLER_PACKAGE!r} package; install latest-image-build "
            "(pip install latest-image-build) or put its lambda/ folder on sys.path"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@functools.lru_cache(maxsize=1)
def staged_handler_asset() -> str:
    """A folder holding only ``image_lookup/*.py``: no tests, caches or docs in the asset.

    Its content depends only on the package's sources, so the asset hash (and the
    template) is the same on every synth.
    """
    source = handler_package_dir()
    staging = Path(tempfile.mkdtemp(prefix="latest-image-build-asset-"))
    target = staging / HANDLER_PACKAGE
    target.mkdir()
    for module in sorted(source.glob("*.py")):
        shutil.copyfile(module, target / module.name)
    return str(staging)
