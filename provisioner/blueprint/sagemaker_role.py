"""The SageMaker execution role: trusted by SageMaker alone, allowed what training needs.

Actions follow the SageMaker Developer Guide's "CreateTrainingJob API: Execution Role Permissions"
(S3, CloudWatch Logs and metrics, ECR pull, and the EC2 network-interface and describe actions for
jobs in a VPC). Each is scoped as far as IAM allows; where a choice was made, the statement says
why. ``Describe*``, ``ecr:GetAuthorizationToken`` and ``cloudwatch:PutMetricData`` support no
resource-level permissions and need ``*``.
"""

from __future__ import annotations

import re
from typing import Any

from provisioner import keys
from provisioner.blueprint.common import BlueprintInputs
from provisioner.config import StackConfig
from provisioner.engine.model import Desired, Ref

INLINE_POLICY = "sagemaker-training"
VERSION = "2012-10-17"
_KMS_ARN = re.compile(
    r"arn:(?P<partition>[\w-]+):kms:(?P<region>[\w-]+):(?P<account>\d{12}):(?P<rest>.+)"
)


def role_name(config: StackConfig) -> str:
    """``sagemaker_role_name``, else ``<env>_sagemaker_execution_role``."""
    return config.sagemaker_role_name or f"{config.environment}_sagemaker_execution_role"


def trust_policy(account: str) -> dict[str, Any]:
    """SageMaker only, and only on behalf of this account (the confused-deputy guard)."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


def kms_statement(inputs: BlueprintInputs, key: str) -> dict[str, Any]:
    """What a training job does with the bucket's key: read SSE-KMS objects (Decrypt), write
    them (GenerateDataKey), and encrypt its output, which CreateTrainingJob requires once
    ``OutputDataConfig.KmsKeyId`` is set (Encrypt, DescribeKey).

    The preflight resolves the configured key to its ARN; an alias (left as given only when no
    preflight ran, e.g. for a teardown) is not a resource KMS authorizes against, so it is
    matched through the key's ``kms:ResourceAliases``."""
    actions = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    match = _KMS_ARN.fullmatch(key)
    partition, region, account = inputs.partition, inputs.region, inputs.account
    rest = key
    if match:
        partition, region = match["partition"], match["region"]
        account, rest = match["account"], match["rest"]
    if rest.startswith("alias/"):
        return {
            "Sid": "BucketKmsKey",
            "Effect": "Allow",
            "Action": actions,
            "Resource": f"arn:{partition}:kms:{region}:{account}:key/*",
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": rest}},
        }
    key_id = rest.removeprefix("key/")
    return {
        "Sid": "BucketKmsKey",
        "Effect": "Allow",
        "Action": actions,
        "Resource": f"arn:{partition}:kms:{region}:{account}:key/{key_id}",
    }


def training_policy(inputs: BlueprintInputs, bucket: str) -> dict[str, Any]:
    """The inline permission policy (its VPC condition refers to the stack's VPC by Ref)."""
    p, region, account = inputs.partition, inputs.region, inputs.account
    bucket_arn = f"arn:{p}:s3:::{bucket}"
    ec2 = f"arn:{p}:ec2:{region}:{account}"
    in_region = {"StringEquals": {"aws:RequestedRegion": region}}
    statements: list[dict[str, Any]] = [
        {"Sid": "ListBucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
        {
            "Sid": "BucketObjects",
            "Effect": "Allow",
            # AbortMultipartUpload: SageMaker uploads model artifacts in parts.
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
            "Resource": f"{bucket_arn}/*",
        },
        {
            "Sid": "TrainingLogs",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
            "Resource": f"arn:{p}:logs:{region}:{account}:log-group:/aws/sagemaker/*",
        },
        {
            "Sid": "TrainingMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            # PutMetricData has no resource; its namespace is the one thing to scope.
            "Condition": {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        },
        {
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        {
            "Sid": "EcrPull",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
            ],
            # Any account: SageMaker's prebuilt images live in AWS-owned accounts per region.
            "Resource": f"arn:{p}:ecr:{region}:*:repository/*",
        },
        {
            "Sid": "CreateEniInStackVpc",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterface",
            # The subnet and security groups are resources of the request too; their request
            # context carries ec2:Vpc (SAR, CreateNetworkInterface), so ENIs land only in this
            # stack's VPC.
            "Resource": [f"{ec2}:subnet/*", f"{ec2}:security-group/*"],
            "Condition": {"ArnEquals": {"ec2:Vpc": Ref(keys.VPC, template=f"{ec2}:vpc/{{}}")}},
        },
        {
            "Sid": "CreateEni",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterface",
            # The new interface's own context has no ec2:Vpc (SAR: only aws:RequestTag,
            # aws:TagKeys, ec2:NetworkInterfaceID), so the VPC condition would deny every call.
            "Resource": f"{ec2}:network-interface/*",
        },
        {
            "Sid": "TagEniOnCreate",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            # A dependent action of CreateNetworkInterface (SAR); only as part of that call, as
            # AWS's AmazonSageMakerJobFullAccess grants it.
            "Resource": f"{ec2}:network-interface/*",
            "Condition": {"StringEquals": {"ec2:CreateAction": "CreateNetworkInterface"}},
        },
        {
            "Sid": "ManageTrainingEnis",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
            ],
            # Choice: whether every one of these accepts resource-level scoping for SageMaker's
            # calls could not be verified, and an Allow naming resources an action does not
            # support silently denies it (jobs would fail at run time). The ENIs they act on can
            # only be created in the stack's VPC (above); these are held to the stack's region.
            "Resource": "*",
            "Condition": in_region,
        },
        {
            "Sid": "DescribeNetwork",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
            ],
            "Resource": "*",
            "Condition": in_region,
        },
    ]
    if inputs.config.kms_key_id:
        statements.append(kms_statement(inputs, inputs.config.kms_key_id))
    return {"Version": VERSION, "Statement": statements}


def sagemaker_role(inputs: BlueprintInputs, bucket: str) -> Desired:
    return Desired(
        keys.SAGEMAKER_ROLE,
        "iam_role",
        {
            "name": role_name(inputs.config),
            "path": "/",
            "description": f"SageMaker training jobs of smprov stack {inputs.env}",
            "assume_role_policy": trust_policy(inputs.account),
            "inline_policies": {INLINE_POLICY: training_policy(inputs, bucket)},
            "managed_policy_arns": tuple(inputs.config.managed_policy_arns),
            "max_session_duration": 3600,
            "tags": inputs.tags(keys.SAGEMAKER_ROLE, role_name(inputs.config)),
        },
    )
