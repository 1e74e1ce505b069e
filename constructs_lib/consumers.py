"""The pin as EC2 and ECS want it: an ``IMachineImage`` and an ECS ``ContainerImage``."""

from __future__ import annotations

import jsii
from aws_cdk import Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib._compliance import IAM5, acknowledge_role_finding

#: What a task's execution role needs to pull from ECR (the actions of aws-cdk-lib's own
#: ``Repository.grantPull``).
ECR_PULL_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
]


@jsii.implements(ec2.IMachineImage)
class PinnedMachineImage:
    """The pinned build's AMI in the stack's region, for instances, launch templates, ASGs."""

    def __init__(
        self,
        image_id: str,
        os_type: ec2.OperatingSystemType,
        user_data: ec2.UserData | None = None,
    ) -> None:
        self._image_id = image_id
        self._os_type = os_type
        self._user_data = user_data

    def get_image(self, scope: Construct) -> ec2.MachineImageConfig:
        """The AMI id, OS type and user data (by default, as aws-cdk-lib's generic images)."""
        return ec2.MachineImageConfig(
            image_id=self._image_id,
            os_type=self._os_type,
            user_data=self._user_data or ec2.UserData.for_operating_system(self._os_type),
        )


class PinnedContainerImage(ecs.ContainerImage):
    """The pinned build's container image URI, with what a task needs to pull it.

    Image Builder distributes container images to ECR; the URI
    (``<registry id>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>``) names the
    registry's account and region, so the task's execution role may pull from that
    registry: ``ecr:GetAuthorizationToken`` (which IAM grants only on ``*``) and the
    three pull actions on ``repository/*`` there. The repository name is known only at
    deploy, and may contain ``/``, so it cannot be cut out of the URI in the template.
    """

    def __init__(self, image_uri: str) -> None:
        super().__init__()
        self._image_uri = image_uri

    def bind(
        self, scope: Construct, container_definition: ecs.ContainerDefinition
    ) -> ecs.ContainerImageConfig:
        """Grant the pull to the task's execution role; name the image."""
        role = container_definition.task_definition.obtain_execution_role()
        host = Fn.select(0, Fn.split("/", self._image_uri))
        registry_account = Fn.select(0, Fn.split(".", host))
        registry_region = Fn.select(3, Fn.split(".", host))
        repositories = Stack.of(scope).format_arn(
            service="ecr",
            account=registry_account,
            region=registry_region,
            resource="repository",
            resource_name="*",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=ECR_PULL_ACTIONS, resources=[repositories])
        )
        for finding, reason in (
            ("Resource::*", "ecr:GetAuthorizationToken has no resource type"),
            (
                f"Resource::{repositories}",
                "the pinned image's repository is known only at deploy time; the grant "
                "is scoped to the registry (account and region) its URI names",
            ),
        ):
            acknowledge_role_finding(role, IAM5, finding, reason)
        return ecs.ContainerImageConfig(image_name=self._image_uri)
