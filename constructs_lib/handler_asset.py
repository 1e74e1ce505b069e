"""Locate the handler packages and stage each Lambda asset alone: the lookup's
(``image_lookup``) and the pin registry's (``pin_registry`` with ``image_lookup``)."""

from __future__ import annotations

import ast
import atexit
import functools
import importlib.util
import shutil
import tempfile
from pathlib import Path
from typing import TypeVar

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
    """A folder holding only ``image_lookup``'s modules: no tests, caches or docs in the asset.

    The folder is new and private to this process (``mkdtemp``: mode 0700, owned by the
    caller), filled from the installed package and never reused, so nothing another user
    of the machine plants in the temp directory can end up in the asset. It is removed
    when the process exits, unless ``keep`` (for ``cdk synth --no-staging``, where the
    assembly refers to it). The asset hash depends only on the files' relative paths and
    bytes, not on the folder's name, so it (and the template) is the same on every synth.
    Each module is staged as ``asset_source`` makes it.
    """
    return _stage(_package_modules(HANDLER_PACKAGE), keep=keep)


@functools.lru_cache(maxsize=2)
def staged_lookup_asset(*, keep: bool = False) -> str:
    """The lookup handler's asset: only the modules ``image_lookup.handler`` imports,
    directly or not (the ``on_newer_build()`` evaluator's modules stay out), staged as
    ``staged_handler_asset`` stages the whole package."""
    return _stage(module_closure(f"{HANDLER_PACKAGE}.handler"), keep=keep)


@functools.lru_cache(maxsize=2)
def staged_registry_asset(*, keep: bool = False) -> str:
    """The pin registry's asset (``ImageFactory``): the modules ``pin_registry.handler``
    imports, from both packages, staged as ``staged_handler_asset`` stages its own."""
    return _stage(module_closure(f"{REGISTRY_PACKAGE}.handler"), keep=keep)


def asset_source(module: Path) -> str:
    """``module``'s code as staged: the same statements, without what the runtime never reads.

    Docstrings, comments, the annotations of functions and of names outside classes, and
    ``if TYPE_CHECKING:`` blocks go (an ``ast`` round trip). With ``from __future__ import
    annotations`` Python never evaluates those annotations; a class keeps its own, since
    NamedTuple fields are made of them. Dropping all this roughly halves the zipped asset,
    and with it the function's cold-start download.
    """
    tree = _RuntimeOnly().visit(ast.parse(module.read_text(encoding="utf-8"), filename=str(module)))
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    tree.body = [_only_used(statement, used) for statement in tree.body]
    tree.body = [statement for statement in tree.body if statement is not None] or [ast.Pass()]
    return ast.unparse(tree) + "\n"


#: Modules whose names a module imports only for its annotations; nothing re-exports them.
_TYPING_MODULES = frozenset({"typing", "collections.abc"})


def _only_used(statement: ast.stmt, used: set[str]) -> ast.stmt | None:
    """A typing import without the names the stripped code no longer uses (None: none left)."""
    if not (isinstance(statement, ast.ImportFrom) and statement.module in _TYPING_MODULES):
        return statement
    statement.names = [alias for alias in statement.names if (alias.asname or alias.name) in used]
    return statement if statement.names else None


_Function = TypeVar("_Function", ast.FunctionDef, ast.AsyncFunctionDef)


class _RuntimeOnly(ast.NodeTransformer):
    """Drops docstrings, annotations the runtime never evaluates, and TYPE_CHECKING blocks."""

    def __init__(self) -> None:
        self._in_class = False

    def visit_Module(self, node: ast.Module) -> ast.Module:
        node.body = _without_docstring(node.body)
        self.generic_visit(node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        node.body = _without_docstring(node.body)
        outer, self._in_class = self._in_class, True
        self.generic_visit(node)
        self._in_class = outer
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
        return self._function(node)

    def _function(self, node: _Function) -> _Function:
        node.body = _without_docstring(node.body)
        node.returns = None
        arguments: ast.arguments = node.args
        named: list[ast.arg] = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        for argument in (*named, arguments.vararg, arguments.kwarg):
            if argument is not None:
                argument.annotation = None
        outer, self._in_class = self._in_class, False
        self.generic_visit(node)
        self._in_class = outer
        node.body = node.body or [ast.Pass()]
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        # a bare declaration stays: in a function it makes the name local
        if self._in_class or not isinstance(node.target, ast.Name) or node.value is None:
            return node
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)

    def visit_If(self, node: ast.If) -> ast.AST | None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING" and not node.orelse:
            return None
        self.generic_visit(node)
        node.body = node.body or [ast.Pass()]
        return node


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0].value if body and isinstance(body[0], ast.Expr) else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return body[1:] or [ast.Pass()]
    return body


def module_closure(entry: str) -> list[tuple[str, Path]]:
    """``(package, module file)`` of ``entry`` and every module of the handler packages it
    imports, directly or not, each package's ``__init__.py`` included; sorted."""
    folders = {name: handler_package_dir(name) for name in (HANDLER_PACKAGE, REGISTRY_PACKAGE)}
    found: dict[str, Path] = {}
    pending = [entry]
    while pending:
        name = pending.pop()
        package, _, module = name.partition(".")
        if name in found or package not in folders:
            continue
        path = folders[package] / f"{module or '__init__'}.py"
        if not path.is_file():
            continue
        found[name] = path
        pending.append(package)  # its __init__
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                pending.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                pending.append(node.module)
                # ``from image_lookup import pin_reports`` names a module too
                pending.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return sorted((name.partition(".")[0], path) for name, path in found.items())


def _package_modules(package: str) -> list[tuple[str, Path]]:
    return [(package, path) for path in sorted(handler_package_dir(package).glob("*.py"))]


def _stage(modules: list[tuple[str, Path]], *, keep: bool) -> str:
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX))
    if not keep:
        atexit.register(shutil.rmtree, staging, ignore_errors=True)
    for package, module in modules:
        (staging / package).mkdir(exist_ok=True)
        (staging / package / module.name).write_text(asset_source(module), encoding="utf-8")
    return str(staging)
