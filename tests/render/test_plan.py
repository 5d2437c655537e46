"""The plan as a person reads it at 100 columns (issue 13, item 5): one attribute per line,
internal fields hidden, nothing wider than the terminal, policies diffed by statement, the
resource that forces a replacement first, the same counts as the refusal, and the same text for
two plans of an unchanged world."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from typer.testing import Result

from provisioner.engine.model import UNKNOWN, Action, FieldChange, Live, Step
from provisioner.render import plan as text
from tests.conftest import WIDTH
from tests.test_cli import assert_clean_failure

ROLE = "dev_sagemaker_execution_role"
POLICY = "sagemaker-training"


def _lines(output: str) -> list[str]:
    return output.splitlines()


def test_a_cold_plan_reads_at_100_columns(cli: Callable[..., Result]) -> None:
    result = cli("plan")
    assert result.exit_code == 0, result.output
    assert [line for line in _lines(result.output) if len(line) > WIDTH] == []
    # one attribute per line, names aligned, as Terraform prints them
    assert "        cidr_block           = 10.0.0.0/16" in _lines(result.output)
    assert "        enable_dns_hostnames = true" in _lines(result.output)
    # how smprov does its job is not the user's business
    for field in ("sha256", "md5", "source", "versioned", "smprov:key", "smprov:stack"):
        assert not re.search(rf"^\s+{field}\s+=", result.output, flags=re.M), field
    assert "site-packages" not in result.output and "provisioner/data" not in result.output
    assert "dev-sagemaker-(random, chosen at apply)" in result.output


def test_two_plans_of_an_unchanged_world_print_the_same_text(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioner import render

    # "reading the stack from AWS ..." says a read took over 2 s: timing, not the plan's text
    monkeypatch.setattr(render.Waiting, "after", 3600.0)
    first, second = cli("plan"), cli("plan")
    assert first.output == second.output
    assert cli("plan", "--json").stdout == cli("plan", "--json").stdout


def test_a_policy_change_shows_only_what_changed(cli: Callable[..., Result]) -> None:
    assert cli("up", "--yes").exit_code == 0
    iam = boto3.client("iam", region_name="us-east-1")
    doc = iam.get_role_policy(RoleName=ROLE, PolicyName=POLICY)["PolicyDocument"]
    objects = next(s for s in doc["Statement"] if s.get("Sid") == "BucketObjects")
    objects["Action"] = ["s3:GetObject", "s3:*"]
    doc["Statement"].append({"Sid": "Extra", "Effect": "Allow", "Action": "iam:*", "Resource": "*"})
    iam.put_role_policy(RoleName=ROLE, PolicyName=POLICY, PolicyDocument=json.dumps(doc))

    result = cli("plan")
    assert result.exit_code == 0, result.output
    role = result.output.split(f"~ iam_role.sagemaker_execution (iam_role {ROLE})")[1]
    role = role.split("\nPlan:")[0]
    assert f"~ inline_policies.{POLICY}: policy" in role
    assert "~ statement BucketObjects" in role and "~ Action: [s3:*, s3:GetObject] →" in role
    assert "- statement Extra" in role  # the statement someone added goes
    assert "ListBucket" not in role and "TrainingLogs" not in role  # unchanged: not shown
    assert [line for line in _lines(result.output) if len(line) > WIDTH] == []


def test_the_replacement_that_forces_the_others_comes_first_and_counts_match(
    cli: Callable[..., Result],
) -> None:
    assert cli("up", "--yes").exit_code == 0
    Path("smprov.toml").write_text('vpc_cidr = "10.1.0.0/16"\n')
    plan = cli("plan")
    steps = [line.strip() for line in _lines(plan.output) if re.match(r"^  [-+~/ ]{3} \S", line)]
    assert steps[0].startswith("-/+ vpc (vpc vpc-")
    assert "forces replacement: cidr_block" in steps[0]
    replaced = int(re.search(r"(\d+) to replace", plan.output).group(1))  # type: ignore[union-attr]
    assert replaced > 1

    refused = cli("up", "--yes")
    assert_clean_failure(refused, 1)
    assert f"the plan replaces {replaced} resource(s)" in " ".join(refused.output.split())
    assert "vpc (cidr_block)" in refused.output


def test_long_values_wrap_at_spaces_under_their_column() -> None:
    arns = [f"arn:aws:ec2:us-east-1:123456789012:subnet/subnet-{i:017x}" for i in range(4)]
    step = Step("x", "x", Action.UPDATE, (FieldChange("subnet_arns", arns[:1], arns),))
    lines = [line for line, _style in text.step_lines(step, width=WIDTH)]
    assert all(len(line) <= WIDTH for line in lines)
    assert len(lines) > 2
    hang = lines[1].index("~ subnet_arns: ") + len("~ subnet_arns: ")
    assert all(line.startswith(" " * hang) and line[hang] != " " for line in lines[2:])
    assert all(arn in " ".join(lines).replace("\n", " ") for arn in arns)


def test_a_word_longer_than_the_line_is_cut_not_overflowing() -> None:
    step = Step("k", "k", Action.UPDATE, (FieldChange("v", "a" * 150, "b"),))
    assert all(len(line) <= 60 for line, _ in text.step_lines(step, width=60))


def test_hidden_fields_of_a_kind_read_changed() -> None:
    change = FieldChange("sha256", "a" * 64, "b" * 64)
    step = Step("s3_object.csv", "s3_object", Action.UPDATE, (change,), live=Live("b/k"))
    lines = [line.strip() for line, _ in text.step_lines(step, width=WIDTH, hidden={"sha256"})]
    assert lines[1:] == ["~ sha256: changed"]


def test_order_puts_own_causes_before_their_consequences() -> None:
    cause = Step("vpc", "vpc", Action.REPLACE, (FieldChange("cidr", "a", "b", True),))
    follows = Step("subnet", "subnet", Action.REPLACE, (FieldChange("vpc_id", "v", UNKNOWN, True),))
    update = Step("role", "iam_role", Action.UPDATE, (FieldChange("x", 1, 2),))
    assert text.ordered([update, follows, cause]) == [cause, follows, update]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "true"),
        (None, "null"),
        ("", '""'),
        ([1, "a"], "[1, a]"),
        ({"k": False}, "{k = false}"),
    ],
)
def test_values_read_as_terraform_prints_them(value: object, shown: str) -> None:
    assert text.fmt(value) == shown


def test_a_policy_added_to_a_role_reads_statement_by_statement() -> None:
    """An adopted role gains smprov's inline policy (import --from-terraform): the new document
    is listed as statements, one field per line, a list too long for its line one item per line;
    not one table wrapped across 30 lines that cuts ARNs where the line ends."""
    logs = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/*"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TrainingLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [logs, f"{logs}:log-stream:*"],
            },
            {"Sid": "Find", "Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
        ],
    }
    change = FieldChange("inline_policies", {}, {"sagemaker-training": policy})
    step = Step("iam_role.training", "iam_role", Action.UPDATE, (change,), live=Live("r"))
    lines = [line for line, _style in text.step_lines(step, width=WIDTH)]
    assert all(len(line) <= WIDTH for line in lines)
    body = [line.strip() for line in lines[1:]]
    assert body == [
        "+ inline_policies.sagemaker-training: policy",
        "Version = 2012-10-17",
        "+ statement TrainingLogs",
        "Effect   = Allow",
        "Action   = [logs:CreateLogStream, logs:PutLogEvents]",
        "Resource = [",
        logs,
        f"{logs}:log-stream:*",
        "]",
        "+ statement Find",
        "Effect   = Allow",
        "Action   = [logs:DescribeLogGroups]",
        "Resource = [*]",
    ]


def test_an_entry_too_long_for_its_line_opens_a_block() -> None:
    entry = {"rule_number": 101, "protocol": "-1", "action": "allow", "cidr": "::/0"}
    entry |= {"ports": None, "icmp": None, "description": "the module's IPv6 allow-all entry"}
    change = FieldChange("ingress", [entry], [])
    step = Step("default_network_acl", "default_network_acl", Action.UPDATE, (change,))
    body = [line.strip() for line, _style in text.step_lines(step, width=WIDTH)[1:]]
    assert body[:3] == ["~ ingress:", "- {", "rule_number = 101"]
    assert body[-1] == "}"


def test_a_statement_field_too_long_for_its_line_reads_as_blocks() -> None:
    """The flow-log role's trust gains two conditions: a block, not one line wrapped in three."""
    trust = {"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}}
    trust |= {"Action": "sts:AssumeRole"}
    condition = {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*"},
    }
    old = {"Version": "2012-10-17", "Statement": [trust]}
    new = {"Version": "2012-10-17", "Statement": [trust | {"Condition": condition}]}
    change = FieldChange("assume_role_policy", old, new)
    step = Step("iam_role.flow_logs", "iam_role", Action.UPDATE, (change,), live=Live("r"))
    lines = [line for line, _style in text.step_lines(step, width=WIDTH)]
    assert all(len(line) <= WIDTH for line in lines)
    body = [line.strip() for line in lines[1:]]
    assert body[:4] == [
        "~ assume_role_policy: policy",
        "~ statement #1",
        "+ Condition = {",
        "ArnLike      = {",
    ]
    assert "aws:SourceArn = [arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*]" in body
