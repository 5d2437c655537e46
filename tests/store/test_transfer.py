"""Copying a state between backends: Terraform's lineage and serial checks, and no loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioner.errors import LockError, StateError
from provisioner.store.document import StateDocument
from provisioner.store.local import LocalBackend
from provisioner.store.recorder import Recorder
from provisioner.store.s3 import S3Backend, S3Location
from provisioner.store.transfer import copy_state, transfer_problems
from tests.store.test_s3 import ACCOUNT, BUCKET, KEY, make_bucket, stored

T0 = "2026-11-25T17:00:00Z"


def recorded_state(path: Path, changes: int = 3) -> LocalBackend:
    """A local state written the way `smprov up` writes one (through the recorder)."""
    backend = LocalBackend(path)
    recorder = Recorder(backend, StateDocument.new("dev", "us-east-1", ACCOUNT), lambda: T0)
    recorder.record("vpc", "vpc", "vpc-1", {"cidr": "10.0.0.0/16", "name": "ü"}, [])
    for index in range(1, changes):
        recorder.record(f"subnet.s{index}", "subnet", f"subnet-{index}", {}, ["vpc"])
    return backend


@pytest.fixture
def s3(moto: None) -> Any:
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def remote(s3: Any) -> S3Backend:
    make_bucket(s3)
    return S3Backend(S3Location(BUCKET, KEY), s3, ACCOUNT)


def copy(source: Any, destination: Any, force: bool = False) -> Any:
    return copy_state(
        source, destination, stack="dev", region="us-east-1", operation="state push", force=force
    )


def test_local_to_s3_and_back_is_byte_for_byte(tmp_path: Path, remote: S3Backend, s3: Any) -> None:
    local = recorded_state(tmp_path / "dev.json")
    original = local.path.read_bytes()
    pushed = copy(local, remote)
    assert pushed.written
    assert pushed.replaced_serial is None
    assert pushed.describe() == (
        f"copied serial 3 from {local.path} to s3://{BUCKET}/{KEY} (replacing an empty destination)"
    )
    assert stored(s3) == original
    back = LocalBackend(tmp_path / "back" / "dev.json")
    copy(S3Backend(S3Location(BUCKET, KEY), s3, ACCOUNT), back)
    assert back.path.read_bytes() == original
    assert stored(s3, KEY + ".lock") is None  # the destination's lock was released


def test_a_newer_serial_of_the_same_lineage_replaces_the_destination(
    tmp_path: Path, remote: S3Backend, s3: Any
) -> None:
    local = recorded_state(tmp_path / "dev.json", changes=2)
    copy(local, remote)
    Recorder(local, local.read() or pytest.fail("no state")).forget("vpc")
    result = copy(local, S3Backend(S3Location(BUCKET, KEY), s3, ACCOUNT))
    assert (result.replaced_serial, result.serial, result.written) == (2, 3, True)
    assert stored(s3) == local.path.read_bytes()


def test_the_same_document_again_copies_nothing(tmp_path: Path, remote: S3Backend) -> None:
    local = recorded_state(tmp_path / "dev.json")
    copy(local, remote)
    result = copy(local, remote)
    assert not result.written
    assert result.describe() == f"s3://{BUCKET}/{KEY} already holds serial 3: nothing to copy"


def test_a_different_lineage_is_refused_unless_forced(
    tmp_path: Path, remote: S3Backend, s3: Any
) -> None:
    copy(recorded_state(tmp_path / "a.json"), remote)
    before = stored(s3)
    other = recorded_state(tmp_path / "b.json")
    with pytest.raises(StateError, match="the lineages differ") as caught:
        copy(other, remote)
    assert caught.value.hint is not None
    assert "--force" in caught.value.hint
    assert stored(s3) == before
    assert copy(other, remote, force=True).written
    assert stored(s3) == other.path.read_bytes()


def test_a_serial_going_backwards_is_refused_unless_forced(tmp_path: Path, s3: Any) -> None:
    make_bucket(s3)
    older = recorded_state(tmp_path / "old.json", changes=2)
    newer = LocalBackend(tmp_path / "new.json")
    newer.write(older.read() or pytest.fail("no state"))
    Recorder(newer, newer.read() or pytest.fail("no state")).forget("vpc")
    with pytest.raises(StateError, match=r"the serial would go backwards \(incoming 2, destina"):
        copy(older, newer)
    assert (newer.read() or pytest.fail("no state")).serial == 3
    result = copy(older, newer, force=True)
    assert (result.replaced_serial, result.serial) == (3, 2)
    assert newer.path.read_bytes() == older.path.read_bytes()


def test_two_different_documents_with_one_serial_diverged(tmp_path: Path) -> None:
    base = recorded_state(tmp_path / "a.json", changes=1)
    twin = LocalBackend(tmp_path / "b.json")
    twin.write(base.read() or pytest.fail("no state"))
    Recorder(base, base.read() or pytest.fail("no state")).record("igw", "igw", "igw-1", {}, [])
    Recorder(twin, twin.read() or pytest.fail("no state")).record("igw", "igw", "igw-2", {}, [])
    with pytest.raises(StateError, match="both have serial 2 but different contents"):
        copy(base, twin)


def test_transfer_problems_allow_an_empty_destination_and_a_newer_serial() -> None:
    doc = StateDocument.new("dev", "us-east-1")
    assert transfer_problems(doc, None) == []
    older = doc.copy()
    doc.serial = 5
    assert transfer_problems(doc, older) == []


def test_a_state_of_another_stack_is_refused_even_forced(tmp_path: Path, remote: S3Backend) -> None:
    local = recorded_state(tmp_path / "dev.json")
    with pytest.raises(StateError, match="is the state of stack 'dev' in us-east-1, not of stack"):
        copy_state(
            local, remote, stack="prod", region="us-east-1", operation="state push", force=True
        )
    assert remote.read() is None


def test_a_missing_source_is_an_error(tmp_path: Path, remote: S3Backend) -> None:
    with pytest.raises(StateError, match=f"there is no state at {tmp_path / 'nope.json'}"):
        copy(LocalBackend(tmp_path / "nope.json"), remote)


def test_the_destination_lock_is_taken(tmp_path: Path, remote: S3Backend, s3: Any) -> None:
    local = recorded_state(tmp_path / "dev.json")
    with remote.lock("up"), pytest.raises(LockError, match=r"is locked by .*\(smprov up\)"):
        copy(local, S3Backend(S3Location(BUCKET, KEY), s3, ACCOUNT))
    assert remote.read() is None
