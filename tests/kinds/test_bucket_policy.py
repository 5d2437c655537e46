"""The bucket_policy kind: semantic comparison (no spurious updates), drift repair, the retry
while a new role propagates, and forgiving deletes."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from provisioner.engine.contract import Ctx, ReadItem
from provisioner.kinds.bucket import Bucket
from provisioner.kinds.bucket_policy import BucketPolicy
from tests.harness import Harness
from tests.kinds.storage_helpers import bucket_spec, make_ctx

BUCKET = "dev-sagemaker-abcd1234"
ARN = f"arn:aws:s3:::{BUCKET}"
ROLE = "arn:aws:iam::123456789012:role/dev_sagemaker_execution_role"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [ARN, f"{ARN}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "ExecutionRoleObjects",
            "Effect": "Allow",
            "Principal": {"AWS": ROLE},
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{ARN}/*",
        },
    ],
}


def setup(harness: Harness) -> Ctx:
    ctx = make_ctx(harness.clients)
    Bucket().create(ctx, "bucket", bucket_spec(BUCKET), "token")
    return ctx


def read(ctx: Ctx) -> Any:
    item = ReadItem("bucket_policy", None, {"bucket": BUCKET, "policy": POLICY})
    return BucketPolicy().read(ctx, [item], lambda v: v).get("bucket_policy")


def test_reordered_live_policy_needs_no_update(harness: Harness) -> None:
    ctx = setup(harness)
    reordered = {
        "Version": "2012-10-17",
        "Statement": [
            {
                **POLICY["Statement"][1],
                "Action": ["s3:PutObject", "s3:DeleteObject", "s3:GetObject"],
                "Principal": {"AWS": [ROLE]},
            },
            {**POLICY["Statement"][0], "Resource": [f"{ARN}/*", ARN], "Action": ["s3:*"]},
        ],
    }
    harness.clients("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(reordered))
    live = read(ctx)
    assert live is not None
    assert BucketPolicy().diff(live, {"bucket": BUCKET, "policy": POLICY}) == []


def test_edited_policy_is_put_back(harness: Harness) -> None:
    ctx = setup(harness)
    spec = {"bucket": BUCKET, "policy": POLICY}
    BucketPolicy().create(ctx, "bucket_policy", spec, "t")
    weakened = {"Version": "2012-10-17", "Statement": POLICY["Statement"][1:]}
    harness.clients("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(weakened))
    live = read(ctx)
    changes = BucketPolicy().diff(live, spec)
    assert [c.path for c in changes] == ["policy"]
    BucketPolicy().update(ctx, live, spec, changes)
    assert BucketPolicy().diff(read(ctx), spec) == []


def test_put_waits_for_a_new_role_to_propagate(harness: Harness) -> None:
    ctx = setup(harness)
    attempts: list[int] = []

    def not_yet(**_: Any) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            error = {"Code": "MalformedPolicy", "Message": "Invalid principal in policy"}
            raise ClientError({"Error": error}, "PutBucketPolicy")

    harness.clients.add_hook("before-call.s3.PutBucketPolicy", not_yet)
    BucketPolicy().create(ctx, "bucket_policy", {"bucket": BUCKET, "policy": POLICY}, "t")
    assert len(attempts) == 3
    assert read(ctx) is not None


def test_delete_is_forgiving(harness: Harness) -> None:
    ctx = setup(harness)
    live = BucketPolicy().create(ctx, "bucket_policy", {"bucket": BUCKET, "policy": POLICY}, "t")
    assert BucketPolicy().delete(ctx, live) is None
    assert read(ctx) is None
    assert BucketPolicy().delete(ctx, live) is None
    harness.clients("s3").delete_bucket(Bucket=BUCKET)
    assert BucketPolicy().delete(ctx, live) is None
