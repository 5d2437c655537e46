"""A lost state file: `up` and `import` adopt the stack by its tags, `down` still removes it all.

Terraform makes a second VPC when its state file is lost. Here the state is deleted after a full
`up`; the stack's resources carry ``smprov:stack``/``smprov:key`` tags (or deterministic names), so
every one of them is found again, with the same id, and nothing is created twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provisioner import stack as ops
from provisioner.aws.clients import Clients
from provisioner.cli import app
from provisioner.engine.model import Action
from provisioner.store.document import StateDocument
from tests.test_crash_matrix import (
    CONFIG,
    ENV,
    FAKE_ENV,
    REGION,
    Account,
    Item,
    KillSwitch,
    compare,
    fake_aws_env,
    fresh_account,
    plan_only,
    run,
    stack_items,
)


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    with fake_aws_env():
        yield Account(Clients(REGION, max_attempts=1))


@pytest.fixture
def lost(account: Account, tmp_path: Path) -> Iterator[tuple[StateDocument, list[Item]]]:
    """A converged stack whose state file has just been deleted: (the lost state, baseline)."""
    (tmp_path / "smprov.toml").write_text(CONFIG)
    with fresh_account(account) as baseline:
        _plan, report, state = run(account, tmp_path)
        assert report.ok
        state_file(tmp_path).unlink()
        account.switch = KillSwitch()
        yield state, baseline


def state_file(workdir: Path) -> Path:
    return workdir / "state" / f"{ENV}.json"


def ids(doc: StateDocument) -> dict[str, str]:
    return {key: rec.id for key, rec in doc.resources.items()}


def test_up_without_state_adopts_every_resource_and_rewrites_the_state(
    account: Account, tmp_path: Path, lost: tuple[StateDocument, list[Item]]
) -> None:
    before, baseline = lost
    plan = plan_only(account, tmp_path)
    assert {s.action for s in plan.steps} == {Action.UPDATE}  # adopt: nothing to create
    assert all(s.reason.startswith("adopted") and s.changes == () for s in plan.steps)

    _plan, report, after = run(account, tmp_path)
    assert report.ok
    assert account.switch.answered == []  # not one change in AWS
    assert ids(after) == ids(before)
    assert after.data == before.data  # the bucket's generated name suffix, recovered
    assert after.lineage != before.lineage  # a new state, not a resurrected file
    assert compare(stack_items(account.clients, baseline), after) == []  # no second VPC
    assert plan_only(account, tmp_path).is_empty


def test_import_adopts_every_resource_without_any_change(
    account: Account, tmp_path: Path, lost: tuple[StateDocument, list[Item]]
) -> None:
    before, baseline = lost
    stk = ops.open_stack(ops.Options(cwd=tmp_path, clients=account.clients))
    with ops.locked(stk, "import") as doc:
        count = ops.adopt_into_state(stk, doc)
    assert account.switch.answered == []
    after = stk.backend.read()
    assert after is not None
    assert count == len(before.resources)
    assert ids(after) == ids(before)
    assert compare(stack_items(account.clients, baseline), after) == []
    assert plan_only(account, tmp_path).is_empty


def test_down_without_state_finds_and_removes_everything_but_still_asks(
    account: Account,
    tmp_path: Path,
    lost: tuple[StateDocument, list[Item]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _before, baseline = lost
    monkeypatch.chdir(tmp_path)
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    refused = runner.invoke(app, ["down"], input="")
    assert refused.exit_code == 2, refused.output
    assert "--yes" in refused.output
    assert len(stack_items(account.clients, baseline)) > 0

    done = runner.invoke(app, ["down", "--yes", "--delete-data", "--delete-logs"])
    assert done.exit_code == 0, done.output
    assert [i.name for i in stack_items(account.clients, baseline)] == []
    left = StateDocument.from_json(state_file(tmp_path).read_text(), "state")
    assert left.resources == {}
