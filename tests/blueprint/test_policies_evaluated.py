"""Every policy the blueprint writes, evaluated as IAM evaluates it (tests/iam), against the
requests that really happen: a SageMaker training job in VPC mode on this stack, the services
assuming the two roles, flow-log delivery, and requests to the bucket.

Each request names the resources the Service Authorization Reference (SAR) lists for its action,
each with only the condition keys the SAR lists for that action and resource type. Which calls a
training job makes: SageMaker Developer Guide, "CreateTrainingJob API: Execution Role
Permissions" and "Give SageMaker Training Jobs Access to Resources in Your Amazon VPC".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.iam.evaluator import Decision, Request, evaluate
from tests.iam.sar import request
from tests.iam.stack_policies import (
    ACCOUNT,
    EC2,
    OTHER_ACCOUNT,
    REGION,
    VPC_ID,
    StackPolicies,
    stack_policies,
)

OTHER_VPC = f"{EC2}:vpc/vpc-0other000000000001"
STACK_VPC = f"{EC2}:vpc/{VPC_ID}"
SUBNET = f"{EC2}:subnet/subnet-0private00000001"
GROUP = f"{EC2}:security-group/sg-0training00000001"
ENI = f"{EC2}:network-interface/eni-0training0000001"
#: SageMaker's built-in XGBoost image lives in an AWS-owned account (us-east-1).
AWS_IMAGE_REPO = f"arn:aws:ecr:{REGION}:683313688378:repository/sagemaker-xgboost"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
IN_REGION = {"aws:RequestedRegion": REGION, "ec2:Region": REGION, "aws:SecureTransport": "true"}


@pytest.fixture
def stack(tmp_path: Path) -> StackPolicies:
    return stack_policies(tmp_path)


def session(role_arn: str, name: str = "SageMaker") -> str:
    """The principal a call made with the role's credentials carries."""
    role = role_arn.rsplit("/", 1)[-1]
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}"


def eni_requests(subnet_vpc: str, group_vpc: str) -> list[tuple[str, Any]]:
    """What SageMaker sends to put a training ENI in ``subnet_vpc`` with a group of
    ``group_vpc``. ec2:Vpc is offered for every resource; the SAR keeps it only where IAM has it
    (subnet, security group, an existing interface), never for the interface being created."""
    created = ("network-interface", f"{EC2}:network-interface/*", {"ec2:Vpc": subnet_vpc})
    existing = ("network-interface", ENI, {"ec2:Vpc": subnet_vpc, "ec2:Subnet": SUBNET})
    return [
        (
            "ec2:CreateNetworkInterface",
            [
                created,
                ("subnet", SUBNET, {"ec2:Vpc": subnet_vpc}),
                ("security-group", GROUP, {"ec2:Vpc": group_vpc}),
            ],
        ),
        # Tags sent with CreateNetworkInterface are authorized as CreateTags (SAR: dependent).
        ("ec2:CreateTags", [created], {"ec2:CreateAction": "CreateNetworkInterface"}),
        (
            "ec2:CreateNetworkInterfacePermission",
            [existing],
            {"ec2:AuthorizedService": "sagemaker.amazonaws.com"},
        ),
        ("ec2:DeleteNetworkInterfacePermission", [existing]),
        ("ec2:DeleteNetworkInterface", [existing]),
    ]


def training_job_requests(bucket: str) -> list[tuple[str, Any]]:
    """Every call of a VPC-mode training job on this stack, as (action, resources[, keys])."""
    objects = f"arn:aws:s3:::{bucket}"
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs"
    stream = f"{logs}:log-stream:job-1/algo-1-1700000000"
    return [
        *eni_requests(STACK_VPC, STACK_VPC),
        *(
            (f"ec2:{name}", [])
            for name in (
                "DescribeNetworkInterfaces",
                "DescribeVpcs",
                "DescribeDhcpOptions",
                "DescribeSubnets",
                "DescribeSecurityGroups",
            )
        ),
        ("s3:ListBucket", [("bucket", objects)]),
        ("s3:GetObject", [("object", f"{objects}/raw-data/sample.csv")]),
        ("s3:PutObject", [("object", f"{objects}/model-artifacts/job-1/output/model.tar.gz")]),
        ("s3:AbortMultipartUpload", [("object", f"{objects}/model-artifacts/job-1/model.tar.gz")]),
        ("logs:CreateLogGroup", [("log-group", logs)]),
        ("logs:CreateLogStream", [("log-stream", stream)]),
        ("logs:PutLogEvents", [("log-stream", stream)]),
        ("logs:DescribeLogStreams", [("log-group", logs)]),
        ("cloudwatch:PutMetricData", [], {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}),
        ("ecr:GetAuthorizationToken", []),
        ("ecr:BatchCheckLayerAvailability", [("repository", AWS_IMAGE_REPO)]),
        ("ecr:GetDownloadUrlForLayer", [("repository", AWS_IMAGE_REPO)]),
        ("ecr:BatchGetImage", [("repository", AWS_IMAGE_REPO)]),
    ]


def as_role(stack: StackPolicies, action: str, resources: Any, keys: Any = None) -> Request:
    return request(action, resources, {**IN_REGION, **(keys or {})}, session(stack.role_arn))


def decide(stack: StackPolicies, req: Request) -> Decision:
    """The role's own policy, plus the bucket policy for requests to the bucket."""
    bucket_policy = stack.bucket_policy if req.action.startswith("s3:") else None
    return evaluate(req, [stack.training], bucket_policy)


def test_a_vpc_mode_training_job_is_allowed_every_call(stack: StackPolicies) -> None:
    denied = [
        (call[0], decision.value)
        for call in training_job_requests(stack.bucket)
        if (decision := decide(stack, as_role(stack, *call))) is not Decision.ALLOW
    ]
    assert denied == []


def test_kms_encrypted_bucket_and_output(tmp_path: Path) -> None:
    stack = stack_policies(tmp_path, kms_key_id=KEY_ARN)
    # Encrypt: CreateTrainingJob requires it of the role once OutputDataConfig has KmsKeyId.
    for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:DescribeKey"):
        req = as_role(stack, action, [("key", KEY_ARN)])
        assert decide(stack, req) is Decision.ALLOW, action
    other = KEY_ARN.replace("1234abcd", "99999999")
    assert decide(stack, as_role(stack, "kms:Decrypt", [("key", other)])) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("subnet_vpc", "group_vpc"), [(OTHER_VPC, STACK_VPC), (STACK_VPC, OTHER_VPC)]
)
def test_no_training_eni_outside_the_stacks_vpc(
    stack: StackPolicies, subnet_vpc: str, group_vpc: str
) -> None:
    [(action, resources), *_] = eni_requests(subnet_vpc, group_vpc)
    assert decide(stack, as_role(stack, action, resources)) is Decision.IMPLICIT_DENY


def test_eni_tags_only_when_creating_an_eni(stack: StackPolicies) -> None:
    req = as_role(stack, "ec2:CreateTags", [("network-interface", ENI)])
    assert decide(stack, req) is Decision.IMPLICIT_DENY
    vpc = as_role(
        stack,
        "ec2:CreateTags",
        [("vpc", STACK_VPC)],
        {"ec2:CreateAction": "CreateNetworkInterface"},
    )
    assert decide(stack, vpc) is Decision.IMPLICIT_DENY


def test_other_buckets_objects_are_denied(stack: StackPolicies) -> None:
    for action in ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"):
        req = as_role(stack, action, [("object", "arn:aws:s3:::someone-elses-bucket/data.csv")])
        assert evaluate(req, [stack.training]) is Decision.IMPLICIT_DENY, action
    listing = as_role(stack, "s3:ListBucket", [("bucket", "arn:aws:s3:::someone-elses-bucket")])
    assert evaluate(listing, [stack.training]) is Decision.IMPLICIT_DENY


def test_the_single_statement_eni_grant_is_denied_as_on_aws(stack: StackPolicies) -> None:
    """The statement smprov wrote before: ec2:Vpc on the network-interface resource too. The
    SAR gives a new interface no ec2:Vpc, so IAM denies the call (this evaluator must see it)."""
    old = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ec2:CreateNetworkInterface",
                "Resource": [
                    f"{EC2}:network-interface/*",
                    f"{EC2}:subnet/*",
                    f"{EC2}:security-group/*",
                ],
                "Condition": {"ArnEquals": {"ec2:Vpc": STACK_VPC}},
            }
        ],
    }
    [(action, resources), *_] = eni_requests(STACK_VPC, STACK_VPC)
    assert evaluate(as_role(stack, action, resources), [old]) is Decision.IMPLICIT_DENY


def assume(role_arn: str, service: str, **keys: str) -> Request:
    return request("sts:AssumeRole", [("role", role_arn)], keys, principal=service)


def test_sagemaker_may_assume_the_role_for_this_account_only(stack: StackPolicies) -> None:
    mine = assume(stack.role_arn, "sagemaker.amazonaws.com", **{"aws:SourceAccount": ACCOUNT})
    assert evaluate(mine, resource_policy=stack.trust) is Decision.ALLOW
    theirs = assume(
        stack.role_arn, "sagemaker.amazonaws.com", **{"aws:SourceAccount": OTHER_ACCOUNT}
    )
    assert evaluate(theirs, resource_policy=stack.trust) is Decision.IMPLICIT_DENY
    other_service = assume(stack.role_arn, "ec2.amazonaws.com", **{"aws:SourceAccount": ACCOUNT})
    assert evaluate(other_service, resource_policy=stack.trust) is Decision.IMPLICIT_DENY


def test_flow_logs_may_assume_their_role_for_this_accounts_flow_logs_only(
    stack: StackPolicies,
) -> None:
    def flow_log(account: str) -> Request:
        arn = f"arn:aws:ec2:{REGION}:{account}:vpc-flow-log/fl-0123456789abcdef0"
        keys = {"aws:SourceAccount": account, "aws:SourceArn": arn}
        return assume(stack.flow_role_arn, "vpc-flow-logs.amazonaws.com", **keys)

    assert evaluate(flow_log(ACCOUNT), resource_policy=stack.flow_trust) is Decision.ALLOW
    denied = evaluate(flow_log(OTHER_ACCOUNT), resource_policy=stack.flow_trust)
    assert denied is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (None, Decision.ALLOW),
        ("/aws/vpc-flow-log/vpc-0another000000001", Decision.IMPLICIT_DENY),
        ("/aws/sagemaker/TrainingJobs", Decision.IMPLICIT_DENY),
    ],
)
def test_flow_log_role_writes_only_to_its_group(
    stack: StackPolicies, group: str | None, expected: Decision
) -> None:
    arn = (
        stack.flow_group_arn
        if group is None
        else stack.flow_group_arn.rsplit(":", 1)[0] + f":{group}"
    )
    stream = f"{arn}:log-stream:eni-0abc-all"
    principal = session(stack.flow_role_arn, "flow-logs")
    calls = [
        ("logs:CreateLogStream", [("log-stream", stream)]),
        ("logs:PutLogEvents", [("log-stream", stream)]),
        ("logs:DescribeLogStreams", [("log-group", arn)]),
    ]
    for action, resources in calls:
        req = request(action, resources, IN_REGION, principal)
        assert evaluate(req, [stack.flow_delivery]) is expected, action
    # Listing groups has no resource type (SAR): allowed on "*", whatever the group.
    listing = request("logs:DescribeLogGroups", [], IN_REGION, principal)
    assert evaluate(listing, [stack.flow_delivery]) is Decision.ALLOW


def test_bucket_policy_denies_plain_http_to_everyone(stack: StackPolicies) -> None:
    plain = {**IN_REGION, "aws:SecureTransport": "false"}
    obj = [("object", f"arn:aws:s3:::{stack.bucket}/raw-data/sample.csv")]
    req = request("s3:GetObject", obj, plain, session(stack.role_arn))
    assert evaluate(req, [stack.training], stack.bucket_policy) is Decision.EXPLICIT_DENY
    admin = request("s3:GetObject", obj, plain, f"arn:aws:iam::{ACCOUNT}:role/Admin")
    assert evaluate(admin, [ADMIN], stack.bucket_policy) is Decision.EXPLICIT_DENY


ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:GetObject", "object"),
        ("s3:DeleteObject", "object"),
        ("s3:PutBucketPolicy", "bucket"),
        ("s3:DeleteBucketPolicy", "bucket"),
        ("s3:ListBucket", "bucket"),
    ],
)
def test_bucket_policy_does_not_lock_the_accounts_admin_out(
    stack: StackPolicies, action: str, resource: str
) -> None:
    arn = f"arn:aws:s3:::{stack.bucket}" + ("/raw-data/sample.csv" if resource == "object" else "")
    req = request(action, [(resource, arn)], IN_REGION, f"arn:aws:iam::{ACCOUNT}:role/Admin")
    assert evaluate(req, [ADMIN], stack.bucket_policy) is Decision.ALLOW
