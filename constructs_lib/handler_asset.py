"""Locate the handler packages and stage each Lambda asset alone: the lookup's
(``image_lookup``) and the pin registry's (``pin_registry`` with ``image_lookup``)."""

from __future__ import annotations

import atexit
import functools
import importlib.util
import shutil
import tempfile
from pathlib import Path

HANDLER_PACKAGE = "image_lookup"
REGISTRY_PACKAGE = "pin_registry"
STAGING_PREFIX = "latest-image-build-asset-"
#: The context key behind ``cdk synth --no-staging`` (aws-cdk-lib's
#: ``cxapi.DISABLE_ASSET_STAGING_CONTEXT``): the cloud assembly then points at the
#: staged folder itself instead of a copy in cdk.out, so the folder must outlive synth.
ASSET_STAGING_DISABLED_CONTEXT = "aws:cdk:disable-asset-staging"


def handler_package_dir(package: str = HANDLER_PACKAGE) -> Path:
    """Where ``package`` is installed (site-packages, or ``lambda/`` in a checkout)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"cannot find the {package!r} package; install latest-image-build "
            "(pip install latest-image-build) or put its lambda/ folder on sys.path"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@functools.lru_cache(maxsize=2)
def staged_handler_asset(*, keep: bool = False) -> str:
    """A folder holding only ``image_lookup/*.py``: no tests, caches or docs in the asset.

    The folder is new and private to this process (``mkdtemp``: mode 0700, owned by the
    caller), filled from the installed package and never reused, so nothing another user
    of the machine plants in the temp directory can end up in the asset. It is removed
    when the process exits, unless ``keep`` (for ``cdk synth --no-staging``, where the
    assembly refers to it). The asset hash depends only on the files' relative paths and
    bytes, not on the folder's name, so it (and the template) is the same on every synth.
    """
    return _stage((HANDLER_PACKAGE,), keep=keep)


@functools.lru_cache(maxsize=2)
def staged_registry_asset(*, keep: bool = False) -> str:
    """A folder holding ``pin_registry/*.py`` and the ``image_lookup/*.py`` it builds on,
    staged as ``staged_handler_asset`` stages the lookup's."""
    return _stage((REGISTRY_PACKAGE, HANDLER_PACKAGE), keep=keep)


def _stage(packages: tuple[str, ...], *, keep: bool) -> str:
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX))
    if not keep:
        atexit.register(shutil.rmtree, staging, ignore_errors=True)
    for name in packages:
        package = staging / name
        package.mkdir()
        for module in sorted(handler_package_dir(name).glob("*.py")):
            shutil.copyfile(module, package / module.name)
    return str(staging)
