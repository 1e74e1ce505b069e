"""Where the Provider framework PUTs its response: a stand-in for the pre-signed S3 URL.

CloudFormation hands a custom resource a pre-signed S3 URL (``ResponseURL``) and
waits for a JSON document PUT there (CloudFormation User Guide, "Custom resource
request objects" and "response objects"). The framework sends it with Node's
``https.request`` to port 443 of the URL's host. This stand-in is an HTTP proxy
on 127.0.0.1: Node (24.5 and newer) routes its ``https`` requests through it
when started with ``NODE_USE_ENV_PROXY=1`` and ``HTTPS_PROXY``; it accepts the
``CONNECT``, terminates TLS with a certificate for the URL's host issued by a
throw-away CA (``trustme``; Node trusts it through ``NODE_EXTRA_CA_CERTS``), and
answers the PUT as S3 does, ``200 OK``, keeping the body for the test.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import trustme

#: The host CloudFormation's pre-signed response URLs use in us-east-1.
RESPONSE_HOST = "cloudformation-custom-resource-response-useast1.s3.amazonaws.com"


class ResponsePut(NamedTuple):
    """One PUT to the response URL: its path, headers and body."""

    path: str
    headers: dict[str, str]
    body: bytes

    def document(self) -> dict[str, Any]:
        """The response document, as CloudFormation would parse it."""
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class ResponseBucket:
    """A CONNECT proxy that plays the pre-signed response URL's S3 endpoint."""

    def __init__(self, workdir: Path, host: str = RESPONSE_HOST) -> None:
        self.host = host
        self.puts: list[ResponsePut] = []
        ca = trustme.CA()
        self.ca_file = workdir / "response-bucket-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(host).configure_cert(self._tls)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_proxy(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def proxy_url(self) -> str:
        """For ``HTTPS_PROXY``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def response_url(self, stack_id: str, logical_id: str, request_id: str) -> str:
        """A response URL shaped as CloudFormation's (the signature is a placeholder)."""
        key = f"{stack_id}|{logical_id}|{request_id}".replace(":", "%3A").replace("|", "%7C")
        return (
            f"https://{self.host}/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Date=20261127T120000Z&X-Amz-SignedHeaders=host&X-Amz-Expires=7200"
            "&X-Amz-Credential=AKIAEXAMPLE%2F20261127%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Signature=0000000000000000000000000000000000000000000000000000000000000000"
        )

    def node_environment(self) -> Mapping[str, str]:
        """What a Node.js process needs to send its HTTPS requests here."""
        return {
            "NODE_USE_ENV_PROXY": "1",
            "HTTPS_PROXY": self.proxy_url,
            "NO_PROXY": "127.0.0.1,localhost",
            "NODE_EXTRA_CA_CERTS": str(self.ca_file),
        }

    def start(self) -> ResponseBucket:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_tunnel(self, client: socket.socket) -> None:
        """Read one HTTPS request from the tunnel and answer it as S3 does."""
        with self._tls.wrap_socket(client, server_side=True) as tls, tls.makefile("rb") as reader:
            method, path, _version = reader.readline().decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (line := reader.readline().decode("latin-1").strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = reader.read(int(headers.get("content-length") or 0))
            if method == "PUT":
                self.puts.append(ResponsePut(path=path, headers=headers, body=body))
                status = b"200 OK"
            else:
                status = b"405 Method Not Allowed"
            tls.sendall(
                b"HTTP/1.1 " + status + b'\r\nETag: "0"\r\nContent-Length: 0\r\n'
                b"Connection: close\r\n\r\n"
            )


def _make_proxy(bucket: ResponseBucket) -> type:
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_CONNECT(self) -> None:
            host = self.path.rsplit(":", 1)[0]
            if host != bucket.host:
                self.send_error(403, f"only {bucket.host} is served here")
                return
            self.send_response(200, "Connection Established")
            self.end_headers()
            self.close_connection = True
            bucket.serve_tunnel(self.connection)

    return Proxy
