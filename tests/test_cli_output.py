"""What the CLI shows a person and a script: the plan, --json documents, status and output."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import Result


def test_plan_lists_creates_with_their_settings_and_a_summary(cli: Callable[..., Result]) -> None:
    result = cli("plan")
    assert result.exit_code == 0, result.output
    assert "+ subnet.private.us-east-1a" in result.output
    block = result.output.split("+ subnet.private.us-east-1a (subnet)\n", 1)[1].split("  + ")[0]
    assert "        cidr_block              = 10.0.0.0/20\n" in block  # one attribute per line
    assert "        vpc_id                  = ${vpc.id}\n" in block
    assert "to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged" in result.output


def test_show_unchanged_lists_every_resource(cli: Callable[..., Result]) -> None:
    assert cli("up", "--yes").exit_code == 0
    quiet = cli("plan")
    assert "No changes." in quiet.output and "subnet.private.us-east-1a" not in quiet.output
    full = cli("plan", "--show-unchanged")
    assert "subnet.private.us-east-1a" in full.output
    assert "0 to create, 0 to update, 0 to replace, 0 to delete" in full.output


def test_json_commands_print_exactly_one_document_on_stdout(cli: Callable[..., Result]) -> None:
    plan = json.loads(cli("plan", "--json").stdout)
    assert plan["ok"] is True
    assert {c["action"] for c in plan["changes"]} == {"create"}
    up = json.loads(cli("up", "--yes", "--json").stdout)
    assert up["ok"] is True and up["resources"]["vpc"].startswith("vpc-")
    status = json.loads(cli("status", "--json").stdout)
    assert {r["status"] for r in status["resources"]} == {"exists"}
    output = json.loads(cli("output", "--json").stdout)
    assert output["vpc_id"] == up["resources"]["vpc"]
    assert len(output["private_subnets"]) == 2
    down = json.loads(cli("down", "--yes", "--json", "--delete-logs", "--delete-data").stdout)
    assert down["ok"] is True and down["resources"] == {}


def test_status_reports_a_resource_deleted_out_of_band(cli: Callable[..., Result]) -> None:
    import boto3

    up = json.loads(cli("up", "--yes", "--json").stdout)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.delete_route(
        RouteTableId=up["resources"]["route_table.public"], DestinationCidrBlock="0.0.0.0/0"
    )
    rows = {r["key"]: r["status"] for r in json.loads(cli("status", "--json").stdout)["resources"]}
    assert rows["route.public.internet"] == "missing"
    assert rows["vpc"] == "exists"


def test_output_without_a_state_says_to_run_up(cli: Callable[..., Result]) -> None:
    result = cli("output")
    assert result.exit_code == 1
    assert "has no resources in its state" in result.output
    assert "smprov up" in result.output


def _wide(text: str) -> list[str]:
    from tests.conftest import WIDTH

    return [line for line in text.splitlines() if len(line) > WIDTH]


def test_status_at_100_columns_shows_every_key_and_id_whole(cli: Callable[..., Result]) -> None:
    """The ids are what a reader copies: none is cut with an ellipsis to fit the terminal."""
    up = json.loads(cli("up", "--yes", "--json").stdout)
    result = cli("status")
    assert result.exit_code == 0, result.output
    assert _wide(result.output) == []
    assert "…" not in result.output
    words = set(result.output.split())
    for key, resource_id in up["resources"].items():
        assert key in words and resource_id in words, key


def test_output_at_100_columns_puts_tables_and_long_lists_on_their_own_lines(
    cli: Callable[..., Result],
) -> None:
    assert cli("up", "--yes").exit_code == 0
    values = json.loads(cli("output", "--json").stdout)
    result = cli("output")
    assert result.exit_code == 0, result.output
    assert _wide(result.output) == []
    lines = result.output.splitlines()
    assert f"vpc_id                               = {values['vpc_id']}" in lines
    assert "vpc_endpoint_ids                     = {" in lines
    for service, endpoint in values["vpc_endpoint_ids"].items():
        assert any(line.split() == [service, "=", endpoint] for line in lines), service
    for uri in values["s3_folder_uris"]:
        assert f"    {uri}" in lines
