"""`down` says what it keeps (issue 13, item 4): the plan marks it, the run ends with what was
kept and the exact command that deletes it, and `status` calls it kept, not drifted."""

from __future__ import annotations

import json
from collections.abc import Callable

import boto3
import pytest
from typer.testing import Result

from tests.conftest import WIDTH


@pytest.fixture
def user_object(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> str:
    """A stack whose bucket holds an object of the user's (bucket policies off, as in the
    emulator: moto's evaluation of them is wrong, see provisioner/emulator.py)."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    monkeypatch.setattr(FakeBucket, "get_permission", lambda *_: PermissionResult.NEUTRAL)
    up = json.loads(cli("up", "--yes", "--json").stdout)
    bucket = up["resources"]["bucket"]
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=bucket, Key="mine/notes.txt", Body=b"the user's"
    )
    return bucket


def test_down_marks_says_and_records_what_it_keeps(
    cli: Callable[..., Result], user_object: str
) -> None:
    planned = cli("plan", "--destroy")
    assert "(kept: its flow logs stay; `--delete-logs` deletes them)" in planned.output
    assert "(kept: if it holds objects smprov did not upload; `--delete-data` deletes them)" in (
        planned.output
    )
    assert "to delete (2 may be kept: see above)" in planned.output

    result = cli("down", "--yes")
    assert result.exit_code == 0, result.output
    ending = result.output[result.output.index("down complete") :]
    assert "(2 kept: see below)" in ending
    assert "kept 2 resource(s) that hold data you did not ask to delete:" in ending
    assert f"bucket: kept {user_object}: it holds 1 object(s)" in " ".join(ending.split())
    assert "To delete them too: smprov down --delete-data --delete-logs" in ending
    assert [line for line in ending.splitlines() if len(line) > WIDTH] == []

    rows = {r["key"]: r["status"] for r in json.loads(cli("status", "--json").stdout)["resources"]}
    assert rows == {"bucket": "kept", "log_group.flow_logs": "kept"}

    again = cli("down", "--yes", "--delete-data", "--delete-logs")
    assert again.exit_code == 0, again.output
    assert "kept" not in again.output.split("down complete")[1]
    assert json.loads(cli("status", "--json").stdout)["resources"] == []


def test_a_kept_bucket_is_the_stacks_again_after_up(
    cli: Callable[..., Result], user_object: str
) -> None:
    assert cli("down", "--yes").exit_code == 0
    assert cli("up", "--yes").exit_code == 0
    rows = {r["key"]: r["status"] for r in json.loads(cli("status", "--json").stdout)["resources"]}
    assert rows["bucket"] == "exists"
    assert "kept" not in set(rows.values())


def test_an_up_that_replaces_a_kept_log_group_says_it_leaves_the_state(
    cli: Callable[..., Result],
) -> None:
    """`down` keeps the flow-log group; the next `up` makes a new VPC, so a new group replaces
    the kept one in the state. The old one stays in AWS but no smprov command reaches it any more:
    the run must not say `smprov down --delete-logs` deletes it."""
    assert cli("up", "--yes").exit_code == 0
    old = json.loads(cli("output", "--json").stdout)["vpc_id"]
    assert cli("down", "--yes").exit_code == 0

    planned = " ".join(cli("plan").output.split())
    assert (
        f"-/+ log_group.flow_logs (log_group /aws/vpc-flow-log/{old}) forces replacement: name"
    ) in planned
    assert (
        "(kept: the old log group stays in AWS if it holds data, outside the state: smprov will "
        "not delete it)"
    ) in planned
    assert "1 to replace (1 may keep the old one: see above), 0 to delete," in planned

    result = cli("up", "--yes")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    group = f"/aws/vpc-flow-log/{old}"
    assert f"kept {group}: it holds flow-log data; a new log group replaced it in the state" in said
    assert "smprov down --delete-logs deletes it" not in said

    assert cli("down", "--yes", "--delete-logs").exit_code == 0
    logs = boto3.client("logs", region_name="us-east-1")
    left = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert left == [group]  # what the message said: smprov no longer deletes it
