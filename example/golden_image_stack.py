"""The example stack: two lookups, a recipe and pipeline pinned to one, the account's pin
registry, a lifecycle policy that keeps every pinned build, and stack outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Aws, CfnOutput, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_imagebuilder as imagebuilder
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib import ImageFactory, ImageOwner, LatestImageBuild

#: The AWS Organization whose accounts may report pins to this account's registry: yours.
ORGANIZATION_ID = "o-a1b2c3d4e5"


class GoldenImagePipelineStack(Stack):
    """Builds the team's golden image on top of the newest Amazon Linux 2023 build."""

    def __init__(
        self, scope: Construct, id: str, *, protect_pinned_build: bool = True, **kwargs: Any
    ) -> None:
        """Define the lookups, the pipeline, the lifecycle policy and the outputs.

        :param protect_pinned_build: the golden lookup reports the build it pins to the
            account's pin registry (``ImageFactory``, which this stack holds: it builds the
            golden image), and the stack adds a lifecycle policy that keeps every build the
            registry marks (default True). Lock mode refuses it (no deploy resolves a locked
            pin, so nothing would report it): the locked app passes False, and then gets no
            lifecycle policy, which would otherwise delete the builds its lock pins.
        """
        super().__init__(scope, id, **kwargs)

        base = LatestImageBuild(
            self,
            "BaseImage",
            image_name="amazon-linux-2023-x86",  # or its listed name, "Amazon Linux 2023 x86"
            version="x.x.x",
            owner=ImageOwner.AMAZON,
            refresh_on_every_deploy=False,
        )
        golden = LatestImageBuild(
            self,
            "GoldenImage",
            image_name="golden-al2023",
            version="1.x.x",
            platform="Linux",
            refresh_on_every_deploy=False,
            protect_pinned_build=protect_pinned_build,
        )
        # The golden image, where people launch it: a launch template, and an SSM parameter
        # (data type aws:ec2:image) for tools that are not CloudFormation.
        ec2.LaunchTemplate(
            self,
            "GoldenLaunchTemplate",
            machine_image=golden.machine_image(),
            instance_type=ec2.InstanceType("t4g.small"),
            require_imdsv2=True,
        )
        golden.publish_parameter("/golden-al2023/latest/ami", description="newest golden AMI")
        # Hear when a newer golden build qualifies (the next deploy would pin it): an event
        # to an encrypted SNS topic, to subscribe a team or a deploy pipeline to.
        golden_updates = sns.Topic(
            self,
            "GoldenUpdates",
            master_key=kms.Key(self, "GoldenUpdatesKey", enable_key_rotation=True),
            enforce_ssl=True,
        )
        golden.on_newer_build("NewerGolden", target=targets.SnsTopic(golden_updates))

        # A recipe is immutable: a newly pinned parent replaces it, and CloudFormation
        # creates the replacement before deleting the old one. With the wildcard version
        # "1.0.x" Image Builder gives each new recipe the next patch number after the
        # latest existing one, so the replacement never collides (see the README).
        recipe = imagebuilder.CfnImageRecipe(
            self,
            "Recipe",
            name=f"golden-al2023-{Aws.STACK_NAME}",
            version="1.0.x",
            parent_image=base.image_build_version_arn,
            components=[
                imagebuilder.CfnImageRecipe.ComponentConfigurationProperty(
                    component_arn=f"arn:{Aws.PARTITION}:imagebuilder:{Aws.REGION}:aws:component/update-linux/x.x.x"
                )
            ],
        )

        instance_role = iam.Role(
            self,
            "BuildInstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore"),
                iam.ManagedPolicy.from_aws_managed_policy_name("EC2InstanceProfileForImageBuilder"),
            ],
        )
        for policy in ("AmazonSSMManagedInstanceCore", "EC2InstanceProfileForImageBuilder"):
            Validations.of(instance_role).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}]",
                    reason="Image Builder build instances need this AWS managed policy (SSM "
                    "agent and Image Builder components); AWS keeps it current",
                )
            )
        instance_profile = iam.CfnInstanceProfile(
            self, "BuildInstanceProfile", roles=[instance_role.role_name]
        )
        infrastructure = imagebuilder.CfnInfrastructureConfiguration(
            self,
            "BuildInfrastructure",
            name=f"golden-al2023-{Aws.STACK_NAME}",
            instance_profile_name=instance_profile.ref,
            terminate_instance_on_failure=True,
        )
        pipeline = imagebuilder.CfnImagePipeline(
            self,
            "Pipeline",
            name=f"golden-al2023-{Aws.STACK_NAME}",
            image_recipe_arn=recipe.attr_arn,
            infrastructure_configuration_arn=infrastructure.attr_arn,
            status="ENABLED",
        )

        if protect_pinned_build:
            # the golden image's factory keeps the registry every protected lookup reports to
            ImageFactory(self, "PinRegistry", organization_id=ORGANIZATION_ID)
            self._keep_pinned_golden_builds()

        for prefix, lookup in (("Base", base), ("Golden", golden)):
            CfnOutput(self, f"{prefix}ImageBuildArn", value=lookup.image_build_version_arn)
            CfnOutput(self, f"{prefix}ImageVersion", value=lookup.version)
            CfnOutput(self, f"{prefix}ImageAmi", value=lookup.ami_id)
        CfnOutput(self, "PipelineArn", value=pipeline.attr_arn)

    def _keep_pinned_golden_builds(self) -> None:
        """Delete all but the five newest golden builds (and their AMIs and snapshots),
        except every build a lookup protects, whichever stack pins it: one policy serves
        the account's golden builds, here and in the rollout stack."""
        lifecycle_role = iam.Role(
            self,
            "LifecycleRole",
            assumed_by=iam.ServicePrincipal("imagebuilder.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/EC2ImageBuilderLifecycleExecutionPolicy"
                )
            ],
        )
        Validations.of(lifecycle_role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:"
                "policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy]",
                reason="Image Builder's lifecycle policies run with this AWS managed service "
                "role policy, which acts only on resources Image Builder created",
            )
        )
        imagebuilder.CfnLifecyclePolicy(
            self,
            "GoldenLifecycle",
            name=f"golden-al2023-keep-five-{Aws.STACK_NAME}",
            description="Keep the five newest golden-al2023 builds and every pinned one",
            execution_role=lifecycle_role.role_arn,
            resource_type="AMI_IMAGE",
            resource_selection=imagebuilder.CfnLifecyclePolicy.ResourceSelectionProperty(
                recipes=[
                    # the image the golden lookups pin (image_name, version)
                    imagebuilder.CfnLifecyclePolicy.RecipeSelectionProperty(
                        name="golden-al2023", semantic_version="1.x.x"
                    )
                ]
            ),
            policy_details=[
                imagebuilder.CfnLifecyclePolicy.PolicyDetailProperty(
                    action=imagebuilder.CfnLifecyclePolicy.ActionProperty(
                        type="DELETE",
                        include_resources=imagebuilder.CfnLifecyclePolicy.IncludeResourcesProperty(
                            amis=True, snapshots=True
                        ),
                    ),
                    filter=imagebuilder.CfnLifecyclePolicy.FilterProperty(type="COUNT", value=5),
                    # skips every build (image tagMap) and AMI (AMI tagMap) the registry
                    # marks while a lookup with protect_pinned_build=True pins it
                    exclusion_rules=ImageFactory.lifecycle_exclusion_rules(),
                )
            ],
        )
