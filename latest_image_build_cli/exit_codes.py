"""The command's exit codes (documented in the README and the contract)."""

OK = 0
ERROR = 1
USAGE = 2
#: ``check``: a deployed pin is stale; ``lock --check``: the lock file is out of date.
STALE = 3
#: ``check``: a pinned build is no longer usable (wins over STALE).
UNUSABLE = 4
