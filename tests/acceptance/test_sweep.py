"""The sweeper against the emulator: a stack left by an acceptance run older than the limit is
taken over and torn down with its state bucket and drift policy; a younger one is kept."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from provisioner.aws.clients import Clients
from tests.acceptance.lifecycle import (
    SUITE_TAG,
    make_state_bucket,
    state_bucket_name,
    unique_environment,
)
from tests.acceptance.sweep import cli_runner, main, parse_age, sweep

REGION = "us-east-1"
ACCOUNT = "123456789012"
HOURS = 3600


def _leave_a_stack(work: Path, env: str, clients: Clients) -> None:
    """What a run killed between `up` and its cleanup leaves: the stack, its state bucket and
    the drift step's policy attached to the role."""
    work.mkdir()
    (work / "smprov.toml").write_text(
        f'environment = "{env}"\nregion = "{REGION}"\navailability_zones = 1\n'
        f'interface_endpoints = []\n[tags]\n{SUITE_TAG} = "true"\n'
    )
    result = cli_runner()(["up", "--yes"], work)
    assert result.exit_code == 0, result.stderr
    make_state_bucket(clients("s3"), state_bucket_name(env, ACCOUNT), REGION)
    iam = clients("iam")
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}  # fmt: skip
    arn = iam.create_policy(PolicyName=f"{env}-drift", PolicyDocument=json.dumps(document))
    iam.attach_role_policy(
        RoleName=f"{env}_sagemaker_execution_role", PolicyArn=arn["Policy"]["Arn"]
    )


def test_old_leftovers_are_swept_and_young_ones_kept(moto: None, tmp_path: Path) -> None:
    clients = Clients(REGION, max_attempts=1)
    now = time.time()
    old, young = unique_environment(now - 7 * HOURS), unique_environment(now - 1 * HOURS)
    _leave_a_stack(tmp_path / "old", old, clients)
    _leave_a_stack(tmp_path / "young", young, clients)
    said: list[str] = []
    assert sweep(6 * HOURS, REGION, cli_runner(), clients, now=now, say=said.append) == 0
    assert [line.split()[:2] for line in said if not line.startswith(" ")] == [
        ["sweep", old],
        ["keep", young],
    ]
    ec2, iam = clients("ec2"), clients("iam")
    stacks = {
        {t["Key"]: t["Value"] for t in vpc.get("Tags", [])}.get("smprov:stack")
        for vpc in ec2.describe_vpcs()["Vpcs"]
    }
    assert old not in stacks and young in stacks
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert not any(r.startswith(old) for r in roles)
    assert any(r.startswith(young) for r in roles)
    buckets = {b["Name"] for b in clients("s3").list_buckets()["Buckets"]}
    assert not any(old in b for b in buckets)
    assert state_bucket_name(young, ACCOUNT) in buckets
    policies = {p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]}
    assert policies == {f"{young}-drift"}


def test_the_age_is_a_number_and_a_unit() -> None:
    assert parse_age("6h") == 6 * HOURS
    assert parse_age("90m") == 90 * 60
    with pytest.raises(SystemExit):
        main(["--older-than", "six hours"])
