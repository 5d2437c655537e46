"""`smprov state pull/push` and `smprov unlock` with S3 state, through the CLI (in-process moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from provisioner.cli import app
from provisioner.store.s3 import S3Backend, S3Location
from tests.store.test_s3 import ACCOUNT, BUCKET, KEY, LOCK_KEY, make_bucket, put_foreign_lock
from tests.store.test_transfer import recorded_state

URL = f"s3://{BUCKET}/{KEY}"


@pytest.fixture
def s3(moto: None) -> Any:
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "smprov.toml"
    path.write_text(f'environment = "dev"\nregion = "us-east-1"\nstate_backend = "{URL}"\n')
    return path


def smprov(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_push_then_pull_round_trips(tmp_path: Path, config: Path, s3: Any) -> None:
    make_bucket(s3)
    local = recorded_state(tmp_path / "dev.json")
    pushed = smprov("state", "push", local.path, "--config", config)
    assert pushed.exit_code == 0, pushed.stderr
    assert f"copied serial 3 from {local.path} to {URL}" in pushed.stderr
    assert pushed.stdout == ""
    pulled = smprov("state", "pull", "--config", config)
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.stdout == local.path.read_text()
    out = tmp_path / "pulled" / "dev.json"
    saved = smprov("state", "pull", "--out", out, "--config", config)
    assert saved.exit_code == 0, saved.stderr
    assert out.read_bytes() == local.path.read_bytes()


def test_push_of_another_lineage_fails_unless_forced(tmp_path: Path, config: Path, s3: Any) -> None:
    make_bucket(s3)
    assert (
        smprov("state", "push", recorded_state(tmp_path / "a.json").path, "-c", config).exit_code
        == 0
    )
    other = recorded_state(tmp_path / "b.json").path
    refused = smprov("state", "push", other, "-c", config)
    assert refused.exit_code == 1
    assert "error: refusing to copy" in refused.stderr
    assert "the lineages differ" in refused.stderr
    assert "hint:" in refused.stderr
    assert "Traceback" not in refused.stderr
    forced = smprov("state", "push", other, "--force", "-c", config)
    assert forced.exit_code == 0, forced.stderr
    assert smprov("state", "pull", "-c", config).stdout == other.read_text()


def test_push_into_a_locked_state_names_the_holder(tmp_path: Path, config: Path, s3: Any) -> None:
    make_bucket(s3)
    put_foreign_lock(s3)
    result = smprov("state", "push", recorded_state(tmp_path / "dev.json").path, "-c", config)
    assert result.exit_code == 1
    assert f"state {URL} is locked by pid 4242 on host build-7" in " ".join(result.stderr.split())
    assert S3Backend(S3Location(BUCKET, KEY), s3, ACCOUNT).read() is None


def test_unlock_removes_a_stale_lock_and_says_whose_it_was(config: Path, s3: Any) -> None:
    make_bucket(s3)
    put_foreign_lock(s3)
    result = smprov("unlock", "-c", config)
    assert result.exit_code == 0, result.stderr
    assert f"removed the lock on {URL} held by pid 4242 on host build-7" in result.stderr
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    again = smprov("unlock", "-c", config)
    assert again.exit_code == 0
    assert "nothing to remove" in again.stderr


def test_unlock_refuses_a_live_holder_on_this_host(config: Path, s3: Any) -> None:
    make_bucket(s3)
    with S3Backend(S3Location(BUCKET, KEY), s3, ACCOUNT).lock("up"):
        result = smprov("unlock", "-c", config)
        assert result.exit_code == 1
        assert "held by a running process on this host" in " ".join(result.stderr.split())
        body = s3.get_object(Bucket=BUCKET, Key=LOCK_KEY)["Body"].read()
    assert json.loads(body)["operation"] == "up"


def test_an_unversioned_bucket_is_refused(config: Path, s3: Any) -> None:
    make_bucket(s3, versioning=None)
    result = smprov("state", "pull", "-c", config)
    assert result.exit_code == 1
    assert f"refusing to keep state in bucket {BUCKET}" in result.stderr
    assert "put-bucket-versioning" in result.stderr


def test_pull_without_a_state_fails(config: Path, s3: Any) -> None:
    make_bucket(s3)
    result = smprov("state", "pull", "-c", config)
    assert result.exit_code == 1
    assert f"there is no state at {URL}" in result.stderr
    assert result.stdout == ""


def test_a_bad_s3_url_is_a_usage_error(config: Path, s3: Any) -> None:
    result = smprov("state", "pull", "--state", "s3://Bad_Bucket/dev.json", "-c", config)
    assert result.exit_code == 2
    assert "Bad_Bucket" in result.stderr
