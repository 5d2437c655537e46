"""The bucket's resource policy, as its own kind: it refers to the execution role (made first)
and is put as one document. Compared semantically: statement and action order in AWS's answer
cause no update.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.engine.contract import Ctx, Grant, PutKind, ReadItem, Resolver
from provisioner.engine.model import UNKNOWN, FieldChange, Live
from provisioner.errors import ConfigError
from provisioner.kind_helpers.policy import parse_policy, policy_json, policy_size, same_policy
from provisioner.kind_helpers.s3 import NO_BUCKET, is_missing, s3_call

#: S3's bucket policy size limit (20 KB).
MAX_POLICY = 20 * 1024
NO_POLICY = ("NoSuchBucketPolicy",)


class BucketPolicy(PutKind):
    name = "bucket_policy"
    label = "bucket policy"
    grants = (
        Grant(
            "TrainingBucket",
            ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
        ),
    )
    replace_on = frozenset({"bucket"})

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        out: dict[str, Live] = {}
        for item in items:
            bucket = item.id or (resolve(item.spec["bucket"]) if item.spec is not None else None)
            if not bucket or bucket is UNKNOWN:
                continue
            try:
                answer = s3_call(ctx, "get_bucket_policy", Bucket=bucket)
            except Exception as exc:
                if is_missing(exc, (*NO_BUCKET, *NO_POLICY)):
                    continue
                raise
            out[item.key] = Live(
                bucket, {"bucket": bucket, "policy": parse_policy(answer.get("Policy"))}
            )
        return out

    def diff(self, live: Live, spec: Mapping[str, Any]) -> list[FieldChange]:
        changes = super().diff(live, {k: v for k, v in spec.items() if k != "policy"})
        if not same_policy(live.get("policy"), spec["policy"]):
            changes.append(FieldChange("policy", live.get("policy"), spec["policy"]))
        return changes

    def put(self, ctx: Ctx, spec: Mapping[str, Any]) -> Live:
        bucket, policy = spec["bucket"], spec["policy"]
        size = policy_size(policy)
        if size > MAX_POLICY:
            raise ConfigError([f"the policy of bucket {bucket} is {size} bytes; S3 allows 20 KB"])
        # A principal that is a role made seconds ago is not yet known to S3 everywhere:
        # "Invalid principal in policy" until IAM has propagated it.
        ctx.retry(
            lambda: s3_call(ctx, "put_bucket_policy", Bucket=bucket, Policy=policy_json(policy)),
            codes=("MalformedPolicy",),
            message_contains="Invalid principal",
            what=f"putting the policy of bucket {bucket}",
        )
        return Live(bucket, {"bucket": bucket, "policy": json.loads(policy_json(policy))})

    def delete(self, ctx: Ctx, live: Live) -> None:
        try:
            s3_call(ctx, "delete_bucket_policy", Bucket=live.id)
        except Exception as exc:
            if not is_missing(exc, (*NO_BUCKET, *NO_POLICY)):
                raise
        return None
