"""The bucket kind against moto: every setting read back, drift repaired, adoption, data-safe
delete, the region rule, and conflicts with buckets that are not ours."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.aws.clients import Clients
from provisioner.engine.contract import ReadItem
from provisioner.errors import AwsError
from provisioner.kinds.bucket import Bucket
from tests.harness import Harness
from tests.kinds.storage_helpers import bucket_spec, make_ctx

NAME = "dev-sagemaker-abcd1234"


def read(ctx: Any, spec: dict[str, Any] | None, recorded: str | None = None) -> Any:
    return Bucket().read(ctx, [ReadItem("bucket", recorded, spec)], lambda v: v).get("bucket")


def test_create_applies_every_setting(harness: Harness) -> None:
    ctx = make_ctx(harness.clients)
    Bucket().create(ctx, "bucket", bucket_spec(), "token")
    s3 = harness.clients("s3")
    rule = s3.get_bucket_encryption(Bucket=NAME)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=NAME)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=NAME)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    controls = s3.get_bucket_ownership_controls(Bucket=NAME)["OwnershipControls"]
    assert controls["Rules"] == [{"ObjectOwnership": "ObjectWriter"}]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=NAME)["TagSet"]}
    assert tags == {"Name": NAME, "smprov:stack": "dev", "smprov:key": "bucket"}
    live = read(ctx, bucket_spec(), recorded=NAME)
    assert Bucket().diff(live, bucket_spec()) == []
    assert live.get("arn") == f"arn:aws:s3:::{NAME}"


def test_kms_encryption_uses_a_bucket_key(harness: Harness) -> None:
    ctx = make_ctx(harness.clients)
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    kms = {"sse_algorithm": "aws:kms", "kms_key_id": key, "bucket_key_enabled": True}
    spec = bucket_spec(encryption=kms, versioning=False)
    Bucket().create(ctx, "bucket", spec, "token")
    s3 = harness.clients("s3")
    rule = s3.get_bucket_encryption(Bucket=NAME)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key,
    }
    assert rule["BucketKeyEnabled"] is True
    assert "Status" not in s3.get_bucket_versioning(Bucket=NAME)
    assert Bucket().diff(read(ctx, spec, recorded=NAME), spec) == []


def test_drift_is_detected_and_repaired(harness: Harness) -> None:
    ctx = make_ctx(harness.clients)
    spec = bucket_spec()
    Bucket().create(ctx, "bucket", spec, "token")
    s3 = harness.clients("s3")
    s3.put_bucket_versioning(Bucket=NAME, VersioningConfiguration={"Status": "Suspended"})
    s3.put_public_access_block(
        Bucket=NAME,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_tagging(Bucket=NAME, Tagging={"TagSet": [{"Key": "smprov:stack", "Value": "x"}]})
    live = read(ctx, spec, recorded=NAME)
    changes = Bucket().diff(live, spec)
    assert {c.path for c in changes} == {"versioning", "public_access_block", "tags"}
    harness.log.clear()
    Bucket().update(ctx, live, spec, changes)
    assert sorted(harness.log.mutating) == [
        "PutBucketTagging",
        "PutBucketVersioning",
        "PutPublicAccessBlock",
    ]
    assert Bucket().diff(read(ctx, spec, recorded=NAME), spec) == []


def test_region_rule_for_location_constraint(harness: Harness) -> None:
    sent: list[dict[str, Any]] = []
    harness.clients.add_hook(
        "before-parameter-build.s3.CreateBucket", lambda params, **_: sent.append(dict(params))
    )
    Bucket().create(make_ctx(harness.clients), "bucket", bucket_spec(), "token")
    assert "LocationConstraint" not in sent[0]["CreateBucketConfiguration"]
    assert sent[0]["CreateBucketConfiguration"]["Tags"]  # tagged at creation on AWS

    eu = Clients("eu-west-1", max_attempts=1)
    eu_spec = bucket_spec("dev-sagemaker-eu000000", region="eu-west-1")
    live = Bucket().create(make_ctx(eu, region="eu-west-1"), "bucket", eu_spec, "token")
    location = eu("s3").get_bucket_location(Bucket="dev-sagemaker-eu000000")
    assert location["LocationConstraint"] == "eu-west-1"
    assert live.get("region") == "eu-west-1"


def test_lost_state_adopts_the_tagged_bucket(harness: Harness) -> None:
    ctx = make_ctx(harness.clients)
    Bucket().create(ctx, "bucket", bucket_spec(), "token")
    harness.clients("s3").create_bucket(Bucket="dev-sagemaker-zzzz9999")  # untagged: not ours
    harness.log.clear()
    live = Bucket().find_tagged(ctx, "bucket", "dev-sagemaker-")
    assert live is not None and live.id == NAME
    assert harness.log.count("ListBuckets") == 1


def test_a_foreign_bucket_is_neither_adopted_nor_taken_over(harness: Harness) -> None:
    ctx = make_ctx(harness.clients)
    harness.clients("s3").create_bucket(Bucket=NAME)
    assert read(ctx, bucket_spec()) is None
    assert Bucket().find_tagged(ctx, "bucket", "dev-sagemaker-") is None
    with pytest.raises(AwsError, match="already exists in this account"):
        Bucket().create(ctx, "bucket", bucket_spec(), "token")


def test_delete_keeps_a_bucket_with_user_data(harness: Harness) -> None:
    ctx = make_ctx(harness.clients)
    live = Bucket().create(ctx, "bucket", bucket_spec(), "token")
    s3 = harness.clients("s3")
    s3.put_object(Bucket=NAME, Key="raw-data/mine.csv", Body=b"a,b\n")
    reason = Bucket().delete(ctx, live)
    assert reason == "it holds 1 object(s) smprov did not upload: raw-data/mine.csv"
    assert Bucket.keep_flag == "--delete-data"  # the executor names it after the reason
    assert s3.head_bucket(Bucket=NAME)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_delete_data_removes_every_version_then_the_bucket(harness: Harness) -> None:
    live = Bucket().create(make_ctx(harness.clients), "bucket", bucket_spec(), "token")
    s3 = harness.clients("s3")
    for body in (b"1", b"2"):
        s3.put_object(Bucket=NAME, Key="raw-data/mine.csv", Body=body)
    s3.delete_object(Bucket=NAME, Key="raw-data/mine.csv")  # leaves a delete marker
    assert Bucket().delete(make_ctx(harness.clients, delete_data=True), live) is None
    assert NAME not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert Bucket().delete(make_ctx(harness.clients, delete_data=True), live) is None


def test_delete_objects_errors_are_not_ignored(harness: Harness) -> None:
    live = Bucket().create(make_ctx(harness.clients), "bucket", bucket_spec(), "token")
    harness.clients("s3").put_object(Bucket=NAME, Key="x", Body=b"1")

    def refuse(parsed: dict[str, Any], **_: Any) -> None:
        # DeleteObjects answers 200 and lists per-key failures (as under a denying policy).
        deleted = parsed.pop("Deleted", [])
        parsed["Errors"] = [
            {"Key": d["Key"], "Code": "AccessDenied", "Message": "Access Denied"} for d in deleted
        ]

    harness.clients.add_hook("after-call.s3.DeleteObjects", refuse)
    with pytest.raises(AwsError, match="AccessDenied"):
        Bucket().delete(make_ctx(harness.clients, delete_data=True), live)
