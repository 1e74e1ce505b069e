"""A local CloudFormation endpoint for the handler's rollback reads, speaking the query protocol.

moto's server answers DescribeStackEvents with every event in one page and cannot throttle
on demand, so the two things a rollback must survive cannot be shown with it. This endpoint
serves what the handler reads (DescribeStacks, DescribeStackEvents) as the service does:

* The AWS query protocol (``Action=...&Version=2010-05-15`` form posts, XML answers), so real
  boto3 serialises, parses and classifies errors through its own code.
* DescribeStackEvents newest first, ``PAGE_SIZE`` events a page with an opaque ``NextToken``.
  The API reference promises only "if the output exceeds 1 MB in size" a next page; the
  service pages at 100 events (observed and relied on by tools that read stack events, e.g.
  ansible PR #41840 "The DescribeStackEvents API seems to return 100 at a time"). A token
  names a position in the history, so events written while a reader pages (a rollback keeps
  writing them) do not shift what the next page holds.
* Throttling as CloudFormation sends it: HTTP 400, ``<Code>Throttling</Code>``, "Rate exceeded"
  (the code is in botocore's standard retry list, ``retries/standard.py``
  ``_THROTTLED_ERROR_CODES``). On demand (``fail_next``) or from an account-wide token bucket
  (``rate_limit_tps``), as AWS documents API throttling.
* An unknown stack is ``ValidationError`` "Stack with id ... does not exist" (HTTP 400).

State is set directly (``add_stack``, then ``FakeStack.stack_status`` / ``resource``): the stack
statuses and events CloudFormation records while it deploys and rolls back a lookup.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from local_endpoints.rate_limit import TokenBucket

REGION = "us-east-1"
ACCOUNT = "123456789012"
API_VERSION = "2010-05-15"
NAMESPACE = f"http://cloudformation.amazonaws.com/doc/{API_VERSION}/"
#: Events in one DescribeStackEvents page, as the service serves them.
PAGE_SIZE = 100
STACK_TYPE = "AWS::CloudFormation::Stack"
LOOKUP_TYPE = "Custom::LatestImageBuild"
THROTTLE_CODE = "Throttling"
#: What an answer is: HTTP status and XML body.
Reply = tuple[int, str]
_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


@dataclass
class FakeEvent:
    """One stack event as DescribeStackEvents reports it."""

    logical_id: str
    physical_id: str
    resource_type: str
    status: str
    timestamp: datetime
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class FakeStack:
    """One stack: its status and its events, oldest first."""

    name: str
    stack_id: str
    status: str = "CREATE_IN_PROGRESS"
    events: list[FakeEvent] = field(default_factory=list)

    def stack_status(self, status: str) -> None:
        """The stack enters ``status``, and a stack-level event says so."""
        self.status = status
        self._append(self.name, self.stack_id, STACK_TYPE, status)

    def resource(
        self, logical_id: str, physical_id: str, status: str, resource_type: str = LOOKUP_TYPE
    ) -> None:
        """A resource reaches ``status`` with ``physical_id``."""
        self._append(logical_id, physical_id, resource_type, status)

    def _append(self, logical_id: str, physical_id: str, resource_type: str, status: str) -> None:
        # one second apart: the order DescribeStackEvents gives is the order written
        stamp = _EPOCH + timedelta(seconds=len(self.events))
        self.events.append(FakeEvent(logical_id, physical_id, resource_type, status, stamp))


class FakeCloudFormation:
    """In-memory stacks plus an HTTP server on 127.0.0.1."""

    def __init__(
        self, *, rate_limit_tps: float | None = None, rate_limit_burst: float | None = None
    ) -> None:
        """``rate_limit_tps``: calls over that rate (all actions together) get Throttling."""
        self.stacks: dict[str, FakeStack] = {}
        self.calls: Counter[str] = Counter()
        #: Calls answered with Throttling, by ``fail_next`` or the rate limit.
        self.throttled = 0
        #: The account-wide rate limit (``rate_limit.TokenBucket``).
        self._rate_limit = TokenBucket(rate_limit_tps, rate_limit_burst)
        self._faults: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ----- life cycle -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Where boto3 reaches this endpoint (``AWS_ENDPOINT_URL_CLOUDFORMATION``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeCloudFormation:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    # ----- state and faults ------------------------------------------------------------
    def add_stack(self, name: str, region: str = REGION, account: str = ACCOUNT) -> FakeStack:
        """A new stack named ``name``, with an ARN as CloudFormation makes them."""
        stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid4()}"
        stack = FakeStack(name, stack_id)
        with self._lock:
            self.stacks[stack_id] = stack
        return stack

    def fail_next(
        self,
        action: str,
        count: int,
        code: str = THROTTLE_CODE,
        status: int = 400,
        message: str = "Rate exceeded",
    ) -> None:
        """Answer the next ``count`` calls of ``action`` with an error (default: Throttling)."""
        with self._lock:
            for _ in range(count):
                self._faults[action].append((status, _error(code, message)))

    def count(self, action: str | None = None) -> int:
        """Calls received, of one action or of all."""
        return self.calls[action] if action else sum(self.calls.values())

    # ----- request handling ------------------------------------------------------------
    def handle(self, body: bytes) -> Reply:
        """Answer one query-protocol request."""
        params = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        action = params.get("Action", "")
        with self._lock:
            self.calls[action] += 1
            if params.get("Version") != API_VERSION:
                return 400, _error("InvalidParameterValue", f"Version {params.get('Version')}")
            if not self._rate_limit.admit():
                self.throttled += 1
                return 400, _error(THROTTLE_CODE, "Rate exceeded")
            queue = self._faults.get(action)
            if queue:
                status, body_text = queue.popleft()
                if THROTTLE_CODE in body_text:
                    self.throttled += 1
                return status, body_text
            handler: Callable[[dict[str, str]], Reply] | None = {
                "DescribeStacks": self._describe_stacks,
                "DescribeStackEvents": self._describe_stack_events,
            }.get(action)
            if handler is None:
                return 400, _error("InvalidAction", f"{action} is not served here")
            return handler(params)

    def _stack(self, params: dict[str, str]) -> FakeStack | Reply:
        name = params.get("StackName")
        if not name:
            return 400, _error("ValidationError", "StackName is required")
        for stack in self.stacks.values():
            if name in (stack.stack_id, stack.name):
                return stack
        return 400, _error("ValidationError", f"Stack with id {name} does not exist")

    def _describe_stacks(self, params: dict[str, str]) -> Reply:
        stack = self._stack(params)
        if not isinstance(stack, FakeStack):
            return stack
        member = (
            f"<member><StackId>{escape(stack.stack_id)}</StackId>"
            f"<StackName>{escape(stack.name)}</StackName>"
            f"<CreationTime>{_iso(_EPOCH)}</CreationTime>"
            f"<StackStatus>{escape(stack.status)}</StackStatus></member>"
        )
        return 200, _answer("DescribeStacks", f"<Stacks>{member}</Stacks>")

    def _describe_stack_events(self, params: dict[str, str]) -> Reply:
        stack = self._stack(params)
        if not isinstance(stack, FakeStack):
            return stack
        # a token is the index (oldest first) of the newest event not served yet
        token = params.get("NextToken")
        if token is None:
            start = len(stack.events) - 1
        else:
            try:
                start = int(token.removeprefix("page-").split("-")[0])
            except ValueError:
                return 400, _error("ValidationError", "Invalid NextToken")
        stop = max(-1, start - PAGE_SIZE)
        page = [stack.events[index] for index in range(start, stop, -1)]
        members = "".join(_event_member(stack, event) for event in page)
        next_token = (
            f"<NextToken>page-{stop}-{secrets.token_hex(8)}</NextToken>" if stop >= 0 else ""
        )
        return 200, _answer(
            "DescribeStackEvents", f"<StackEvents>{members}</StackEvents>{next_token}"
        )


def _event_member(stack: FakeStack, event: FakeEvent) -> str:
    return (
        f"<member><StackId>{escape(stack.stack_id)}</StackId>"
        f"<EventId>{event.event_id}</EventId>"
        f"<StackName>{escape(stack.name)}</StackName>"
        f"<LogicalResourceId>{escape(event.logical_id)}</LogicalResourceId>"
        f"<PhysicalResourceId>{escape(event.physical_id)}</PhysicalResourceId>"
        f"<ResourceType>{escape(event.resource_type)}</ResourceType>"
        f"<Timestamp>{_iso(event.timestamp)}</Timestamp>"
        f"<ResourceStatus>{escape(event.status)}</ResourceStatus></member>"
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _answer(action: str, result: str) -> str:
    return (
        f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )


def _error(code: str, message: str) -> str:
    """The query protocol's error document, as CloudFormation sends it."""
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


def _make_handler(fake: FakeCloudFormation) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, text = fake.handle(self.rfile.read(length) if length else b"")
            data = text.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler
