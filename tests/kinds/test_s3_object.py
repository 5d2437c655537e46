"""The s3_object kind: folder markers, the CSV's content hash, no re-upload when unchanged,
multipart uploads with progress, and deletion of every version."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from provisioner.engine.contract import Ctx, ReadItem
from provisioner.engine.model import Live
from provisioner.kinds import s3_object
from provisioner.kinds.bucket import Bucket
from provisioner.kinds.s3_object import EMPTY_SHA256, S3Object, file_digests
from tests.harness import Harness
from tests.kinds.storage_helpers import bucket_spec, make_ctx

BUCKET = "dev-sagemaker-abcd1234"


@pytest.fixture
def ctx(harness: Harness) -> Ctx:
    ctx = make_ctx(harness.clients)
    Bucket().create(ctx, "bucket", bucket_spec(BUCKET), "token")
    return ctx


def csv_spec(path: Path) -> dict[str, Any]:
    sha, md5, _size = file_digests(path)
    return {
        "bucket": BUCKET,
        "key": f"raw-data/{path.name}",
        "source": str(path),
        "sha256": sha,
        "md5": md5,
        "content_type": "text/csv",
    }


def read(ctx: Ctx, specs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    items = [ReadItem(key, None, spec) for key, spec in specs.items()]
    return S3Object().read(ctx, items, lambda v: v)


def test_folder_marker_and_csv_round_trip(harness: Harness, ctx: Ctx, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    marker = {"bucket": BUCKET, "key": "raw-data/", "sha256": EMPTY_SHA256}
    S3Object().create(ctx, "s3_object.folder.raw-data", marker, "t")
    created = S3Object().create(ctx, "s3_object.csv", csv_spec(data), "t")
    assert created.get("uri") == f"s3://{BUCKET}/raw-data/train.csv"
    head = harness.clients("s3").head_object(Bucket=BUCKET, Key="raw-data/train.csv")
    assert head["Metadata"]["sha256"] == csv_spec(data)["sha256"]
    assert head["ContentType"] == "text/csv"

    harness.log.clear()
    specs = {"s3_object.folder.raw-data": marker, "s3_object.csv": csv_spec(data)}
    found = read(ctx, specs)
    # One listing; the ETag equals the local MD5, so no HeadObject either.
    assert harness.log.reads == ["ListObjectsV2"]
    assert all(S3Object().diff(found[k], specs[k]) == [] for k in specs)


def test_changed_csv_is_uploaded_unchanged_is_not(
    harness: Harness, ctx: Ctx, tmp_path: Path
) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    S3Object().create(ctx, "s3_object.csv", csv_spec(data), "t")
    data.write_text("a,b\n1,2\n3,4\n")
    spec = csv_spec(data)
    live = read(ctx, {"s3_object.csv": spec})["s3_object.csv"]
    changes = S3Object().diff(live, spec)
    assert [c.path for c in changes] == ["sha256"]
    harness.log.clear()
    S3Object().update(ctx, live, spec, changes)
    assert harness.log.mutating == ["PutObject"]
    body = harness.clients("s3").get_object(Bucket=BUCKET, Key="raw-data/train.csv")["Body"]
    assert body.read() == b"a,b\n1,2\n3,4\n"
    assert S3Object().diff(read(ctx, {"s3_object.csv": spec})["s3_object.csv"], spec) == []


def test_multipart_upload_reports_progress_and_reads_the_hash_from_metadata(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_object, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)  # S3's minimum part
    data = tmp_path / "big.csv"
    data.write_bytes(b"1,2,3\n" * (2 * 1024 * 1024))  # 12 MiB: three parts
    messages: list[str] = []
    ctx = make_ctx(harness.clients, report=messages.append)
    Bucket().create(ctx, "bucket", bucket_spec(BUCKET), "token")
    S3Object().create(ctx, "s3_object.csv", csv_spec(data), "t")
    assert harness.log.count("UploadPart") == 3
    assert messages[-1].startswith("uploading raw-data/big.csv: 100%")
    harness.log.clear()
    live = read(ctx, {"s3_object.csv": csv_spec(data)})["s3_object.csv"]
    # A multipart ETag is not an MD5: the recorded SHA-256 is read with one HeadObject.
    assert "-" in live.get("etag")
    assert harness.log.count("HeadObject") == 1
    assert S3Object().diff(live, csv_spec(data)) == []


def test_delete_data_removes_every_version_of_its_key_only(
    harness: Harness, tmp_path: Path
) -> None:
    ctx = make_ctx(harness.clients, delete_data=True)
    Bucket().create(ctx, "bucket", bucket_spec(BUCKET), "token")
    s3 = harness.clients("s3")
    for body in (b"1", b"2"):
        s3.put_object(Bucket=BUCKET, Key="raw-data/data.csv", Body=body)
    s3.put_object(Bucket=BUCKET, Key="raw-data/data.csv.bak", Body=b"mine")
    live = read(ctx, {"s3_object.csv": {"bucket": BUCKET, "key": "raw-data/data.csv"}})
    assert S3Object().delete(ctx, live["s3_object.csv"]) is None
    left = s3.list_object_versions(Bucket=BUCKET)
    assert [v["Key"] for v in left.get("Versions", [])] == ["raw-data/data.csv.bak"]
    assert "DeleteMarkers" not in left
    assert S3Object().delete(ctx, live["s3_object.csv"]) is None


# -- data safety: only what smprov wrote is smprov's --------------------------------------------


def reread(ctx: Ctx, live: Live, spec: dict[str, Any], *, teardown: bool = False) -> Live | None:
    """Read as a later run does: the state's record of ``live`` carried in."""
    if teardown:
        ctx = dataclasses.replace(ctx, teardown=True)
    item = ReadItem("s3_object.csv", live.id, spec, dict(live.attrs))
    return S3Object().read(ctx, [item], lambda v: v).get("s3_object.csv")


def versions(harness: Harness) -> list[tuple[str, bool]]:
    """(body or "marker", is latest) of every version of the CSV key: the latest first, then
    the rest by body (S3's times are to the second, so their order is not the test's)."""
    s3 = harness.clients("s3")
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix="raw-data/train.csv")
    out = []
    for v in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
        if "ETag" in v:
            body = s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])["Body"]
            out.append((body.read().decode(), v["IsLatest"]))
        else:
            out.append(("marker", v["IsLatest"]))
    return sorted(out, key=lambda entry: (not entry[1], entry[0]))


@pytest.fixture
def csv(tmp_path: Path) -> dict[str, Any]:
    data = tmp_path / "train.csv"
    data.write_text("smprov\n")
    return csv_spec(data)


def overwrite(harness: Harness, body: str) -> None:
    time.sleep(0.01)  # distinct LastModified (moto keeps sub-second times)
    harness.clients("s3").put_object(Bucket=BUCKET, Key="raw-data/train.csv", Body=body.encode())


def test_a_versioned_upload_records_the_version_it_wrote(harness: Harness, ctx: Ctx, csv) -> None:
    live = S3Object().create(ctx, "s3_object.csv", {**csv, "versioned": True}, "t")
    head = harness.clients("s3").head_object(Bucket=BUCKET, Key="raw-data/train.csv")
    assert live.get("written") == [{"version": head["VersionId"], "etag": head["ETag"].strip('"')}]


def test_down_keeps_a_users_overwrite_and_deletes_only_smprovs_versions(
    harness: Harness, ctx: Ctx, csv: dict[str, Any]
) -> None:
    spec = {**csv, "versioned": True}
    first = S3Object().create(ctx, "s3_object.csv", spec, "t")
    overwrite(harness, "the user's edit\n")
    live = reread(ctx, first, spec)
    assert live is not None
    changes = S3Object().diff(live, spec)
    note = S3Object().update_note(live, spec, changes)
    assert note is not None and not note[1]  # versioned: nothing is lost
    assert "stays as a noncurrent version" in note[0]
    time.sleep(0.01)
    restored = S3Object().update(ctx, live, spec, changes)
    assert versions(harness) == [
        ("smprov\n", True),
        ("smprov\n", False),
        ("the user's edit\n", False),
    ]

    gone = reread(ctx, restored, spec, teardown=True)
    assert gone is not None
    kept = S3Object().delete(ctx, gone)
    assert kept is not None and "raw-data/train.csv" in kept and "--delete-data" in kept
    assert versions(harness) == [("the user's edit\n", True)]  # only the user's is left


def test_unversioned_bucket_keeps_a_users_object_and_up_refuses_to_overwrite_it(
    harness: Harness, csv: dict[str, Any]
) -> None:
    ctx = make_ctx(harness.clients)
    Bucket().create(ctx, "bucket", bucket_spec(BUCKET, versioning=False), "token")
    spec = {**csv, "versioned": False}
    first = S3Object().create(ctx, "s3_object.csv", spec, "t")
    assert first.get("written")[0]["version"] is None
    untouched = reread(ctx, first, spec, teardown=True)
    assert untouched is not None and S3Object().update_note(untouched, spec, []) is None

    overwrite(harness, "the user's edit\n")
    live = reread(ctx, first, spec)
    assert live is not None
    note = S3Object().update_note(live, spec, S3Object().diff(live, spec))
    assert note is not None and note[1]  # overwriting would lose it
    assert "did not write" in note[0]

    kept = S3Object().delete(ctx, reread(ctx, first, spec, teardown=True))
    assert kept is not None and "raw-data/train.csv" in kept
    assert versions(harness) == [("the user's edit\n", True)]


def test_unversioned_bucket_smprovs_own_object_is_deleted(harness: Harness, csv) -> None:
    ctx = make_ctx(harness.clients)
    Bucket().create(ctx, "bucket", bucket_spec(BUCKET, versioning=False), "token")
    spec = {**csv, "versioned": False}
    first = S3Object().create(ctx, "s3_object.csv", spec, "t")
    assert S3Object().delete(ctx, reread(ctx, first, spec, teardown=True)) is None
    assert versions(harness) == []


def test_a_delete_marker_over_smprovs_version_goes_with_it(
    harness: Harness, ctx: Ctx, csv: dict[str, Any]
) -> None:
    """The user deleted smprov's CSV: no current object, but smprov's version is under the
    marker. `down` still finds it (the state says what it wrote) and removes both."""
    first = S3Object().create(ctx, "s3_object.csv", {**csv, "versioned": True}, "t")
    time.sleep(0.01)
    harness.clients("s3").delete_object(Bucket=BUCKET, Key="raw-data/train.csv")
    assert reread(ctx, first, csv) is None  # for `up`: gone, to be uploaded again
    gone = reread(ctx, first, csv, teardown=True)
    assert gone is not None
    assert S3Object().delete(ctx, gone) is None
    assert versions(harness) == []


def test_a_delete_marker_over_a_users_version_is_the_users(
    harness: Harness, ctx: Ctx, csv: dict[str, Any]
) -> None:
    first = S3Object().create(ctx, "s3_object.csv", {**csv, "versioned": True}, "t")
    overwrite(harness, "the user's edit\n")
    time.sleep(0.01)
    harness.clients("s3").delete_object(Bucket=BUCKET, Key="raw-data/train.csv")
    kept = S3Object().delete(ctx, reread(ctx, first, csv, teardown=True))
    assert kept is not None and "2 version(s)" in kept
    assert versions(harness) == [("marker", True), ("the user's edit\n", False)]


def test_objects_of_a_missing_bucket_read_as_absent(ctx: Ctx) -> None:
    spec = {"bucket": "dev-sagemaker-nobucket", "key": "raw-data/", "sha256": EMPTY_SHA256}
    assert read(ctx, {"s3_object.folder.raw-data": spec}) == {}
