"""Lock mode for one lookup: the pin as literals from the app's lock file, no custom resource.

An app is in lock mode when its context holds ``latest-image-build:lock-file``. Each lookup
then takes its entry (by construct path) from that file and fails synth, in one line naming
the construct and ``latest-image-build lock``, when the entry is missing or was locked for
another query. Each also records its query as construct metadata, which is how the lock
command finds the lookups of an app; under the command's discovery context a lookup takes
placeholders instead of failing, so lookups are found when the file is missing or stale.

What ``cdk synth`` shows: a lock-mode failure raises ``LockFileError`` (so code that builds
the app, a unit test, can catch it), and when nothing catches it the app process ends as
the CDK's own apps do on a bad input: the one line on stderr, exit status 1, no traceback
(``_report_in_one_line``). An error annotation instead would let the app synthesize a
template of placeholder pins, which every tool that does not read annotations (``python
app.py``, ``Template.from_stack``, a pipeline reading cdk.out) would take for the pins.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import jsii
from aws_cdk import IResolvable, IResolveContext, Stack, Token
from constructs import Construct, IConstruct

from constructs_lib.lock_file import (
    DISCOVERY_CONTEXT,
    LOCK_FILE_CONTEXT,
    LOOKUP_METADATA,
    LockEntry,
    LockFile,
    LockFileError,
    StackPlace,
    invalid_message,
    lock_query,
    missing_message,
    stale_message,
)
from image_lookup.contract import (
    IMAGE_NAME,
    IMAGE_TYPE,
    OS_VERSION,
    PLATFORM,
    Attribute,
    Property,
)

#: Lock files already read, per app (root construct) and path; None: the file does not exist.
_READ: weakref.WeakKeyDictionary[IConstruct, dict[Path, LockFile | None]] = (
    weakref.WeakKeyDictionary()
)
_TOKEN_MARK = "${Token["
_DYNAMIC_REFERENCE = "{{resolve:"


class LockedPin:
    """A lookup's pin in lock mode: literal attributes from its lock file entry."""

    def __init__(
        self,
        construct_path: str,
        query: dict[str, Any],
        stack: StackPlace,
        lock_name: str,
        entry: LockEntry | None,
    ) -> None:
        """Use ``for_lookup``. ``entry`` None: discovery, attributes are placeholders."""
        self._construct_path = construct_path
        self._query = query
        self._stack = stack
        self._lock_name = lock_name
        self._entry = entry

    @classmethod
    def for_lookup(
        cls, lookup: Construct, properties: Mapping[str, Any], *, protect_pinned_build: bool
    ) -> LockedPin | None:
        """The lookup's locked pin when its app is in lock mode, else None (a deployed lookup).

        ``properties`` are the custom resource properties a deploy would send.

        :raises LockFileError: the entry is missing or stale, the lock file unreadable, a
            property a token, or the stack without a region; the message names the lookup.
        """
        lock_name = lookup.node.try_get_context(LOCK_FILE_CONTEXT)
        if lock_name is None:
            return None
        _report_in_one_line()
        construct_path = lookup.node.path
        if not isinstance(lock_name, str) or not lock_name.strip():
            raise LockFileError(
                f"context {LOCK_FILE_CONTEXT} must be the lock file's path, got {lock_name!r}"
            )
        if protect_pinned_build:
            raise LockFileError(
                f"LatestImageBuild {construct_path}: protect_pinned_build=True tags the build "
                "when a deploy resolves it, and in lock mode no deploy does: leave it False here"
            )
        query = lock_query(properties)
        _check_literals(construct_path, query)
        stack = _stack_place(lookup, construct_path)
        entry = None
        if lookup.node.try_get_context(DISCOVERY_CONTEXT) not in (True, "true"):
            entry = _entry_for(lookup, construct_path, lock_name, query, stack)
        pin = cls(construct_path, query, stack, lock_name, entry)
        lookup.node.add_metadata(LOOKUP_METADATA, _Recorded(pin))
        return pin

    def attribute(self, key: str) -> str:
        """The pinned attribute (a placeholder while the lock command discovers lookups)."""
        if self._entry is None:
            return _placeholders(self._query, self._stack)[key]
        return self._entry.pin[key]

    def require(self, flag: Property) -> None:
        """An adapter needs an output (``RequireAmi``): the entry must have been checked for it.

        :raises LockFileError: it was not; the lock command checks it and re-pins.
        """
        self._query[flag.key] = "true"
        if self._entry is not None:
            why = self._entry.staleness(self._query, self._stack)
            if why is not None:
                raise LockFileError(stale_message(self._construct_path, self._lock_name, why))

    def record(self) -> dict[str, Any]:
        """What the lookup records in the assembly for the lock command."""
        return {"lockFile": self._lock_name, "query": self._query, "stack": self._stack.to_json()}


@jsii.implements(IResolvable)
class _Recorded:
    """The record, resolved at synth: adapters called after construction add requirements."""

    def __init__(self, pin: LockedPin) -> None:
        self._pin = pin

    @property
    def creation_stack(self) -> list[str]:
        """Not kept."""
        return []

    def resolve(self, context: IResolveContext) -> Any:
        """The lookup's record."""
        return self._pin.record()

    def to_string(self) -> str:
        """As a token's text."""
        return Token.as_string(self)


def _report_in_one_line() -> None:
    """Make a LockFileError that nothing catches end the process with its one line on stderr
    and exit status 1 (the traceback would bury it); any other exception is left to the
    hook that was there before."""
    previous = sys.excepthook
    if getattr(previous, "reports_lock_file_errors", False):
        return

    def hook(
        kind: type[BaseException], value: BaseException, traceback: TracebackType | None
    ) -> None:
        if isinstance(value, LockFileError):
            print(value, file=sys.stderr)  # Python then exits with status 1
        else:
            previous(kind, value, traceback)

    hook.reports_lock_file_errors = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def _entry_for(
    lookup: Construct,
    construct_path: str,
    lock_name: str,
    query: Mapping[str, Any],
    stack: StackPlace,
) -> LockEntry:
    """The lookup's entry, if it serves this query; else raise the one-line failure."""
    lock = _read(lookup.node.root, lock_name)
    entry = lock.entries.get(construct_path) if lock is not None else None
    if entry is None:
        raise LockFileError(missing_message(construct_path, lock_name, lock is not None))
    problem = entry.problem()
    if problem is not None:
        raise LockFileError(invalid_message(construct_path, lock_name, problem))
    why = entry.staleness(query, stack)
    if why is not None:
        raise LockFileError(stale_message(construct_path, lock_name, why))
    return entry


def _read(root: IConstruct, lock_name: str) -> LockFile | None:
    """The app's lock file, read once per app; None when it does not exist."""
    # Relative to the directory the app runs in: where cdk.json is, as for its "app" command.
    path = Path(lock_name).absolute()
    read = _READ.setdefault(root, {})
    if path not in read:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            read[path] = None
        except OSError as error:
            raise LockFileError(f"cannot read lock file {lock_name}: {error.strerror}") from None
        else:
            read[path] = LockFile.parse(text, lock_name)
    return read[path]


def _check_literals(construct_path: str, query: Mapping[str, Any]) -> None:
    """A lock pins literals: every property must be known at synth."""
    for key, value in query.items():
        texts = [*value.keys(), *value.values()] if isinstance(value, Mapping) else [value]
        if any(_TOKEN_MARK in text and Token.is_unresolved(text) for text in texts):
            raise LockFileError(
                f"LatestImageBuild {construct_path}: in lock mode every property must be a "
                f"literal, but {key} is a token (known only at deploy)"
            )
        if any(_DYNAMIC_REFERENCE in text for text in texts):
            raise LockFileError(
                f"LatestImageBuild {construct_path}: in lock mode every property must be a "
                f"literal, but {key} holds a CloudFormation dynamic reference (resolved only "
                "at deploy)"
            )


def _stack_place(lookup: Construct, construct_path: str) -> StackPlace:
    """The stack's region and account, both required: a pin is the AMI one account can launch
    in one region (its own copy, or the owner's shared one)."""
    stack = Stack.of(lookup)
    region, account = stack.region, stack.account
    if Token.is_unresolved(region) or Token.is_unresolved(account):
        raise LockFileError(
            f"LatestImageBuild {construct_path}: lock mode pins the AMI one account launches "
            f"in one region, but stack {stack.node.path} has no concrete "
            f"{'region' if Token.is_unresolved(region) else 'account'}: give it "
            "env=Environment(account=..., region=...)"
        )
    return StackPlace(region, account)


def _placeholders(query: Mapping[str, Any], stack: StackPlace) -> dict[str, str]:
    """Well-formed stand-ins, so that an app builds while the lock command discovers it."""
    account = stack.account or "000000000000"
    version_arn = f"arn:aws:imagebuilder:{stack.region}:{account}:image/lock-pending/0.0.0"
    return {
        Attribute.IMAGE_BUILD_VERSION_ARN: f"{version_arn}/1",
        Attribute.IMAGE_VERSION_ARN: version_arn,
        Attribute.IMAGE_NAME: str(query.get(IMAGE_NAME.key, "")),
        Attribute.VERSION: "0.0.0",
        Attribute.BUILD_VERSION: "0.0.0/1",
        Attribute.AMI_ID: "ami-00000000000000000",
        Attribute.CONTAINER_IMAGE_URI: (
            f"{account}.dkr.ecr.{stack.region}.amazonaws.com/lock-pending:0.0.0-1"
        ),
        Attribute.PLATFORM: str(query.get(PLATFORM.key, "")),
        Attribute.OS_VERSION: str(query.get(OS_VERSION.key, "")),
        Attribute.IMAGE_TYPE: str(query.get(IMAGE_TYPE.key, "")),
        Attribute.DATE_CREATED: "",
    }
