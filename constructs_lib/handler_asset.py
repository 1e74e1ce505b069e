"""Locate the ``image_lookup`` handler package and stage it alone as the Lambda asset."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
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

    The folder is named after a hash of the sources, so every synth on a machine
    reuses one folder, and the asset hash (and the template) stays the same.
    """
    modules = sorted(handler_package_dir().glob("*.py"))
    digest = hashlib.sha256()
    for module in modules:
        digest.update(module.name.encode() + b"\0" + module.read_bytes() + b"\0")
    staging = Path(tempfile.gettempdir()) / f"latest-image-build-asset-{digest.hexdigest()[:20]}"
    if not staging.is_dir():
        # build beside it, then rename: a concurrent synth never sees a half-written folder
        partial = Path(tempfile.mkdtemp(prefix=staging.name + "-", dir=staging.parent))
        (partial / HANDLER_PACKAGE).mkdir()
        for module in modules:
            shutil.copyfile(module, partial / HANDLER_PACKAGE / module.name)
        try:
            os.rename(partial, staging)
        except OSError:  # another process staged the same sources first
            shutil.rmtree(partial, ignore_errors=True)
    return str(staging)
