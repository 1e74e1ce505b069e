"""The AWS services around the lookup on 127.0.0.1: moto in server mode, in this process.

moto (PyPI ``moto[server]``) is a widely used implementation of these APIs; its
server mode speaks each service's real wire protocol, so real boto3 (and any
other SDK) talks to it through ``AWS_ENDPOINT_URL_<SERVICE>``. It runs in a thread
of the test process, so a test can also reach moto's own backends
(``backend("cloudformation")``) to set state that a real account holds but moto
cannot make by itself (for example a stack holding a custom resource, which moto
would run in Docker). A test that does so says so.
"""

from __future__ import annotations

from typing import Any

from moto.backends import get_backend
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
#: The services these tests point at moto (``AWS_ENDPOINT_URL_<NAME>``).
SERVICES = (
    "CLOUDFORMATION",
    "EC2",
    "SSM",
    "EVENTBRIDGE",
    "STS",
    "DYNAMODB",
    "SQS",
    "ORGANIZATIONS",
    "IAM",
)


class MotoServices:
    """moto's server on an ephemeral loopback port."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> MotoServices:
        """Start serving; returns self."""
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def client_environment(self) -> dict[str, str]:
        """Environment that points boto3 (and the AWS CLI, and Node's SDK) at moto."""
        env = {f"AWS_ENDPOINT_URL_{name}": self.url for name in SERVICES}
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            # never look for credentials beyond this machine (instance metadata)
            AWS_EC2_METADATA_DISABLED="true",
        )
        return env

    def reset(self) -> None:
        """Forget every resource in every backend (moto's own reset)."""
        import requests

        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    @staticmethod
    def backend(service: str, account: str = ACCOUNT, region: str = REGION) -> Any:
        """moto's in-process backend of ``service``, to set state moto cannot make itself."""
        return get_backend(service)[account][region]  # type: ignore[call-overload]
