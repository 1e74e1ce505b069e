"""boto3 clients acting in one moto account and region: its default event bus, rules whose
targets are SQS queues to read, and PutEvents of events as rules see them. Another account
than moto's default is reached with STS AssumeRole credentials, which act in the role's
account (moto keeps one backend per account)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3

from local_endpoints.moto_services import ACCOUNT, MotoServices


class Account:
    """boto3 clients acting in one moto account (AssumeRole credentials) and region."""

    def __init__(self, moto: MotoServices, account: str, region: str) -> None:
        options: dict[str, Any] = {
            "endpoint_url": moto.url,
            "region_name": region,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        if account != ACCOUNT:  # moto's default account needs no role
            credentials = boto3.client("sts", **options).assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/test", RoleSessionName="test"
            )["Credentials"]
            options.update(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        self.account, self.region = account, region
        self.events = boto3.client("events", **options)
        self.sqs = boto3.client("sqs", **options)

    def queue(self) -> tuple[str, str]:
        """A new queue's URL and ARN."""
        url: str = self.sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        arn: str = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return url, arn

    def rule(self, pattern: dict[str, Any], targets: list[dict[str, Any]] | None = None) -> str:
        """A rule on the default bus with ``pattern``, ``targets`` and a queue; the queue's URL."""
        name = f"rule-{uuid.uuid4().hex[:12]}"
        url, arn = self.queue()
        self.events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}, *(targets or [])])
        return url

    def put(self, event: dict[str, Any]) -> None:
        """PutEvents of ``event``'s fields (EventBridge sets ``account`` to this account)."""
        answer = self.events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )
        assert answer["FailedEntryCount"] == 0, answer

    def received(self, url: str) -> list[dict[str, Any]]:
        """The events a rule delivered to the queue at ``url``."""
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        return [json.loads(message["Body"]) for message in messages]
