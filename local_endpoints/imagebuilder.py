"""A local EC2 Image Builder endpoint speaking the service's rest-json protocol.

Real boto3 talks to it through ``AWS_ENDPOINT_URL_IMAGEBUILDER``, so the SDK's
serialisation, error parsing and HTTP stack are exercised for real. Every
request is checked against the operation's input shape in botocore's service
model; a request that does not fit is answered 400 and recorded in
``shape_violations``.

It serves ListImages, GetImage and ListImageBuildVersions with opaque page
tokens, pages of any length and order, and injectable faults (error codes,
5xx, stalls, hand-written bodies); TagResource and UntagResource change a
build's tags, which GetImage and ListImageBuildVersions then report.
"""

from __future__ import annotations

import functools
import json
import random
import re
import secrets
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import botocore.session
from botocore.model import ListShape, ServiceModel, Shape, StructureShape

from local_endpoints.rate_limit import TokenBucket

REGION = "us-east-1"
ACCOUNT = "123456789012"
OWNER_ACCOUNTS = {
    "Self": ACCOUNT,
    "Shared": "210987654321",
    "Amazon": "aws",
    "ThirdParty": "third-party",
    "AWSMarketplace": "aws-marketplace",
}

#: The throttle Image Builder documents: botocore's model (data/imagebuilder/2019-12-02/
#: service-2.json) lists ``CallRateLimitExceededException`` (``"error": {"httpStatusCode": 429}``)
#: among the errors of 72 of its 77 operations, ListImages, GetImage and ListImageBuildVersions
#: included ("Retry with an increasing or variable delay between requests").
RATE_LIMIT_CODE = "CallRateLimitExceededException"

#: An answer: HTTP status and a JSON object, or raw bytes to send as they are.
Reply = tuple[int, Any]


def arn_name(name: str) -> str:
    """The name segment of an image ARN: lowercase, spaces as hyphens.

    The AWS CLI's ``list-images`` example lists "Amazon Linux 2 x86" under
    ``arn:aws:imagebuilder:us-west-2:aws:image/amazon-linux-2-x86/2019.12.3``-style
    ARNs, and botocore's ``ImageVersionArn`` pattern admits ``[a-z0-9-_]+`` there.
    """
    return name.lower().replace(" ", "-")


@dataclass
class FakeBuild:
    """One build (``/n``) of an image version."""

    number: int
    state: str = "AVAILABLE"
    date_created: str = "2026-01-01T00:00:00.000Z"
    amis: list[dict[str, Any]] | None = None
    containers: list[dict[str, Any]] | None = None
    #: Image (ImageSummary) ``tags``: both GetImage and ListImageBuildVersions return them
    #: (botocore's model: Image.tags, ImageSummary.tags).
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeImageVersion:
    """One version (``1.2.3``) of a named image with its builds."""

    name: str
    version: str
    owner: str = "Self"
    builds: list[FakeBuild] = field(default_factory=lambda: [FakeBuild(1)])
    image_type: str = "AMI"
    platform: str = "Linux"
    os_version: str = "Amazon Linux 2023"
    region: str = REGION
    #: The owning account, when not the owner's usual one: ListImages with owner Shared
    #: (or ThirdParty, AWSMarketplace) lists every account's images that the caller can
    #: see, each version with its ``owner`` account (botocore's model: ImageVersion.owner).
    owner_account: str | None = None

    @property
    def account(self) -> str:
        return self.owner_account or OWNER_ACCOUNTS[self.owner]

    @property
    def arn(self) -> str:
        return (
            f"arn:aws:imagebuilder:{self.region}:{self.account}:image/"
            f"{arn_name(self.name)}/{self.version}"
        )

    def build_arn(self, build: FakeBuild) -> str:
        return f"{self.arn}/{build.number}"

    def listing_entry(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "name": self.name,
            "type": self.image_type,
            "version": self.version,
            "platform": self.platform,
            "osVersion": self.os_version,
            "owner": self.account if self.owner != "Amazon" else "Amazon",
            "dateCreated": self.builds[0].date_created if self.builds else "",
            "buildType": "USER_INITIATED",
        }

    def image(self, build: FakeBuild) -> dict[str, Any]:
        if build.amis is not None:
            amis = build.amis
        elif self.image_type == "AMI":
            amis = [
                {
                    "region": self.region,
                    "image": f"ami-{abs(hash((self.arn, build.number))) % 16**17:017x}",
                    "name": f"{self.name} {self.version}/{build.number}",
                    "accountId": self.account if self.account.isdigit() else ACCOUNT,
                    "state": {"status": build.state},
                }
            ]
        else:
            amis = []
        if build.containers is not None:
            containers = build.containers
        elif self.image_type == "DOCKER":
            containers = [
                {
                    "region": self.region,
                    "imageUris": [
                        f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/"
                        f"{arn_name(self.name)}:{self.version}-{build.number}"
                    ],
                }
            ]
        else:
            containers = []
        return {
            "arn": self.build_arn(build),
            "name": self.name,
            "type": self.image_type,
            "version": f"{self.version}/{build.number}",
            "platform": self.platform,
            "osVersion": self.os_version,
            "owner": self.account,
            "state": {"status": build.state},
            "dateCreated": build.date_created,
            "outputResources": {"amis": amis, "containers": containers},
            "buildType": "USER_INITIATED",
            "tags": dict(build.tags),
        }


@dataclass
class RecordedCall:
    """A request as the fake received it: operation, parameters and HTTP method/path."""

    operation: str
    params: dict[str, Any]
    method: str
    path: str


class FakeImageBuilder:
    """In-memory Image Builder state plus an HTTP server on 127.0.0.1."""

    def __init__(
        self, *, rate_limit_tps: float | None = None, rate_limit_burst: float | None = None
    ) -> None:
        """``rate_limit_tps``: answer calls over that rate with a throttle (a TokenBucket)."""
        self.images: list[FakeImageVersion] = []
        #: Owner of the versions ``add`` creates unless told otherwise.
        self.default_owner = "Self"
        #: Longest page served, whatever maxResults asks (short pages are legal).
        self.page_size = 100
        #: Callable giving each page's length; overrides page_size when set.
        self.page_lengths: Callable[[int], int] | None = None
        self.shuffle = False
        #: Serve a prefix match for the name filter, as a sloppy wildcard would.
        self.sloppy_name_filter = False
        #: Serve ListImages as if the platform / osVersion / type / version filters were absent.
        self.ignore_other_filters = False
        self._rewrites: dict[str, Callable[[dict[str, Any], Reply], Reply]] = {}
        self.calls: list[RecordedCall] = []
        self.shape_violations: list[str] = []
        #: The account-wide rate limit (``rate_limit.TokenBucket``).
        self._rate_limit = TokenBucket(rate_limit_tps, rate_limit_burst)
        #: Calls answered with the throttle because of ``rate_limit_tps``.
        self.throttled = 0
        self._faults: dict[str, deque[Callable[[dict[str, Any]], Reply | None]]] = defaultdict(
            deque
        )
        self._listings: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._lock = threading.Lock()
        self._rng = random.Random(1234)
        self._model = _service_model()
        self._routes = {
            (op.http["method"], op.http["requestUri"].split("?")[0]): op.name
            for op in (self._model.operation_model(name) for name in self._model.operation_names)
        }
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ----- life cycle -------------------------------------------------------------------
    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def client_environment(self) -> dict[str, str]:
        """Environment variables that point boto3 (in any process) at this endpoint."""
        return {
            "AWS_ENDPOINT_URL_IMAGEBUILDER": self.url,
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def start(self) -> FakeImageBuilder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ----- state and faults ------------------------------------------------------------
    def add(self, name: str, version: str, *states: str, **kwargs: Any) -> FakeImageVersion:
        """Add a version whose builds 1..n have the given states (default one AVAILABLE)."""
        builds = [
            FakeBuild(number, state) for number, state in enumerate(states or ("AVAILABLE",), 1)
        ]
        kwargs.setdefault("owner", self.default_owner)
        image = FakeImageVersion(name=name, version=version, builds=builds, **kwargs)
        self.images.append(image)
        return image

    def fail_next(
        self, operation: str, count: int, code: str = "ThrottlingException", status: int = 429
    ) -> None:
        """Answer the next ``count`` calls of ``operation`` with an error."""
        for _ in range(count):
            self.inject(operation, lambda _params: (status, _error_body(code)))

    def stall_next(self, operation: str, count: int, seconds: float) -> None:
        """Hold the next ``count`` calls of ``operation`` for ``seconds`` before answering."""

        def stall(_params: dict[str, Any]) -> None:
            time.sleep(seconds)

        for _ in range(count):
            self.inject(operation, stall)

    def inject(self, operation: str, fault: Callable[[dict[str, Any]], Reply | None]) -> None:
        """Queue a fault: it may answer the call itself or return None to let it through."""
        self._faults[operation].append(fault)

    def rewrite_answers(
        self, operation: str, rewrite: Callable[[dict[str, Any], Reply], Reply]
    ) -> None:
        """Pass every answer of ``operation`` through ``rewrite(params, reply)`` from now on."""
        self._rewrites[operation] = rewrite

    def always(self, operation: str, fault: Callable[[dict[str, Any]], Reply | None]) -> None:
        """Apply ``fault`` to every call of ``operation`` from now on."""
        self._faults[operation] = _Forever(fault)

    def count(self, operation: str | None = None) -> int:
        """Calls received, of one operation or of all."""
        return sum(1 for call in self.calls if operation in (None, call.operation))

    def counts(self) -> Counter[str]:
        return Counter(call.operation for call in self.calls)

    # ----- request handling ------------------------------------------------------------
    def handle(self, method: str, raw_path: str, body: bytes) -> Reply:
        parsed = urlparse(raw_path)
        operation = self._routes.get((method, parsed.path))
        path_params: dict[str, str] = {}
        if operation is None:
            operation, path_params = _templated_route(method, parsed.path)
        if operation is None:
            return 404, _error_body("UnknownOperationException", f"{method} {parsed.path}")
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            return 400, _error_body("SerializationException", "body is not JSON")
        params.update(path_params)
        for key, values in parse_qs(parsed.query).items():
            params[key] = values if _is_list_member(operation, key) else values[0]
        with self._lock:
            self.calls.append(RecordedCall(operation, params, method, parsed.path))
            problems = self._check_shape(operation, params, parsed.query)
            if problems:
                self.shape_violations.extend(problems)
                return 400, _error_body("ValidationException", "; ".join(problems))
            if not self._rate_limit.admit():
                self.throttled += 1
                return 429, _error_body(RATE_LIMIT_CODE, "Rate exceeded")
            queue = self._faults.get(operation)
            fault = queue.popleft() if queue else None
        if fault is not None:
            reply = fault(params)
            if reply is not None:
                return reply
        with self._lock:
            handler = {
                "ListImages": self._list_images,
                "ListImageBuildVersions": self._list_image_build_versions,
                "GetImage": self._get_image,
                "TagResource": self._tag_resource,
                "UntagResource": self._untag_resource,
            }.get(operation)
            if handler is None:
                return 400, _error_body("InvalidRequestException", f"{operation} not faked")
            reply = handler(params)
            rewrite = self._rewrites.get(operation)
            return rewrite(params, reply) if rewrite is not None else reply

    def _check_shape(self, operation: str, params: dict[str, Any], query: str) -> list[str]:
        shape = self._model.operation_model(operation).input_shape
        assert isinstance(shape, StructureShape)
        problems = []
        for name in shape.required_members:
            if name not in params:
                problems.append(f"{operation}: missing required {name}")
        for name, value in params.items():
            member = shape.members.get(name)
            if member is None:
                problems.append(f"{operation}: unknown member {name}")
                continue
            location = member.serialization.get("location")
            if location == "querystring" and f"{name}=" not in query:
                problems.append(f"{operation}: {name} belongs in the query string")
            problems.extend(_check_value(f"{operation}.{name}", member, value))
        return problems

    def _visible(self, owner: str, include_deprecated: bool) -> list[FakeImageVersion]:
        visible = []
        for image in self.images:
            if image.owner != owner:
                continue
            deprecated_only = image.builds and all(b.state == "DEPRECATED" for b in image.builds)
            if deprecated_only and owner != "Self" and not include_deprecated:
                continue
            visible.append(image)
        return visible

    def _list_images(self, params: dict[str, Any]) -> Reply:
        if "nextToken" in params:
            return self._next_page(params, "imageVersionList")
        filters = {f["name"]: f["values"][0] for f in params.get("filters", [])}
        entries = []
        for image in self._visible(
            params.get("owner", "Self"), bool(params.get("includeDeprecated"))
        ):
            if not self._name_matches(filters.get("name"), image.name):
                continue
            if not self.ignore_other_filters and any(
                filters.get(key) not in (None, value)
                for key, value in (
                    ("platform", image.platform),
                    ("osVersion", image.os_version),
                    ("type", image.image_type),
                    ("version", image.version),
                )
            ):
                continue
            entries.append(image.listing_entry())
        return self._first_page(params, entries, "imageVersionList")

    def _list_image_build_versions(self, params: dict[str, Any]) -> Reply:
        if "nextToken" in params:
            return self._next_page(params, "imageSummaryList")
        arn = params.get("imageVersionArn", "")
        summaries = [
            image.image(build)
            for image in self.images
            if image.arn == arn and image.owner == "Self"
            for build in image.builds
        ]
        return self._first_page(params, summaries, "imageSummaryList")

    def _get_image(self, params: dict[str, Any]) -> Reply:
        arn = params["imageBuildVersionArn"]
        if re.search(r"/(\d+|x)\.(\d+|x)\.(\d+|x)$", arn) and "x" in arn.rsplit("/", 1)[1]:
            return self._get_image_by_wildcard(arn)
        for image in self.images:
            if arn.startswith(image.arn + "/"):
                for build in image.builds:
                    if image.build_arn(build) == arn:
                        return 200, {"requestId": _request_id(), "image": image.image(build)}
            if arn == image.arn:
                available = [b for b in image.builds if b.state == "AVAILABLE"]
                if available:
                    newest = max(available, key=lambda b: b.number)
                    return 200, {"requestId": _request_id(), "image": image.image(newest)}
        return 404, _error_body("ResourceNotFoundException", f"image {arn} not found")

    def _get_image_by_wildcard(self, arn: str) -> Reply:
        """``.../image/name/1.x.x``: the newest AVAILABLE build of the highest matching version.

        GetImage API reference (and ``aws imagebuilder get-image help``),
        ``imageBuildVersionArn``: a version or wildcard ARN "resolves to the latest
        matching build version that has reached AVAILABLE status"; deprecated, disabled
        or deleted builds do not resolve.
        """
        prefix, selector = arn.rsplit("/", 1)
        wanted = selector.split(".")
        resolvable = [
            (tuple(map(int, image.version.split("."))), build.number, image, build)
            for image in self.images
            if image.arn.rsplit("/", 1)[0] == prefix
            and all(
                w == "x" or int(w) == int(v)
                for w, v in zip(wanted, image.version.split("."), strict=True)
            )
            for build in image.builds
            if build.state == "AVAILABLE"
        ]
        if not resolvable:
            return 404, _error_body("ResourceNotFoundException", f"image {arn} not found")
        *_, image, build = max(resolvable, key=lambda found: found[:2])
        return 200, {"requestId": _request_id(), "image": image.image(build)}

    def _tag_resource(self, params: dict[str, Any]) -> Reply:
        """TagResource API reference: adds the tags (a key already there takes the new value)."""
        found = self._taggable(params["resourceArn"])
        if isinstance(found, FakeBuild):
            found.tags.update(params["tags"])
            return 200, {}
        return found

    def _untag_resource(self, params: dict[str, Any]) -> Reply:
        """UntagResource API reference: removes the keys; a key the resource lacks is no error."""
        found = self._taggable(params["resourceArn"])
        if isinstance(found, FakeBuild):
            for key in params["tagKeys"]:
                found.tags.pop(key, None)
            return 200, {}
        return found

    def _taggable(self, arn: str) -> FakeBuild | Reply:
        """The build an image ARN names, or the error a tag call on it gets."""
        for image in self.images:
            for build in image.builds:
                if image.build_arn(build) == arn:
                    if image.owner != "Self":
                        # Another account's image: IAM allows a cross-account call only
                        # through a resource policy, and image policies share reads only.
                        return 403, _error_body("AccessDeniedException", f"cannot tag {arn}")
                    return build
        return 404, _error_body("ResourceNotFoundException", f"resource {arn} not found")

    def _name_matches(self, wanted: str | None, name: str) -> bool:
        if wanted is None:
            return True
        if self.sloppy_name_filter:
            return name.startswith(wanted.rstrip("*")[:3])
        if wanted.endswith("*"):
            return name.startswith(wanted[:-1])
        return name == wanted

    def _first_page(self, params: dict[str, Any], items: list[dict[str, Any]], key: str) -> Reply:
        if self.shuffle:
            self._rng.shuffle(items)
        listing_id = secrets.token_urlsafe(8)
        self._listings[listing_id] = (items, 0)
        return self._page(listing_id, params, key)

    def _next_page(self, params: dict[str, Any], key: str) -> Reply:
        listing_id = params["nextToken"].split(".")[0]
        if listing_id not in self._listings:
            return 400, _error_body("InvalidPaginationTokenException", "token expired")
        return self._page(listing_id, params, key, offset=int(params["nextToken"].split(".")[1]))

    def _page(self, listing_id: str, params: dict[str, Any], key: str, offset: int = 0) -> Reply:
        items, _ = self._listings[listing_id]
        limit = min(params.get("maxResults", 25), self.page_size)
        if self.page_lengths is not None:
            limit = min(limit, self.page_lengths(offset))
        page = items[offset : offset + limit]
        reply: dict[str, Any] = {"requestId": _request_id(), key: page}
        if offset + limit < len(items):
            reply["nextToken"] = f"{listing_id}.{offset + limit}.{secrets.token_hex(4)}"
        return 200, reply


class _Forever(deque):  # type: ignore[type-arg]
    """A fault queue that never empties."""

    def __init__(self, fault: Callable[[dict[str, Any]], Reply | None]) -> None:
        super().__init__([fault])

    def popleft(self) -> Callable[[dict[str, Any]], Reply | None]:
        return self[0]  # type: ignore[no-any-return]


def _check_value(where: str, shape: Shape, value: Any) -> list[str]:
    kind = shape.type_name
    expected = {
        "string": str,
        "integer": int,
        "boolean": bool,
        "list": list,
        "structure": dict,
    }.get(kind)
    from_query_string = kind in ("integer", "boolean") and isinstance(value, str)
    if expected is not None and not isinstance(value, expected) and not from_query_string:
        return [f"{where}: expected {kind}, got {type(value).__name__}"]
    problems: list[str] = []
    if kind == "integer" and isinstance(value, int):
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            problems.append(f"{where}: {value} outside {low}..{high}")
    if kind == "string" and isinstance(value, str):
        pattern = shape.metadata.get("pattern")
        if pattern and not re.search(pattern, value):
            problems.append(f"{where}: {value!r} does not match {pattern}")
        if "enum" in shape.metadata and value not in shape.metadata["enum"]:
            problems.append(f"{where}: {value!r} not in {shape.metadata['enum']}")
    if kind == "list" and isinstance(value, list):
        assert isinstance(shape, ListShape)
        for item in value:
            problems.extend(_check_value(f"{where}[]", shape.member, item))
    if kind == "structure" and isinstance(value, dict):
        assert isinstance(shape, StructureShape)
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None:
                problems.append(f"{where}: unknown member {name}")
            else:
                problems.extend(_check_value(f"{where}.{name}", member, item))
    return problems


@functools.lru_cache(maxsize=1)
def _templated_routes() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(HTTP method, path pattern, operation) of the operations with ``{labels}`` in their URI."""
    model = _service_model()
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http["requestUri"].split("?")[0]
        if "{" in uri:
            pattern = re.sub(
                r"\\{(\w+)(\\\+)?\\}",
                lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})",
                re.escape(uri),
            )
            routes.append((http["method"], re.compile(f"^{pattern}$"), name))
    return tuple(routes)


def _templated_route(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    """The operation a path with URI labels (``/tags/{resourceArn}``) names, and the labels.

    botocore percent-encodes a label's value, ``/`` and ``:`` included (serialize.py,
    ``_render_uri_template``).
    """
    for route_method, pattern, name in _templated_routes():
        match = pattern.match(path)
        if route_method == method and match:
            return name, {key: unquote(value) for key, value in match.groupdict().items()}
    return None, {}


def _is_list_member(operation: str, key: str) -> bool:
    """Whether a query-string member is a list (``tagKeys=a&tagKeys=b``)."""
    shape = _service_model().operation_model(operation).input_shape
    member = shape.members.get(key) if shape is not None else None
    return member is not None and member.type_name == "list"


@functools.lru_cache(maxsize=1)
def _service_model() -> ServiceModel:
    """botocore's Image Builder model, the reference every request is checked against."""
    return botocore.session.get_session().get_service_model("imagebuilder")


def _request_id() -> str:
    return secrets.token_hex(16)


def _error_body(code: str, message: str = "fault injected") -> dict[str, Any]:
    return {"__error__": code, "message": message}


def _make_handler(fake: FakeImageBuilder) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = fake.handle(self.command, self.path, body)
            code = payload.get("__error__") if isinstance(payload, dict) else None
            if code:
                payload = {k: v for k, v in payload.items() if k != "__error__"}
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", _request_id())
                if code:
                    self.send_header("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/")
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = _serve  # noqa: N815 - http.server dispatches on these names
        do_POST = _serve  # noqa: N815
        do_DELETE = _serve  # noqa: N815

    return Handler
