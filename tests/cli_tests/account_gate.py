"""A gate in front of moto's server that answers as IAM would where moto cannot.

moto lets any role be assumed ("the role does not need to exist", moto's STS) and enforces
no policy by default. AWS answers ``AccessDenied`` (HTTP 403) both to AssumeRole on a role
that does not exist or does not trust the caller, and to a call the role's policy does not
allow (STS and CloudFormation API references, "Common Errors"). The gate forwards every
request to moto unchanged, except those it was told to deny, which it answers with the
query protocol's error document. It learns which account each access key acts in from the
AssumeRole answers it forwards (moto acts in the role ARN's account), and counts requests
per account.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import requests

_KEY_IN_AUTHORIZATION = re.compile(r"Credential=([^/]+)/")
_ACCESS_KEY = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")


class AccountGate:
    """An HTTP server on 127.0.0.1 forwarding to ``upstream`` (moto) with IAM's denials."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        #: Role ARNs whose AssumeRole is denied (the role is missing, or does not trust us).
        self.missing_roles: set[str] = set()
        #: ``(account, Action)`` pairs denied to the roles assumed in that account.
        self.denied: set[tuple[str, str]] = set()
        self.requests: Counter[str] = Counter()
        self._accounts: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> AccountGate:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        """Status, content type and body for one request."""
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        action = form.get("Action", "")
        key_match = _KEY_IN_AUTHORIZATION.search(headers.get("Authorization", ""))
        key = key_match.group(1) if key_match else ""
        with self._lock:
            account = self._accounts.get(key, "caller")
            self.requests[account] += 1
        if action == "AssumeRole" and form.get("RoleArn") in self.missing_roles:
            message = f"is not authorized to perform: sts:AssumeRole on resource: {form['RoleArn']}"
            return _denied(message, "https://sts.amazonaws.com/doc/2011-06-15/")
        if (account, action) in self.denied:
            return _denied(f"is not authorized to perform: {action}", "")
        skipped = ("host", "content-length")
        forwarded = {k: v for k, v in headers.items() if k.lower() not in skipped}
        reply = requests.post(self.upstream + path, data=body, headers=forwarded, timeout=60)
        if action == "AssumeRole" and reply.status_code == 200:
            found = _ACCESS_KEY.search(reply.text)
            role_account = form.get("RoleArn", "").split(":")[4]
            if found:
                with self._lock:
                    self._accounts[found.group(1)] = role_account
        return reply.status_code, reply.headers.get("Content-Type", "text/xml"), reply.content


def _denied(message: str, namespace: str) -> tuple[int, str, bytes]:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    body = (
        f"<ErrorResponse{xmlns}><Error><Type>Sender</Type><Code>AccessDenied</Code>"
        f"<Message>User: arn:aws:iam::123456789012:user/ci {message}</Message></Error>"
        "<RequestId>gate</RequestId></ErrorResponse>"
    )
    return 403, "text/xml", body.encode()


def _handler(gate: AccountGate) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, content_type, data = gate.answer(self.path, dict(self.headers), body)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
