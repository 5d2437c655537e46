"""The storage half end to end on in-process moto: converge, re-upload only a changed CSV,
repair drift, adopt after a lost state, and keep user data on ``down``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner import keys
from provisioner.blueprint.sagemaker_role import INLINE_POLICY
from provisioner.engine.model import Action, Phase
from provisioner.errors import ConfigError
from tests.harness import Harness
from tests.kinds.storage_helpers import ACCOUNT, OwnerHeaderCheck, PolicyBesideMoto

ROLE = "dev_sagemaker_execution_role"


def storage_keys(found: object) -> set[str]:
    wanted = (keys.BUCKET, keys.BUCKET_POLICY, keys.SAGEMAKER_ROLE)
    return {k for k in found if k in wanted or k.startswith("s3_obj")}


def test_up_converges_and_a_second_up_changes_nothing(harness: Harness) -> None:
    _plan, _report, state = harness.up()
    bucket = state.resources[keys.BUCKET].id
    assert bucket == f"dev-sagemaker-{state.data['bucket_suffix']}"
    assert storage_keys(state.resources) == {
        keys.BUCKET,
        keys.BUCKET_POLICY,
        keys.SAGEMAKER_ROLE,
        keys.CSV_OBJECT,
        "s3_object.folder.raw-data",
        "s3_object.folder.processed-data",
        "s3_object.folder.model-artifacts",
    }
    listed = harness.clients("s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        "model-artifacts/",
        "processed-data/",
        "raw-data/",
        "raw-data/sample.csv",
    ]
    harness.log.clear()
    plan, _report, _state = harness.up()
    assert plan.is_empty
    assert harness.log.mutating == []
    # One batched read per kind: a listing for the objects, no HeadObject for the unchanged CSV.
    assert harness.log.count("ListObjectsV2") == 1
    assert harness.log.count("HeadObject") == 0


def test_plan_warns_when_public_access_is_not_fully_blocked(harness: Harness) -> None:
    harness.write_config(
        """
        [public_access_block]
        block_public_acls = false
        """
    )
    plan = harness.plan()
    assert [n.key for n in plan.notices] == [keys.BUCKET]
    assert "block_public_acls = false" in plan.notices[0].message


def test_csv_is_uploaded_again_only_when_it_changed(harness: Harness, tmp_path: Path) -> None:
    PolicyBesideMoto().install(harness.clients)  # AWS lets TLS object calls through the policy
    data = harness.workdir / "train.csv"
    data.write_text("x,y\n1,2\n")
    harness.write_config('csv_source = "train.csv"\n')
    harness.up()
    harness.log.clear()
    plan, _report, _state = harness.up()
    assert plan.is_empty and harness.log.count("PutObject") == 0

    data.write_text("x,y\n1,2\n3,4\n")
    plan = harness.plan()
    assert [(s.key, s.action) for s in plan.changes] == [(keys.CSV_OBJECT, Action.UPDATE)]
    harness.log.clear()
    _plan, _report, state = harness.up()
    assert harness.log.mutating == ["PutObject"]
    body = harness.clients("s3").get_object(
        Bucket=state.resources[keys.BUCKET].id, Key="raw-data/train.csv"
    )["Body"]
    assert body.read() == b"x,y\n1,2\n3,4\n"


def test_missing_csv_fails_before_any_change(harness: Harness) -> None:
    """Only the start-up's read-only checks run (so AWS-side problems are reported with it)."""
    harness.write_config('csv_source = "nowhere.csv"\n')
    with pytest.raises(ConfigError, match=r"csv_source: .*nowhere\.csv does not exist"):
        harness.plan()
    assert harness.log.mutating == []
    assert {op for _svc, op in harness.log.calls} <= {
        "GetCallerIdentity",
        "DescribeAvailabilityZones",
        "DescribeVpcEndpointServices",
    }


def test_edited_role_policy_is_put_back_by_up(harness: Harness) -> None:
    harness.up()
    iam = harness.clients("iam")
    wide = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=ROLE, PolicyName=INLINE_POLICY, PolicyDocument=json.dumps(wide))
    plan = harness.plan()
    assert [(s.key, s.action) for s in plan.changes] == [(keys.SAGEMAKER_ROLE, Action.UPDATE)]
    harness.log.clear()
    harness.up()
    assert harness.log.mutating == ["PutRolePolicy"]
    restored = iam.get_role_policy(RoleName=ROLE, PolicyName=INLINE_POLICY)["PolicyDocument"]
    assert "BucketObjects" in {s.get("Sid") for s in restored["Statement"]}


def test_lost_state_import_adopts_the_bucket_instead_of_making_another(harness: Harness) -> None:
    _plan, _report, state = harness.up()
    bucket = state.resources[keys.BUCKET].id
    (harness.workdir / "state" / "dev.json").unlink()
    harness.log.clear()
    harness.import_()
    plan, _report, final = harness.up()
    assert plan.is_empty
    assert harness.log.count("CreateBucket") == 0
    assert final.resources[keys.BUCKET].id == bucket
    assert final.data["bucket_suffix"] == state.data["bucket_suffix"]
    names = [b["Name"] for b in harness.clients("s3").list_buckets()["Buckets"]]
    assert names == [bucket]


def test_down_keeps_user_data_unless_told(harness: Harness) -> None:
    owner = OwnerHeaderCheck()
    owner.install(harness.clients)
    PolicyBesideMoto().install(harness.clients)  # the user's own PUT below goes over TLS
    _plan, _report, state = harness.up()
    bucket = state.resources[keys.BUCKET].id
    s3 = harness.clients("s3")
    mine = {"Bucket": bucket, "ExpectedBucketOwner": ACCOUNT}
    s3.put_object(**mine, Key="processed-data/features.parquet", Body=b"user data")

    _plan, report, final = harness.down()
    message = report.results[(keys.BUCKET, Phase.DESTROY)].message
    assert message.startswith(f"kept {bucket}") and "processed-data/features.parquet" in message
    assert storage_keys(final.resources) == {keys.BUCKET}
    left = s3.list_object_versions(**mine)
    assert [v["Key"] for v in left.get("Versions", [])] == ["processed-data/features.parquet"]
    assert "DeleteMarkers" not in left

    s3.put_object(**mine, Key="processed-data/features.parquet", Body=b"version 2")
    _plan, _report, final = harness.down(delete_data=True)
    assert storage_keys(final.resources) == set()
    assert s3.list_buckets()["Buckets"] == []
    # Every bucket and object call carried ExpectedBucketOwner (moto ignores it; AWS does not).
    assert owner.missing == []
    assert {"PutObject", "ListObjectsV2", "DeleteObjects", "PutBucketPolicy"} <= set(owner.sent)
