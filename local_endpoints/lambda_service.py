"""A local Lambda: the Invoke API for callers, the Runtime API for a real runtime client.

Callers (the Provider framework's Node.js code, through the AWS SDK for
JavaScript) reach ``POST /2015-03-31/functions/{FunctionName}/invocations``, the
path, headers and status of botocore's ``lambda`` model for ``Invoke``: the
payload is the body, and a function error comes back as HTTP 200 with
``X-Amz-Function-Error: Unhandled`` and the error document as the payload
(Lambda API reference, Invoke: "FunctionError ... Unhandled").

The function itself runs in a separate process under PyPI's ``awslambdaric``,
which polls this server's Runtime API as it polls Lambda's: ``GET
/2018-06-01/runtime/invocation/next`` (headers ``Lambda-Runtime-Aws-Request-Id``,
``Lambda-Runtime-Deadline-Ms``, ``Lambda-Runtime-Invoked-Function-Arn``), then
``POST .../invocation/{id}/response`` or ``.../error`` (AWS Lambda Developer
Guide, "Using the Lambda runtime API for custom runtimes").
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
RUNTIME_PREFIX = "/2018-06-01/runtime"


@dataclass
class Invocation:
    """One invocation: the payload in, and the function's answer once it has one."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    done: threading.Event = field(default_factory=threading.Event)
    body: bytes = b""
    error_type: str | None = None


@dataclass
class InvokeRecord:
    """What a caller sent and got back, for tests to inspect."""

    function_name: str
    invocation_type: str
    payload: dict[str, Any]
    function_error: str | None
    response: dict[str, Any]


class LocalLambda:
    """One function, served on 127.0.0.1, run by ``awslambdaric`` from its code directory."""

    def __init__(
        self,
        code_dir: Path,
        handler: str,
        function_arn: str,
        timeout_seconds: int,
        environment: Mapping[str, str],
    ) -> None:
        self.code_dir = code_dir
        self.handler = handler
        self.function_arn = function_arn
        self.timeout_seconds = timeout_seconds
        self.environment = dict(environment)
        self.invocations: list[InvokeRecord] = []
        self._pending: queue.Queue[Invocation] = queue.Queue()
        self._running: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._runtime: subprocess.Popen[bytes] | None = None
        self.runtime_log = b""

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``, as ``AWS_LAMBDA_RUNTIME_API`` wants it."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The Invoke endpoint, for ``AWS_ENDPOINT_URL_LAMBDA``."""
        return f"http://{self.address}"

    def start(self) -> LocalLambda:
        """Serve, then start the runtime client process (as Lambda's init phase would)."""
        self._thread.start()
        function_name = self.function_arn.rsplit(":", 1)[-1]
        env = {
            "PATH": os.environ.get("PATH", ""),
            **self.environment,
            # what Lambda's Python runtime puts in a function's environment
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "LAMBDA_TASK_ROOT": str(self.code_dir),
            "PYTHONPATH": str(self.code_dir),
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "_HANDLER": self.handler,
        }
        self._runtime = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", self.handler],
            cwd=self.code_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._drain_runtime_output, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop the runtime process and the server."""
        if self._runtime is not None:
            self._runtime.kill()
            self._runtime.wait(timeout=10)
        self._server.shutdown()
        self._server.server_close()

    def _drain_runtime_output(self) -> None:
        assert self._runtime is not None and self._runtime.stdout is not None
        for line in self._runtime.stdout:
            self.runtime_log += line

    # ----- the Invoke API ---------------------------------------------------------------
    def invoke(self, name: str, invocation_type: str, payload: bytes) -> tuple[bytes, str | None]:
        """Queue the payload for the runtime and wait for its answer."""
        if name not in (self.function_arn, self.function_arn.rsplit(":", 1)[-1]):
            raise LookupError(name)
        invocation = Invocation(
            request_id=str(uuid.uuid4()),
            payload=payload,
            deadline_ms=int((time.time() + self.timeout_seconds) * 1000),
            function_arn=self.function_arn,
        )
        self._pending.put(invocation)
        if not invocation.done.wait(self.timeout_seconds + 5):
            return json.dumps({"errorMessage": "Task timed out"}).encode(), "Unhandled"
        response = json.loads(invocation.body or b"null")
        self.invocations.append(
            InvokeRecord(
                function_name=name,
                invocation_type=invocation_type,
                payload=json.loads(payload),
                function_error="Unhandled" if invocation.error_type else None,
                response=response if isinstance(response, dict) else {},
            )
        )
        return invocation.body, "Unhandled" if invocation.error_type else None

    # ----- the Runtime API --------------------------------------------------------------
    def next_invocation(self) -> Invocation:
        """Block until an invocation is queued (the runtime's long poll)."""
        invocation = self._pending.get()
        with self._lock:
            self._running[invocation.request_id] = invocation
        return invocation

    def finish(self, request_id: str, body: bytes, error_type: str | None) -> bool:
        """Record the runtime's answer to an invocation; False for an unknown id."""
        with self._lock:
            invocation = self._running.pop(request_id, None)
        if invocation is None:
            return False
        invocation.body = body
        invocation.error_type = error_type
        invocation.done.set()
        return True


def _make_handler(service: LocalLambda) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: bytes, headers: Mapping[str, str] = {}) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            if self.path != f"{RUNTIME_PREFIX}/invocation/next":
                self._reply(404, b'{"errorType":"InvalidPath"}')
                return
            invocation = service.next_invocation()
            self._reply(
                200,
                invocation.payload,
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                },
            )

        def do_POST(self) -> None:
            body = self._body()
            invoke = INVOKE_PATH.match(self.path.split("?")[0])
            if invoke:
                try:
                    answer, function_error = service.invoke(
                        unquote(invoke.group("name")),
                        self.headers.get("X-Amz-Invocation-Type", "RequestResponse"),
                        body,
                    )
                except LookupError:
                    self._reply(
                        404,
                        b'{"Type":"User","message":"Function not found"}',
                        {"X-Amzn-ErrorType": "ResourceNotFoundException"},
                    )
                    return
                headers = {"X-Amz-Executed-Version": "$LATEST"}
                if function_error:
                    headers["X-Amz-Function-Error"] = function_error
                self._reply(200, answer, headers)
                return
            parts = self.path.split("/")
            # /2018-06-01/runtime/invocation/{id}/response|error, /2018-06-01/runtime/init/error
            if self.path.startswith(f"{RUNTIME_PREFIX}/invocation/") and len(parts) == 6:
                request_id, outcome = parts[4], parts[5]
                error_type = (
                    self.headers.get("Lambda-Runtime-Function-Error-Type", "Unhandled")
                    if outcome == "error"
                    else None
                )
                known = service.finish(request_id, body, error_type)
                self._reply(202 if known else 400, b'{"status":"OK"}')
                return
            if self.path == f"{RUNTIME_PREFIX}/init/error":
                service.runtime_log += b"init error: " + body
                self._reply(202, b'{"status":"OK"}')
                return
            self._reply(404, b'{"errorType":"InvalidPath"}')

    return Handler
