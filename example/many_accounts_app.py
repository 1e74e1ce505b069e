"""Example app across an AWS Organization: one image factory, workload accounts in two regions.

``cdk synth --app "python3 -m example.many_accounts_app"`` synthesizes it. The factory
account builds ``golden-al2023`` in us-east-1 and distributes its AMIs to the workload
accounts in us-east-1 and eu-west-1 (its distribution configuration, not shown). The
factory holds the pin registry and forwards its build events; each workload stack pins
the newest good 1.x.x build, launches from its own AMI in its region, hears of newer
builds, and reports its pin so the factory's lifecycle policy keeps it.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_imagebuilder as imagebuilder
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from constructs_lib import (
    CheckReadRole,
    ImageFactory,
    ImageFactoryEventsPolicy,
    ImageOwner,
    LatestImageBuild,
)

ORGANIZATION_ID = "o-a1b2c3d4e5"
FACTORY_ACCOUNT = "111122223333"
FACTORY_REGION = "us-east-1"
WORKLOAD_ACCOUNTS = ("444455556666", "777788889999")
WORKLOAD_REGIONS = ("us-east-1", "eu-west-1")
IMAGE = "golden-al2023"


class ImageFactoryStack(cdk.Stack):
    """The factory: the pin registry, the forwarding of build events, the lifecycle policy."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        """Define the registry and the lifecycle policy that keeps every pinned build."""
        super().__init__(scope, id, **kwargs)
        ImageFactory(
            self,
            "PinRegistry",
            organization_id=ORGANIZATION_ID,
            distribution_regions=list(WORKLOAD_REGIONS),
            workload_accounts=list(WORKLOAD_ACCOUNTS),
        )
        role = iam.Role(
            self,
            "LifecycleRole",
            assumed_by=iam.ServicePrincipal("imagebuilder.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/EC2ImageBuilderLifecycleExecutionPolicy"
                )
            ],
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:"
                "policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy]",
                reason="Image Builder's lifecycle policies run with this AWS managed policy",
            )
        )
        imagebuilder.CfnLifecyclePolicy(
            self,
            "KeepFiveAndEveryPinnedBuild",
            name=f"{IMAGE}-keep-five",
            execution_role=role.role_arn,
            resource_type="AMI_IMAGE",
            resource_selection=imagebuilder.CfnLifecyclePolicy.ResourceSelectionProperty(
                recipes=[
                    imagebuilder.CfnLifecyclePolicy.RecipeSelectionProperty(
                        name=IMAGE, semantic_version="1.x.x"
                    )
                ]
            ),
            policy_details=[
                imagebuilder.CfnLifecyclePolicy.PolicyDetailProperty(
                    action=imagebuilder.CfnLifecyclePolicy.ActionProperty(type="DELETE"),
                    filter=imagebuilder.CfnLifecyclePolicy.FilterProperty(type="COUNT", value=5),
                    exclusion_rules=ImageFactory.lifecycle_exclusion_rules(),
                )
            ],
        )


class WorkloadStack(cdk.Stack):
    """A workload: pins the factory's golden image and launches from it in its region."""

    def __init__(self, scope: Construct, id: str, *, baseline: bool, **kwargs: Any) -> None:
        """Define the lookup and its consumers; ``baseline`` adds what the account holds once
        (the read-only role of ``latest-image-build check``)."""
        super().__init__(scope, id, **kwargs)
        # once per account and region: the factory's build events may reach this bus
        ImageFactoryEventsPolicy(
            self, "FactoryEvents", organization_id=ORGANIZATION_ID, factory_account=FACTORY_ACCOUNT
        )
        if baseline:
            CheckReadRole(self, "CheckRead", trusted=FACTORY_ACCOUNT)
        golden = LatestImageBuild(
            self,
            "Golden",
            image_name=IMAGE,
            version="1.x.x",
            platform="Linux",
            owner=ImageOwner.SHARED,
            image_account=FACTORY_ACCOUNT,
            region=FACTORY_REGION,  # where the image lives; the AMI is this stack's region's
            protect_pinned_build=True,
        )
        ec2.LaunchTemplate(
            self,
            "Servers",
            machine_image=golden.machine_image(),
            instance_type=ec2.InstanceType("t3.small"),
            require_imdsv2=True,
        )
        golden.on_newer_build("NewerGolden")


def build_app(outdir: str | None = None) -> cdk.App:
    """The factory stack and one workload stack per account and region, checked by cdk-nag."""
    app = cdk.App(outdir=outdir)
    ImageFactoryStack(
        app, "ImageFactory", env=cdk.Environment(account=FACTORY_ACCOUNT, region=FACTORY_REGION)
    )
    for account in WORKLOAD_ACCOUNTS:
        for region in WORKLOAD_REGIONS:
            WorkloadStack(
                app,
                f"Workload-{account}-{region}",
                baseline=region == WORKLOAD_REGIONS[0],  # an IAM role is global: once
                env=cdk.Environment(account=account, region=region),
            )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
