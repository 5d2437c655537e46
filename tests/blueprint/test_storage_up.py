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


# -- a user's overwrite of the CSV is user data ------------------------------------------------


def _csv_versions(harness: Harness, state: object) -> list[tuple[bytes, bool]]:
    """(body, is latest) of every version of the uploaded CSV's key, the latest first."""
    bucket = state.resources[keys.BUCKET].id  # type: ignore[attr-defined]
    key = state.resources[keys.CSV_OBJECT].attrs["key"]  # type: ignore[attr-defined]
    s3 = harness.clients("s3")
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key, ExpectedBucketOwner=ACCOUNT)
    out = []
    for v in listed.get("Versions", []):
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"].read()
        out.append((body, v["IsLatest"]))
    out += [(b"delete marker", m["IsLatest"]) for m in listed.get("DeleteMarkers", [])]
    return sorted(out, key=lambda entry: (not entry[1], entry[0]))


def _overwrite_csv(harness: Harness, state: object, body: bytes) -> None:
    bucket = state.resources[keys.BUCKET].id  # type: ignore[attr-defined]
    key = state.resources[keys.CSV_OBJECT].attrs["key"]  # type: ignore[attr-defined]
    harness.clients("s3").put_object(Bucket=bucket, Key=key, Body=body, ExpectedBucketOwner=ACCOUNT)


def test_down_keeps_the_csv_a_user_overwrote_and_the_bucket(harness: Harness) -> None:
    PolicyBesideMoto().install(harness.clients)
    _plan, _report, state = harness.up()
    original = _csv_versions(harness, state)[0][0]
    _overwrite_csv(harness, state, b"edited,by\nthe,user\n")

    _plan, report, final = harness.down()
    kept_csv = report.results[(keys.CSV_OBJECT, Phase.DESTROY)].message
    kept_bucket = report.results[(keys.BUCKET, Phase.DESTROY)].message
    key = state.resources[keys.CSV_OBJECT].attrs["key"]
    assert kept_csv.startswith("kept") and key in kept_csv and "--delete-data" in kept_csv
    assert kept_bucket.startswith("kept") and key in kept_bucket
    # smprov's own version went, the user's stays, and so do the bucket and their entries.
    assert _csv_versions(harness, state) == [(b"edited,by\nthe,user\n", True)]
    assert original != b"edited,by\nthe,user\n"
    assert storage_keys(final.resources) == {keys.BUCKET, keys.CSV_OBJECT}

    _plan, _report, final = harness.down(delete_data=True)
    assert storage_keys(final.resources) == set()
    assert harness.clients("s3").list_buckets()["Buckets"] == []


def test_up_restores_smprovs_csv_and_keeps_the_users_as_noncurrent(harness: Harness) -> None:
    PolicyBesideMoto().install(harness.clients)
    _plan, _report, state = harness.up()
    [(original, _latest)] = _csv_versions(harness, state)
    _overwrite_csv(harness, state, b"edited,by\nthe,user\n")

    plan = harness.plan()
    step = plan.step_by_key[keys.CSV_OBJECT]
    assert step.action is Action.UPDATE and not step.loses_data
    assert "stays as a noncurrent version" in step.reason
    harness.up()
    assert _csv_versions(harness, state) == [
        (original, True),
        (original, False),
        (b"edited,by\nthe,user\n", False),
    ]
    # `down` removes both of smprov's versions and keeps the user's.
    harness.down()
    assert _csv_versions(harness, state) == [(b"edited,by\nthe,user\n", True)]


def test_unversioned_up_refuses_to_overwrite_a_users_csv(harness: Harness) -> None:
    from provisioner import operations
    from provisioner.errors import SmprovError

    PolicyBesideMoto().install(harness.clients)
    harness.write_config("bucket_versioning = false\n")
    _plan, _report, state = harness.up()
    _overwrite_csv(harness, state, b"edited,by\nthe,user\n")

    plan = harness.plan()
    assert plan.step_by_key[keys.CSV_OBJECT].loses_data
    with pytest.raises(SmprovError) as refused:
        operations.check_replacements(plan, allow_replace=False)
    assert "did not write" in refused.value.message
    assert refused.value.hint is not None and "--allow-replace" in refused.value.hint
    operations.check_replacements(plan, allow_replace=True)  # allowed when asked

    _plan, report, _final = harness.down()  # unversioned: the user's object is kept too
    assert report.results[(keys.CSV_OBJECT, Phase.DESTROY)].message.startswith("kept")
    assert _csv_versions(harness, state) == [(b"edited,by\nthe,user\n", True)]


def test_down_keeps_a_restored_user_version_and_a_users_folder_marker(harness: Harness) -> None:
    """A version a user restored (copied back over smprov's restore) and a folder marker a user
    overwrote with content are user data too: `down` keeps them, with the bucket."""
    PolicyBesideMoto().install(harness.clients)
    _plan, _report, state = harness.up()
    bucket = state.resources[keys.BUCKET].id
    key = state.resources[keys.CSV_OBJECT].attrs["key"]
    s3 = harness.clients("s3")
    _overwrite_csv(harness, state, b"edited,by\nthe,user\n")
    users = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    harness.up()  # restores smprov's CSV; the user's version is noncurrent
    s3.copy_object(  # the user restores their version
        Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": users}
    )
    s3.put_object(Bucket=bucket, Key="processed-data/", Body=b"notes of the user\n")

    _plan, report, _final = harness.down()
    for step in (keys.CSV_OBJECT, "s3_object.folder.processed-data", keys.BUCKET):
        assert report.results[(step, Phase.DESTROY)].message.startswith("kept"), step
    assert _csv_versions(harness, state) == [
        (b"edited,by\nthe,user\n", True),
        (b"edited,by\nthe,user\n", False),
    ]
    marker = s3.get_object(Bucket=bucket, Key="processed-data/")["Body"].read()
    assert marker == b"notes of the user\n"


def test_turning_versioning_on_as_the_refusal_says_keeps_the_users_csv(harness: Harness) -> None:
    """The refusal's hint, followed: with bucket_versioning back on, `up` turns versioning on
    before it restores smprov's CSV, so the user's object stays as a noncurrent version."""
    PolicyBesideMoto().install(harness.clients)
    harness.write_config("bucket_versioning = false\n")
    _plan, _report, state = harness.up()
    _overwrite_csv(harness, state, b"edited,by\nthe,user\n")
    harness.write_config("bucket_versioning = true\n")

    plan = harness.plan()
    step = plan.step_by_key[keys.CSV_OBJECT]
    assert not step.loses_data and "stays as a noncurrent version" in step.reason
    harness.up()
    [(smprovs, latest), (users, noncurrent)] = _csv_versions(harness, state)
    assert latest and not noncurrent
    assert users == b"edited,by\nthe,user\n" and smprovs != users
