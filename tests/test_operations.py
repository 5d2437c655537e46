"""A state belongs to one stack, region, account and endpoint: a mismatch is refused."""

from __future__ import annotations

import pytest

from provisioner import operations
from provisioner.errors import StateError
from provisioner.store.document import StateDocument
from tests.harness import Harness


def write_state(h: Harness, **fields: object) -> None:
    stk = h.open()
    doc = StateDocument.new("dev", "us-east-1", "123456789012", None)
    for name, value in fields.items():
        setattr(doc, name, value)
    stk.backend.write(doc)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"account": "210987654321"}, "belongs to AWS account 210987654321"),
        ({"endpoint": "http://127.0.0.1:4599"}, "belongs to the endpoint http://127.0.0.1:4599"),
        ({"region": "eu-west-1"}, "is for region eu-west-1"),
        ({"stack": "prod"}, "is for stack 'prod'"),
    ],
)
def test_state_of_another_target_is_refused_before_any_change(
    harness: Harness, fields: dict[str, object], message: str
) -> None:
    write_state(harness, **fields)
    stk = harness.open()
    harness.log.clear()
    with pytest.raises(StateError) as err, operations.locked(stk, "up"):
        pass
    assert message in err.value.message
    assert harness.log.mutating == []


def test_emulator_state_lives_apart_from_real_state(harness: Harness) -> None:
    real = operations.state_backend_for(harness.options(), harness.open().config)
    local = operations.state_backend_for(harness.options(local=True), harness.open().config)
    assert real.describe().endswith("state/dev.json")
    assert local.describe().endswith("state/local/dev.json")


def test_state_file_records_account_endpoint_and_never_credentials(harness: Harness) -> None:
    harness.up()
    text = (harness.workdir / "state" / "dev.json").read_text()
    doc = StateDocument.from_json(text, "state")
    assert doc.account == "123456789012"
    assert doc.endpoint is None
    assert "testing" not in text  # the fake access key and secret of the test environment
    assert doc.serial > 0


def test_a_run_blocked_by_the_lock_makes_no_aws_call(harness: Harness) -> None:
    """The lock is checked first: a second run waits for nobody and asks AWS nothing."""
    from provisioner.errors import LockError
    from provisioner.store.local import LocalBackend

    harness.log.clear()
    held = LocalBackend(harness.workdir / "state" / "dev.json")
    with (
        held.lock("up"),
        pytest.raises(LockError) as err,
        operations.session(harness.options(), "up"),
    ):
        pass
    assert "is locked by" in err.value.message
    assert harness.log.calls == []


def test_a_state_of_the_emulator_on_another_port_names_smprov_local_port(
    harness: Harness,
) -> None:
    write_state(harness, endpoint="http://127.0.0.1:4613")
    stk = harness.open()
    with pytest.raises(StateError) as err, operations.locked(stk, "up"):
        pass
    assert "SMPROV_LOCAL_PORT=4613" in (err.value.hint or "")


def test_a_state_of_an_earlier_emulator_run_is_set_aside(harness: Harness) -> None:
    """A restarted emulator is empty: its old state is moved aside (not deleted) by a run that
    writes, only named by a run that changes nothing, and either starts fresh."""
    old, new = "a" * 32, "b" * 32
    write_state(harness, instance=old)
    stk = harness.open()
    stk.instance = new
    path = harness.workdir / "state" / "dev.json"
    doc = operations.unless_stale(stk, operations.read_state(stk), set_aside=False)
    assert doc is None and path.exists()
    [said] = stk.state_notices
    assert "was restarted since" in said.message and "sets the state aside" in said.message

    stk.state_notices.clear()
    with stk.backend.lock("up"):
        assert operations.unless_stale(stk, operations.read_state(stk), set_aside=True) is None
    [aside] = (harness.workdir / "state").glob("dev.json.stale-*")
    assert not path.exists()
    assert StateDocument.from_json(aside.read_text(), "x").instance == old
    assert f"set the state aside as {aside}" in stk.state_notices[0].message

    write_state(harness, instance=new)  # the same run of the emulator: used as it is
    assert operations.unless_stale(stk, operations.read_state(stk), set_aside=True) is not None
