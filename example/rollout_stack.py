"""The example rollout: an Auto Scaling group on the pinned golden AMI, refreshed on deploy.

When a deploy moves the pin, the launch template gets a new version, the group's
``LaunchTemplate.Version`` changes, and CloudFormation's ``AutoScalingInstanceRefresh``
update policy replaces the instances in steps (checkpoints, then a bake time) while an
alarm watches them. If the alarm fires, the refresh fails, the stack update fails and
CloudFormation rolls back: the lookup answers with the build the stack had before, the
launch template returns to the previous AMI, and CloudFormation refreshes the group
again with the update policy of the template it rolls back to.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Aws, CfnResource, Duration, Stack, Validations
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from constructs_lib import LatestImageBuild

#: Instances the group keeps; a refresh launches replacements before it terminates (100-200%).
CAPACITY = 2


class RolloutStack(Stack):
    """An application's Auto Scaling group that follows the golden image pin."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        """Define the network, the pin, the launch template, the group and its alarm."""
        super().__init__(scope, id, **kwargs)

        golden = LatestImageBuild(
            self,
            "GoldenImage",
            image_name="golden-al2023",
            version="1.x.x",
            platform="Linux",
            # the build the group runs on, and the one a rollback returns to, outlive the
            # golden lifecycle policy (example/golden_image_stack.py)
            protect_pinned_build=True,
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
            ],
        )
        vpc.add_flow_log("FlowLog")
        _drop_depends_on_own_role(self)  # aws-cdk-lib's provider for restricting the default SG

        template = ec2.LaunchTemplate(
            self,
            "AppTemplate",
            machine_image=golden.machine_image(),  # the AMI itself, not an SSM parameter
            instance_type=ec2.InstanceType("t3.small"),
            require_imdsv2=True,
            detailed_monitoring=True,  # EC2 metrics per Auto Scaling group, for the alarm
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",  # Amazon Linux 2023's root device
                    volume=ec2.BlockDeviceVolume.ebs(
                        20, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )
        # The group's name is fixed here (per stack) so the alarm can name it without
        # a reference to the group, which refers to the alarm in its update policy.
        group_name = f"{Aws.STACK_NAME}-app"
        # A new AMI that does not boot fails its status checks: that fails the refresh.
        unhealthy = cloudwatch.Alarm(
            self,
            "InstancesUnhealthy",
            metric=cloudwatch.Metric(
                namespace="AWS/EC2",
                metric_name="StatusCheckFailed",
                dimensions_map={"AutoScalingGroupName": group_name},
                statistic="Maximum",
                period=Duration.minutes(1),
            ),
            threshold=1,
            evaluation_periods=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        group = autoscaling.AutoScalingGroup(
            self,
            "AppGroup",
            auto_scaling_group_name=group_name,
            vpc=vpc,
            launch_template=template,  # pinned to the template's LatestVersionNumber
            min_capacity=CAPACITY,
            max_capacity=CAPACITY * 2,
            update_policy=autoscaling.UpdatePolicy.instance_refresh(
                strategy=autoscaling.InstanceRefreshStrategy.ROLLING,
                min_healthy_percentage=100,  # launch before terminate
                max_healthy_percentage=200,
                instance_warmup=Duration.minutes(3),
                checkpoint_percentages=[50, 100],  # half the group first, then pause
                checkpoint_delay=Duration.minutes(10),
                bake_time=Duration.minutes(15),  # watch the alarm after the last instance
                alarms=[unhealthy],
            ),
        )
        Validations.of(group).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-AS3",
                reason="the rollout is watched by the instance refresh's alarm, which fails "
                "and rolls back the deploy; per-instance scaling notifications are the "
                "application team's choice, not part of this example",
            )
        )


def _drop_depends_on_own_role(stack: Stack) -> None:
    """Keep cfn-lint clean (W3005) where aws-cdk-lib makes a function depend on its role twice.

    aws-cdk-lib's custom resource providers (here the one that restricts the VPC's default
    security group) name their role, a sibling construct, in the function's ``Role``
    (``Fn::GetAtt``) and again in ``DependsOn``; the ``Fn::GetAtt`` alone orders them.
    """
    for function in stack.node.find_all():
        if not (
            isinstance(function, CfnResource)
            and function.cfn_resource_type == "AWS::Lambda::Function"
            and function.node.scope is not None
        ):
            continue
        siblings = function.node.scope.node.children
        for dependency in function.obtain_dependencies():
            if (
                isinstance(dependency, CfnResource)
                and dependency.cfn_resource_type == "AWS::IAM::Role"
                and any(dependency.node.path == sibling.node.path for sibling in siblings)
            ):
                function.remove_resource_dependency(dependency)
