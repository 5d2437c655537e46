"""The `smprov` command as a user meets it: exit codes and messages, never a traceback.

Run in-process with typer's CliRunner against in-process moto; the CLI builds its own clients, so
AWS faults are injected by wrapping ``stack._make_clients``.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from provisioner import operations
from provisioner.aws.clients import Clients
from provisioner.store.local import LocalBackend
from tests.test_faults import CallFaults

STATE = Path("state") / "dev.json"


def inject(monkeypatch: pytest.MonkeyPatch, operation: str, fault: CallFaults) -> None:
    """Make the clients the CLI builds answer ``operation`` with ``fault``."""
    real = operations._make_clients

    def make(options: operations.Options, config: Any) -> Clients:
        clients = real(options, config)
        fault.install(clients, operation)
        return clients

    monkeypatch.setattr(operations, "_make_clients", make)


def vpcs() -> list[Any]:
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1")
    return [v for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]]


def assert_clean_failure(result: Result, exit_code: int) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_config_errors_exit_2_with_one_line_per_field(cli: Callable[..., Result]) -> None:
    Path("smprov.toml").write_text(
        'vpc_cidr = "10.0.0.0/33"\nparallelism = 0\nflow_log_retention_days = 8\ncolour = "red"\n'
    )
    result = cli("plan")
    assert_clean_failure(result, 2)
    lines = [line.strip() for line in result.output.splitlines() if line.strip().startswith("- ")]
    fields = ["colour", "flow_log_retention_days", "parallelism", "vpc_cidr"]
    assert len(lines) == len(fields)
    assert [f for f in fields if sum(f in line for line in lines) != 1] == []
    assert vpcs() == []


def test_an_aws_error_exits_1_with_its_code(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    denied = CallFaults(
        "UnauthorizedOperation", "You are not authorized to perform this operation."
    )
    inject(monkeypatch, "ec2.DescribeVpcs", denied)
    result = cli("plan")
    assert_clean_failure(result, 1)
    assert "UnauthorizedOperation" in result.output
    assert "You are not authorized" in result.output


def test_a_failed_step_exits_1_and_json_carries_the_code(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = CallFaults("VpcLimitExceeded", "The maximum number of VPCs has been reached.")
    inject(monkeypatch, "ec2.CreateVpc", limit)
    result = cli("up", "--yes", "--json")
    assert_clean_failure(result, 1)
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert [(e["key"], e["code"]) for e in doc["errors"]] == [("vpc", "VpcLimitExceeded")]


def test_up_and_down_need_yes_without_a_terminal(cli: Callable[..., Result]) -> None:
    refused = cli("up")
    assert_clean_failure(refused, 2)
    assert "--yes" in refused.output
    assert vpcs() == []

    assert cli("up", "--yes").exit_code == 0
    refused = cli("down")
    assert_clean_failure(refused, 2)
    assert "--yes" in refused.output
    assert len(vpcs()) == 1


def test_plan_detailed_exitcode_is_3_for_changes_and_0_for_none(cli: Callable[..., Result]) -> None:
    assert cli("plan", "--detailed-exitcode").exit_code == 3
    assert cli("up", "--yes").exit_code == 0
    result = cli("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert cli("plan").exit_code == 0  # without the flag, changes are not an error


DAMAGED = {
    "truncated": ('{"format_version": 1, "lineage": "', "not valid JSON"),
    "not a state": ('{"hello": "world"}', "state file"),
    "newer format": (
        json.dumps({"format_version": 99, "lineage": "x"}),
        "install a newer smprov",
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_damaged_state_is_a_clear_error_and_is_left_untouched(
    cli: Callable[..., Result], damage: str
) -> None:
    text, expected = DAMAGED[damage]
    STATE.parent.mkdir(parents=True)
    STATE.write_text(text)
    before = STATE.read_bytes()
    result = cli("up", "--yes")
    assert_clean_failure(result, 1)
    assert expected in " ".join(result.output.split())
    assert str(STATE) in result.output
    assert STATE.read_bytes() == before
    assert vpcs() == []  # nothing changed in AWS


def test_a_held_lock_names_its_holder(cli: Callable[..., Result]) -> None:
    with LocalBackend(STATE.resolve()).lock("up"):
        result = cli("up", "--yes")
    assert_clean_failure(result, 1)
    assert f"pid {os.getpid()}" in result.output
    assert socket.gethostname() in result.output
    assert "since" in result.output and "smprov up" in result.output
    assert vpcs() == []
    assert cli("up", "--yes").exit_code == 0  # released: the next run goes ahead


def stale_lock(path: Path) -> int:
    """A lock file left by a smprov that died (its process no longer exists): its pid."""
    import subprocess
    import sys

    from provisioner.store.backend import LockInfo

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)
    info = LockInfo(socket.gethostname(), pid, "2026-11-25T17:00:00Z", "up", "0.1.0")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(path.name + ".lock").write_text(info.to_json())
    return pid


def test_a_stale_lock_is_taken_over_and_said_so(
    cli: Callable[..., Result], caplog: pytest.LogCaptureFixture
) -> None:
    pid = stale_lock(STATE)
    result = cli("up", "--yes")
    assert result.exit_code == 0, result.output
    assert any(f"pid {pid}" in r.getMessage() and "ended" in r.getMessage() for r in caplog.records)


def test_unlock_removes_a_stale_lock_and_names_its_holder(cli: Callable[..., Result]) -> None:
    pid = stale_lock(STATE)
    result = cli("unlock")
    assert result.exit_code == 0, result.output
    assert f"pid {pid}" in result.output and "2026-11-25T17:00:00Z" in result.output
    assert not STATE.with_name(STATE.name + ".lock").exists()


def test_unlock_refuses_while_the_holder_runs(cli: Callable[..., Result]) -> None:
    with LocalBackend(STATE.resolve()).lock("up"):
        result = cli("unlock")
    assert_clean_failure(result, 1)
    assert f"pid {os.getpid()}" in result.output


def test_a_config_aws_would_refuse_to_create_does_not_block_down(
    cli: Callable[..., Result],
) -> None:
    """The endpoint-service preflight guards `up`; a teardown needs no service to exist (the
    stack may predate a typo in the file, or the region may have dropped a service)."""
    assert cli("up", "--yes").exit_code == 0
    Path("smprov.toml").write_text('interface_endpoints = ["sagemaker.api", "no-such-service"]\n')
    refused = cli("plan")
    assert_clean_failure(refused, 2)
    assert "'no-such-service' is not an endpoint service" in refused.output

    assert cli("plan", "--destroy").exit_code == 0
    result = cli("down", "--yes")
    assert result.exit_code == 0, result.output
    assert vpcs() == []


def test_a_missing_managed_policy_fails_with_the_other_problems_before_any_change(
    cli: Callable[..., Result],
) -> None:
    """Used to fail after 38 resources were made; now it is one report with every problem."""
    Path("smprov.toml").write_text(
        "flow_log_retention_days = 8\n"
        'interface_endpoints = ["sagemaker.api", "no-such-service"]\n'
        'managed_policy_arns = ["arn:aws:iam::aws:policy/NoSuchPolicyAtAll"]\n'
    )
    result = cli("up", "--yes")
    assert_clean_failure(result, 2)
    lines = [line.strip() for line in result.output.splitlines() if line.strip().startswith("- ")]
    assert [line.split(":", 1)[0] for line in lines] == [
        "- flow_log_retention_days",
        "- interface_endpoints",
        "- managed_policy_arns",
    ]
    assert vpcs() == []


def test_parallelism_flag_follows_the_config_rule(cli: Callable[..., Result]) -> None:
    """One range check for the setting, whether it comes from the file or from the flag."""
    result = cli("up", "--parallelism", "65", "--yes")
    assert result.exit_code == 2
    assert "--parallelism: 65 is not allowed; use 1 to 64" in result.output
    (Path.cwd() / "smprov.toml").write_text("parallelism = 65\n")
    result = cli("plan")
    assert result.exit_code == 2
    assert "parallelism: 65 is not allowed; use 1 to 64" in result.output
