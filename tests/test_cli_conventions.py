"""The conventions a user expects of a CLI (issue 13, items 1, 2, 3 and 6), rendered at 100
columns: flags shown as flags, -h, --version, unknown commands answered with the right one,
Ctrl-C exits 130 everywhere, no doubled prefixes, a clear message within seconds for an endpoint
that cannot be reached, an unknown region refused offline, `up` ending with what to do next."""

from __future__ import annotations

import os
import re
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from provisioner import operations
from provisioner.aws.clients import Clients
from provisioner.cli import app
from tests.conftest import WIDTH
from tests.test_cli import assert_clean_failure, vpcs


def _wide_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > WIDTH]


@pytest.mark.parametrize("args", [("-h",), ("up", "-h"), ("down", "--help"), ("local", "-h")])
def test_help_shows_flags_as_flags(cli: Callable[..., Result], args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert "<bool>" not in result.output
    assert _wide_lines(result.output) == []


def test_the_command_list_reads_one_line_per_command(cli: Callable[..., Result]) -> None:
    """`smprov -h` lists each command with its one-line summary: a docstring's line break is
    never shown as a sentence cut in the middle of the panel."""
    import typer

    result = cli("-h")
    panel = result.output.split("Commands")[1].split("╰")[0].splitlines()[1:]
    rows = [line.strip("│ ") for line in panel]
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert all(re.match(r"^[a-z]+ {2,}\S", row) for row in rows), rows
    assert {row.split()[0] for row in rows} == commands and len(rows) == len(commands)


def test_version(cli: Callable[..., Result]) -> None:
    from provisioner import __version__

    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"smprov {__version__}"


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("apply", "use `smprov up`"),
        ("destroy", "use `smprov down`"),
        ("destory", "use `smprov down`"),
        ("init", "smprov needs no init"),
        ("validate", "use `smprov plan`"),
        ("statu", "did you mean `status`?"),
    ],
)
def test_an_unknown_command_names_the_one_to_use(
    cli: Callable[..., Result], typed: str, answer: str
) -> None:
    result = cli(typed)
    assert_clean_failure(result, 2)
    assert answer in " ".join(result.output.split())


def test_plan_help_documents_every_exit_code(cli: Callable[..., Result]) -> None:
    text = " ".join(cli("plan", "-h").output.replace("│", " ").split())
    for code in ("0: no changes", "3: changes", "1: an AWS or operation error", "2: a usage or"):
        assert code in text


def test_down_without_a_terminal_says_delete(cli: Callable[..., Result]) -> None:
    assert cli("up", "--yes").exit_code == 0
    result = cli("down")
    assert_clean_failure(result, 2)
    assert "re-run with --yes to delete without asking" in result.output
    assert "apply" not in result.output.split("error:", 1)[1]


def _on_first(monkeypatch: pytest.MonkeyPatch, event: str, action: Callable[[], Any]) -> None:
    """Run ``action`` once, on the first ``event`` of the clients the CLI builds."""
    real = operations._make_clients
    fired: list[bool] = []

    def make(options: operations.Options, config: Any) -> Clients:
        clients = real(options, config)

        def hook(**_: Any) -> None:
            if not fired:
                fired.append(True)
                action()

        clients.add_hook(event, hook)
        return clients

    monkeypatch.setattr(operations, "_make_clients", make)


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_during_an_apply_exits_130_after_recording_what_ran(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    _on_first(monkeypatch, "before-call.ec2.CreateVpc", _ctrl_c)
    result = cli("up", "--yes")
    assert_clean_failure(result, 130)
    assert "up interrupted:" in result.output
    assert "not started" in result.output
    assert len(vpcs()) == 1  # the step that ran finished and was recorded
    assert "vpc" in (Path("state") / "dev.json").read_text()


def test_ctrl_c_while_reading_exits_130(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    _on_first(monkeypatch, "before-call.sts.GetCallerIdentity", interrupt)
    result = cli("plan")
    assert_clean_failure(result, 130)
    assert "interrupted" in result.output


def test_ctrl_c_at_the_prompt_exits_130(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    from provisioner import cli as cli_module

    def interrupt(*_: Any) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "_stdin_is_terminal", lambda: True)
    monkeypatch.setattr(builtins, "input", interrupt)
    result = cli("up")
    assert_clean_failure(result, 130)
    assert vpcs() == []


def test_a_failed_step_is_named_once(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    def refuse() -> None:
        error = {"Error": {"Code": "VpcLimitExceeded", "Message": "The maximum is 5."}}
        raise ClientError(error, "CreateVpc")

    _on_first(monkeypatch, "before-call.ec2.CreateVpc", refuse)
    result = cli("up", "--yes")
    assert_clean_failure(result, 1)
    assert "VpcLimitExceeded: The maximum is 5." in result.output
    assert "vpc: apply vpc" not in result.output
    assert re.search(r"error: apply vpc: VpcLimitExceeded", result.output)


def test_an_unreachable_endpoint_fails_fast_and_names_it(
    aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No moto here: the CLI talks to a port where nothing listens."""
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0.0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.chdir(tmp_path)
    sent: list[str] = []
    real = operations._make_clients

    def counting(options: operations.Options, config: Any) -> Clients:
        clients = real(options, config)
        clients.add_hook("before-send.sts.*", lambda **_: sent.append("sts"))
        return clients

    monkeypatch.setattr(operations, "_make_clients", counting)
    result = CliRunner().invoke(app, ["plan"])
    assert_clean_failure(result, 1)
    assert f"cannot connect to http://127.0.0.1:{port}/: the connection was refused" in (
        " ".join(result.output.split())
    )
    assert "AWS_ENDPOINT_URL" in result.output
    assert sent == ["sts", "sts"]  # two tries, not ten


def test_slow_reads_show_progress(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from provisioner import render

    monkeypatch.setattr(render.Waiting, "after", 0.05)
    _on_first(monkeypatch, "before-call.sts.GetCallerIdentity", lambda: time.sleep(0.5))
    result = cli("plan")
    assert result.exit_code == 0, result.output
    assert "reading the stack from AWS ..." in result.output

    monkeypatch.setattr(render.Waiting, "after", 30.0)
    assert "reading the stack" not in cli("plan").output  # a fast read shows nothing


def test_local_reads_name_the_emulator_and_wait_for_its_start(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --local the wait names what is read (the emulator, not AWS), and never lands
    between the emulator's "starting" and "started" lines: a slow start is not a slow read."""
    import time

    from provisioner import local, render

    monkeypatch.setattr(render.Waiting, "after", 0.1)

    def starting_slowly(options: operations.Options, config: Any) -> Clients:
        assert options.say is not None
        options.say(local.Ongoing("starting the local emulator on 127.0.0.1:4599 ..."))
        time.sleep(0.4)  # four times the wait: the emulator's start-up on a slow machine
        options.say("started the local emulator on 127.0.0.1:4599 (pid 1)")
        clients = Clients(config.region)  # the in-process moto of the cli fixture
        clients.add_hook("before-call.sts.GetCallerIdentity", lambda **_: time.sleep(0.4))
        return clients

    monkeypatch.setattr(operations, "_make_clients", starting_slowly)
    result = cli("plan", "--local")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    starting = lines.index("starting the local emulator on 127.0.0.1:4599 ...")
    assert lines[starting + 1] == "started the local emulator on 127.0.0.1:4599 (pid 1)"
    assert lines[starting + 2] == "reading the stack from the local emulator ..."
    assert "from AWS" not in result.output


def test_a_long_step_keeps_a_log_informed(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a terminal (a CI log): a step still running says so every 10 s (shortened here), as
    Terraform's "Still creating..." does; a NAT gateway takes minutes on AWS."""
    import time

    from provisioner import render

    monkeypatch.setattr(render.ProgressSink, "every", 0.2)
    _on_first(monkeypatch, "before-call.ec2.CreateNatGateway", lambda: time.sleep(1.2))
    result = cli("up", "--yes")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    still = [line for line in lines if "create nat_gateway.us-east-1a: still running (" in line]
    assert len(still) >= 2, result.output
    done = next(i for i, line in enumerate(lines) if "✓ create nat_gateway.us-east-1a" in line)
    assert lines.index(still[-1]) < done  # nothing once it is done
    monkeypatch.setattr(render.ProgressSink, "every", 10.0)
    assert "still running" not in cli("down", "--yes").output  # quick steps: no such line


def test_an_unknown_region_is_a_config_error_with_a_suggestion(
    cli: Callable[..., Result],
) -> None:
    Path("smprov.toml").write_text('region = "us-nowhere-1"\n')
    result = cli("up", "--yes", "--local")  # refused before the emulator is even started
    assert_clean_failure(result, 2)
    text = " ".join(result.output.split())
    assert "region: 'us-nowhere-1' is not a region the installed botocore knows" in text
    assert "did you mean 'us-west-1'?" in text
    assert "SMPROV_SKIP_REGION_VALIDATION=1" in text
    assert "<html" not in result.output.lower()


def test_up_ends_with_the_outputs_and_the_next_step(cli: Callable[..., Result]) -> None:
    Path("custom.toml").write_text('environment = "ml"\n')
    result = cli("up", "--yes", "--config", "custom.toml")
    assert result.exit_code == 0, result.output
    tail = result.output[result.output.index("up complete") :]
    assert "Outputs:" in tail
    assert re.search(r"^  vpc_id\s+= vpc-", tail, flags=re.M)
    assert re.search(r"^  sagemaker_role_arn\s+= arn:aws:iam::", tail, flags=re.M)
    assert re.search(r"^  bucket_name\s+= ml-sagemaker-", tail, flags=re.M)
    assert "Next: `smprov output --format sagemaker --config custom.toml`" in tail
    assert _wide_lines(result.output) == []

    again = cli("up", "--yes", "--config", "custom.toml")  # no changes: the same ending
    assert "Outputs:" in again.output and "Next: `smprov output" in again.output


def test_a_read_only_plan_leaves_no_lock_file(cli: Callable[..., Result]) -> None:
    assert cli("plan").exit_code == 0
    assert not Path("state").exists()  # nothing at all: no state, no lock, no folder
    assert cli("up", "--yes").exit_code == 0
    assert cli("plan").exit_code == 0
    assert sorted(p.name for p in Path("state").iterdir()) == ["dev.json"]


def test_an_emulator_500_is_one_line_with_a_pointer_to_its_log(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from botocore.awsrequest import AWSResponse
    from botocore.retries.standard import ExponentialBackoff

    from tests.aws.test_clients import PAGE, _Body

    assert cli("up", "--yes").exit_code == 0
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0.0)
    monkeypatch.setenv("SMPROV_HOME", str(tmp_path / "home"))
    page = AWSResponse("http://127.0.0.1:1", 500, {"Content-Type": "text/html"}, _Body(PAGE))
    real = operations._make_clients

    def make(options: operations.Options, config: Any) -> Clients:
        clients = real(options, config)
        clients.add_hook("before-send.ec2.DescribeNetworkAcls", lambda **_: page)
        return clients

    monkeypatch.setattr(operations, "_make_clients", make)
    result = cli("plan")
    assert_clean_failure(result, 1)
    assert "<" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert "DescribeNetworkAcls failed inside the endpoint (HTTP 500" in line
    assert str(tmp_path / "home" / "emulator.log") in " ".join(result.output.split())


def test_errors_and_hints_wrap_at_the_terminal_width(cli: Callable[..., Result]) -> None:
    """A long error (a refusal naming a stack and its lineage, a list of config problems) is cut
    at spaces, each continuation indented under its own text, never wider than the terminal."""
    Path("smprov.toml").write_text('region = "us-eats-1"\nflow_log_retention_days = 8\n')
    result = cli("plan")
    assert_clean_failure(result, 2)
    assert _wide_lines(result.output) == []
    lines = result.output.splitlines()
    assert lines[0] == "error: invalid configuration:"
    item = next(i for i, line in enumerate(lines) if line.startswith("  - region:"))
    assert lines[item + 1].startswith("    ") and not lines[item + 1].startswith("    -")
    text = " ".join(result.output.split())
    assert (
        "for a region newer than botocore, upgrade it or set SMPROV_SKIP_REGION_VALIDATION=1"
        in (text)
    )

    Path("smprov.toml").unlink()
    assert cli("up", "--yes", "--state", "other.json").exit_code == 0
    result = cli("plan")  # another state's stack: the refusal names both lineages, the hint import
    assert_clean_failure(result, 1)
    assert _wide_lines(result.output) == []
    assert "run `smprov import` to take it over" in " ".join(result.output.split())
