"""Delete what killed acceptance runs left behind: ``python -m tests.acceptance.sweep
--older-than 6h [--region R] [--dry-run]``.

An acceptance environment is named ``acc-<start time>-<random>`` and every resource of it is
tagged ``smprov-acceptance``, so leftovers are found by name and tag and dated by their name.
Each stack older than the limit is taken over with ``smprov import`` (its state may be lost with
the run) and torn down with ``smprov down --yes --delete-data --delete-logs``; then its state
bucket and the drift step's managed policy go. Younger stacks (a run in progress) are left
alone. Uses the standard AWS configuration chain, like smprov.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.acceptance.lifecycle import (
    ENV_PREFIX,
    SUITE_TAG,
    Result,
    delete_bucket,
    started_at,
)

_ENV = re.compile(rf"{ENV_PREFIX}[0-9a-z]+-[0-9a-z]{{4}}")
_AGE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    match = _AGE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number and s, m, h or d (6h)")
    return int(match[1]) * _UNITS[match[2]]


def leftovers(clients: Callable[[str], Any]) -> dict[str, list[str]]:
    """Acceptance environments seen in the account: name -> what shows them (for the log)."""
    found: dict[str, list[str]] = {}

    def note(env: str | None, what: str) -> None:
        if env and _ENV.fullmatch(env):
            found.setdefault(env, []).append(what)

    for bucket in clients("s3").list_buckets().get("Buckets", []):
        name = bucket["Name"]
        match = _ENV.search(name)
        if match and (name.startswith(ENV_PREFIX) or name.startswith("smprov-acc-")):
            note(match[0], f"bucket {name}")
    for page in clients("iam").get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            match = _ENV.match(role["RoleName"])
            note(match[0] if match else None, f"role {role['RoleName']}")
    for page in clients("iam").get_paginator("list_policies").paginate(Scope="Local"):
        for policy in page["Policies"]:
            match = _ENV.match(policy["PolicyName"])
            note(match[0] if match else None, f"policy {policy['PolicyName']}")
    vpcs = clients("ec2").describe_vpcs(Filters=[{"Name": "tag-key", "Values": [SUITE_TAG]}])
    for vpc in vpcs["Vpcs"]:
        tags = {t["Key"]: t["Value"] for t in vpc.get("Tags", [])}
        note(tags.get("smprov:stack"), f"vpc {vpc['VpcId']}")
    return found


def sweep_stack(
    env: str,
    region: str,
    account: str,
    run_cli: Callable[[Sequence[str], Path], Result],
    clients: Callable[[str], Any],
) -> list[str]:
    """Tear ``env`` down; returns the problems (empty when it is gone)."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "smprov.toml").write_text(
            f'environment = "{env}"\nregion = "{region}"\n[tags]\n{SUITE_TAG} = "true"\n'
        )
        for args in (["import"], ["down", "--yes", "--delete-data", "--delete-logs"]):
            result = run_cli([*args, "--state", str(work / "state.json")], work)
            if result.exit_code != 0:
                problems.append(
                    f"smprov {args[0]}: exit {result.exit_code}: {result.stderr[-800:]}"
                )
                break
    from tests.acceptance.lifecycle import state_bucket_name

    delete_bucket(clients("s3"), state_bucket_name(env, account))
    iam = clients("iam")
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for policy in page["Policies"]:
            if policy["PolicyName"].startswith(env):
                for attached in iam.list_entities_for_policy(PolicyArn=policy["Arn"])[
                    "PolicyRoles"
                ]:
                    iam.detach_role_policy(RoleName=attached["RoleName"], PolicyArn=policy["Arn"])
                iam.delete_policy(PolicyArn=policy["Arn"])
    return problems


def sweep(
    older_than: float,
    region: str,
    run_cli: Callable[[Sequence[str], Path], Result],
    clients: Callable[[str], Any],
    *,
    dry_run: bool = False,
    now: float | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """Sweep every acceptance stack older than ``older_than`` seconds; the exit code."""
    now = time.time() if now is None else now
    account = clients("sts").get_caller_identity()["Account"]
    failed = 0
    for env, evidence in sorted(leftovers(clients).items()):
        started = started_at(env)
        age = now - started if started is not None else 0.0
        if age < older_than:
            say(f"keep  {env} ({age / 3600:.1f} h old): {', '.join(evidence)}")
            continue
        say(f"sweep {env} ({age / 3600:.1f} h old): {', '.join(evidence)}")
        if dry_run:
            continue
        problems = sweep_stack(env, region, account, run_cli, clients)
        for problem in problems:
            say(f"  {problem}")
        failed += bool(problems)
    return 1 if failed else 0


def cli_runner() -> Callable[[Sequence[str], Path], Result]:
    """Runs smprov in this process (typer's runner) in a working directory."""
    import os

    from typer.testing import CliRunner

    from provisioner.cli import app

    runner = CliRunner()

    def run(args: Sequence[str], cwd: Path) -> Result:
        before = Path.cwd()
        os.chdir(cwd)
        try:
            result = runner.invoke(app, list(args), input="")
        finally:
            os.chdir(before)
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.acceptance.sweep", description=__doc__)
    parser.add_argument("--older-than", type=parse_age, required=True, help="e.g. 6h")
    parser.add_argument("--region", default=None, help="default: the AWS configuration chain")
    parser.add_argument("--dry-run", action="store_true", help="only list what would go")
    args = parser.parse_args(argv)
    import boto3

    region = args.region or boto3.session.Session().region_name or "us-east-1"
    from provisioner.aws.clients import Clients

    return sweep(args.older_than, region, cli_runner(), Clients(region), dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
