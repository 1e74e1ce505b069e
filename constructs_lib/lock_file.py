"""The lock file of lock mode: its format, and whether an entry still serves a lookup.

Read by the construct at synth and written by ``latest-image-build lock``. Standard
library and the Lambda asset's pure modules only: the command line imports it without the CDK.

The file is JSON keyed by construct path. Each entry holds the lookup's query (the
custom resource properties a deploy would send, less the refresh and protection
switches, which choose when and how a deploy resolves, not what), the stack's region
and account the pin is for, and the pinned attributes (every ``Data`` key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from constructs_lib.lock_values import entry_problem, stack_problem
from image_lookup.contract import (
    ATTRIBUTE_KEYS,
    NOT_LOOKUP_KEYS,
    REQUIRE_AMI,
    REQUIRE_CONTAINER,
)

#: Context key that puts an app in lock mode: the lock file's path, relative to the
#: directory the app runs in (where cdk.json is).
LOCK_FILE_CONTEXT = "latest-image-build:lock-file"
#: Context key set by ``latest-image-build lock`` while it finds an app's lookups: locked
#: lookups then record their query and take placeholders instead of failing.
DISCOVERY_CONTEXT = "latest-image-build:lock-discovery"
#: Construct metadata type under which a locked lookup records its query in the assembly.
LOOKUP_METADATA = "latest-image-build:lookup"
LOCK_COMMAND = "latest-image-build lock"
FORMAT_VERSION = 1
ABOUT = (
    "Pins of the app's LatestImageBuild lookups (lock mode). Written by `latest-image-build "
    "lock`: change it by running that command and reviewing the diff, not by hand."
)
#: Query keys that adapters add ("true"): the pin was checked to have that output. An entry
#: checked for more than a lookup needs still serves it.
REQUIREMENTS = (REQUIRE_AMI.key, REQUIRE_CONTAINER.key)


class LockFileError(ValueError):
    """The lock file cannot be read, or does not serve a lookup; the text is one line."""


class StackPlace(NamedTuple):
    """Where the stack deploys: the pin's AMI and container URI are for this region."""

    region: str
    account: str | None = None

    def to_json(self) -> dict[str, str]:
        """``{"region": ..., "account": ...}``, account left out when the stack has none."""
        place = {"region": self.region}
        if self.account:
            place["account"] = self.account
        return place

    @classmethod
    def from_json(cls, value: Any) -> StackPlace:
        """The inverse of ``to_json``; raise LockFileError when malformed."""
        if not isinstance(value, Mapping) or not isinstance(value.get("region"), str):
            raise LockFileError(f"stack must be an object with a region, got {value!r}")
        account = value.get("account")
        return cls(value["region"], account if isinstance(account, str) else None)


def lock_query(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The query of a lookup: its properties, less unset ones and ``NOT_LOOKUP_KEYS``."""
    return {
        key: dict(value) if isinstance(value, Mapping) else value
        for key, value in properties.items()
        if value is not None and key not in NOT_LOOKUP_KEYS
    }


class LockEntry(NamedTuple):
    """One locked lookup: what it asked, where its stack deploys, and the pinned attributes."""

    query: dict[str, Any]
    stack: StackPlace
    pin: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """The entry as the file holds it."""
        return {"pin": dict(self.pin), "query": dict(self.query), "stack": self.stack.to_json()}

    @classmethod
    def from_json(cls, path: str, value: Any) -> LockEntry:
        """Read one entry; raise LockFileError naming ``path`` when it is malformed."""
        if not isinstance(value, Mapping):
            raise LockFileError(f"entry {path!r} must be an object")
        query, pin = value.get("query"), value.get("pin")
        if not isinstance(query, Mapping) or not isinstance(pin, Mapping):
            raise LockFileError(f"entry {path!r} needs a 'query' and a 'pin' object")
        missing = [key for key in ATTRIBUTE_KEYS if not isinstance(pin.get(key), str)]
        if missing:
            raise LockFileError(f"entry {path!r} lacks pinned {', '.join(missing)}")
        try:
            stack = StackPlace.from_json(value.get("stack"))
        except LockFileError as error:
            raise LockFileError(f"entry {path!r}: {error}") from None
        return cls(dict(query), stack, {key: pin[key] for key in ATTRIBUTE_KEYS})

    def problem(self) -> str | None:
        """Why a value of the entry cannot be what a deploy would pin (its shape for the
        entry's image, partition and region; no dynamic reference, no token text), or None."""
        return stack_problem(self.stack.region, self.stack.account) or entry_problem(
            self.query, self.stack.region, self.pin
        )

    def staleness(self, query: Mapping[str, Any], stack: StackPlace) -> str | None:
        """Why this entry does not serve a lookup with ``query`` in ``stack``, or None.

        Every key must be equal, except that the entry may have been checked for an output
        (``RequireAmi``) the lookup does not need.
        """
        differences = []
        if stack != self.stack:
            differences.append(f"stack {self.stack.to_json()} -> {stack.to_json()}")
        for key in sorted(set(query) | set(self.query)):
            locked, asked = self.query.get(key), query.get(key)
            if locked == asked or (key in REQUIREMENTS and asked is None):
                continue
            differences.append(f"{key} {_shown(locked)} -> {_shown(asked)}")
        return "; ".join(differences) if differences else None


def _shown(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, sort_keys=True)


class LockFile(NamedTuple):
    """The whole file: entries by construct path."""

    entries: dict[str, LockEntry]

    @classmethod
    def parse(cls, text: str, name: str) -> LockFile:
        """Read the file's text; raise LockFileError naming the file when it is not ours."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise LockFileError(
                f"lock file {name} is not valid JSON ({error.msg}, line {error.lineno}): "
                f"restore it, or delete it and run `{LOCK_COMMAND}`"
            ) from None
        version = document.get("formatVersion") if isinstance(document, Mapping) else None
        if version != FORMAT_VERSION:
            raise LockFileError(
                f"lock file {name} has formatVersion {version!r}; this library reads "
                f"{FORMAT_VERSION}: delete it and run `{LOCK_COMMAND}`"
            )
        lookups = document.get("lookups")
        if not isinstance(lookups, Mapping):
            raise LockFileError(f"lock file {name} has no 'lookups' object")
        try:
            entries = {path: LockEntry.from_json(path, value) for path, value in lookups.items()}
        except LockFileError as error:
            raise LockFileError(f"lock file {name}: {error}") from None
        return cls(entries)

    def render(self) -> str:
        """The file's text: deterministic (keys sorted, two-space indent, final newline)."""
        document = {
            "about": ABOUT,
            "formatVersion": FORMAT_VERSION,
            "lookups": {path: entry.to_json() for path, entry in self.entries.items()},
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"


def missing_message(construct_path: str, lock_name: str, file_exists: bool) -> str:
    """The one-line synth failure for a lookup with no entry."""
    where = f"no entry in lock file {lock_name}" if file_exists else f"no lock file {lock_name}"
    return f"LatestImageBuild {construct_path}: {where}; run `{LOCK_COMMAND}` to pin it"


def invalid_message(construct_path: str, lock_name: str, problem: str) -> str:
    """The one-line synth failure for an entry whose values no deploy would pin."""
    return (
        f"LatestImageBuild {construct_path}: its entry in lock file {lock_name} is invalid: "
        f"{problem}; run `{LOCK_COMMAND}` to re-pin it"
    )


def stale_message(construct_path: str, lock_name: str, why: str) -> str:
    """The one-line synth failure for a lookup whose entry was locked for another query."""
    return (
        f"LatestImageBuild {construct_path}: its entry in lock file {lock_name} is stale "
        f"({why}); run `{LOCK_COMMAND}` to re-pin it"
    )
