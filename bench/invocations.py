"""What the benchmarks that invoke the handler many times at once share.

Each worker process runs its invocations as threads, all started at one instant the
parent sends; each thread is one invocation with its own Lambda context and deadline.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any


class BenchContext:
    """The parts of Lambda's context the handler reads; the clock runs from ``started``."""

    def __init__(self, started: float, timeout_seconds: float) -> None:
        self._started = started
        self._timeout_seconds = timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Lambda's remaining time, counted from ``started``."""
        return int((self._timeout_seconds - (time.time() - self._started)) * 1000)


def prepare_worker() -> dict[str, dict[str, Any]]:
    """Make boto3 safe for many invocations in one process; the lookups' log lines, by
    logical id, as they come."""
    import boto3

    create_client = boto3.session.Session.client
    client_lock = threading.Lock()

    def locked_client(self: boto3.session.Session, *args: Any, **kwargs: Any) -> Any:
        # boto3 sessions are not thread-safe; Lambda runs invocations apart and needs none
        with client_lock:
            return create_client(self, *args, **kwargs)

    boto3.session.Session.client = locked_client  # type: ignore[method-assign]
    lines: dict[str, dict[str, Any]] = {}

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            line = json.loads(record.getMessage())
            lines[str(line.get("logical_id"))] = line

    lookup_logger = logging.getLogger("image_lookup")
    lookup_logger.addHandler(Lines())
    lookup_logger.propagate = False
    return lines


def run_at_start(invoke: Callable[[int, float], None], indexes: Iterable[int]) -> None:
    """Say "ready", read the start time from stdin, then run ``invoke(index, started)`` for
    every index in its own thread from that instant, and wait for all."""
    print("ready", flush=True)
    started = float(sys.stdin.readline())
    threads = [threading.Thread(target=invoke, args=(index, started)) for index in indexes]
    time.sleep(max(0.0, started - time.time()))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
