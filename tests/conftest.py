"""Shared fixtures: an offline AWS (moto, in-process) with fake credentials, and a harness."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from tests.harness import Harness

#: The terminal width CLI tests render at.
WIDTH = 100


@pytest.fixture(autouse=True, scope="session")
def _emulator_as_local_runs_it() -> None:
    """moto as ``--local`` runs it: answering as AWS does where moto 5.2 does not
    (``provisioner.emulator_fidelity``), without its per-request method listing (the same
    answers, in less than half the time per EC2 call) and one request at a time per service (its
    backends are not thread-safe; smprov's parallel steps are)."""
    from provisioner.emulator import serialize_requests, speed_up
    from provisioner.emulator_fidelity import behave_like_aws

    behave_like_aws()
    speed_up()
    serialize_requests()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no developer AWS config leaking into tests."""
    empty = tmp_path / "aws-empty-config"
    empty.write_text("")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))


@pytest.fixture
def moto(aws_env: None) -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def cli(moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Runs `smprov ARGS` (typer's CliRunner) in a fresh working directory with no config file,
    rendering through rich at 100 columns (a terminal as wide as the one issue 13 was tried in)."""
    from typer.testing import CliRunner

    from provisioner import render
    from provisioner.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.setattr(render.err, "width", WIDTH)
    monkeypatch.setattr(render.out, "width", WIDTH)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), input="")

    return invoke


@pytest.fixture
def harness(moto: None, tmp_path: Path) -> Harness:
    work = tmp_path / "work"
    work.mkdir()
    return Harness(work)
