"""A stack belongs to the state that made it: a lost state file, a second checkout, a takeover.

Every resource carries the lineage of its state (``smprov:lineage``). A checkout with no state,
or with another state, finds the stack by its tags but never changes or deletes it silently: it
exits 1 before any change, naming the stack, account, region and the other lineage, and points at
``smprov import``: the explicit takeover, which stamps its own lineage on every resource and
records them all, after which the checkout it came from is the foreign one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from provisioner import keys, operations
from provisioner.aws.clients import Clients
from provisioner.aws.tags import tag_dict
from provisioner.cli import app
from provisioner.engine.contract import LINEAGE_TAG
from provisioner.engine.model import Action
from provisioner.engine.ownership import ForeignStackError
from provisioner.store.document import StateDocument
from provisioner.store.local import LocalBackend
from tests.harness import Harness
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
def first(account: Account, tmp_path: Path) -> Iterator[tuple[Path, StateDocument, list[Item]]]:
    """A converged stack made from one checkout: (its directory, its state, the baseline)."""
    workdir = tmp_path / "first"
    workdir.mkdir()
    (workdir / "smprov.toml").write_text(CONFIG)
    with fresh_account(account) as baseline:
        _plan, report, state = run(account, workdir)
        assert report.ok
        account.switch = KillSwitch()
        yield workdir, state, baseline


@pytest.fixture
def second(tmp_path: Path) -> Path:
    """Another checkout of the same configuration, with no state."""
    workdir = tmp_path / "second"
    workdir.mkdir()
    (workdir / "smprov.toml").write_text(CONFIG)
    return workdir


@pytest.fixture
def smprov(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """`smprov ARGS` in a directory, against the same in-process emulated account."""
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    def invoke(workdir: Path, *args: str) -> Result:
        monkeypatch.chdir(workdir)
        return runner.invoke(app, list(args), input="")

    return invoke


def state_file(workdir: Path) -> Path:
    return workdir / "state" / f"{ENV}.json"


def ids(doc: StateDocument) -> dict[str, str]:
    return {key: rec.id for key, rec in doc.resources.items()}


def assert_refused(result: Result, lineage: str) -> None:
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert f"stack {ENV} in account 123456789012, region {REGION}" in text
    assert f"lineage {lineage}" in text
    assert "smprov import" in text and "environment" in text
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [["plan"], ["plan", "--destroy"], ["up", "--yes"], ["down", "--yes", "--delete-data"]],
    ids=["plan", "plan-destroy", "up", "down"],
)
def test_a_checkout_without_state_never_changes_the_stack(
    account: Account,
    first: tuple[Path, StateDocument, list[Item]],
    second: Path,
    smprov: Callable[..., Result],
    args: list[str],
) -> None:
    """The same environment in a second directory: exit 1 before any change, naming whose."""
    _workdir, state, baseline = first
    before = stack_items(account.clients, baseline)
    assert_refused(smprov(second, *args), state.lineage)
    assert account.switch.answered == []  # not one change in AWS
    assert stack_items(account.clients, baseline) == before
    assert not state_file(second).exists()


def test_import_takes_the_stack_over_and_the_old_checkout_becomes_foreign(
    account: Account,
    first: tuple[Path, StateDocument, list[Item]],
    second: Path,
    smprov: Callable[..., Result],
) -> None:
    workdir, before, baseline = first
    done = smprov(second, "import")
    assert done.exit_code == 0, done.output
    after = StateDocument.from_json(state_file(second).read_text(), "state")
    assert after.lineage != before.lineage
    assert f"from lineage {before.lineage}" in " ".join(done.output.split())
    assert ids(after) == ids(before)
    assert after.data == before.data  # the bucket's generated name suffix, recovered
    assert compare(stack_items(account.clients, baseline), after) == []
    # Only tags changed in AWS, and every tagged resource now carries the new lineage.
    assert set(account.switch.answered) <= {
        "CreateTags",
        "TagRole",
        "TagResource",
        "AddTagsToResource",
        "PutBucketTagging",
    }
    vpc = account.clients("ec2").describe_vpcs(VpcIds=[after.resources["vpc"].id])["Vpcs"][0]
    assert {"Key": LINEAGE_TAG, "Value": after.lineage} in vpc["Tags"]

    account.switch = KillSwitch()
    assert plan_only(account, second).is_empty  # nothing left to change
    assert account.switch.answered == []

    # The checkout whose stack was taken over is now the foreign one.
    assert_refused(smprov(workdir, "up", "--yes"), after.lineage)
    assert_refused(smprov(workdir, "down", "--yes"), after.lineage)
    assert account.switch.answered == []

    # The new owner can tear it all down.
    gone = smprov(second, "down", "--yes", "--delete-data", "--delete-logs")
    assert gone.exit_code == 0, gone.output
    assert [i.name for i in stack_items(account.clients, baseline)] == []


def test_after_a_lost_state_file_import_then_up_changes_nothing(
    account: Account, first: tuple[Path, StateDocument, list[Item]], smprov: Callable[..., Result]
) -> None:
    workdir, before, baseline = first
    state_file(workdir).unlink()
    assert_refused(smprov(workdir, "up", "--yes"), before.lineage)
    assert smprov(workdir, "import").exit_code == 0
    account.switch = KillSwitch()
    _plan, report, after = run(account, workdir)
    assert report.ok and account.switch.answered == []
    assert ids(after) == ids(before)
    assert compare(stack_items(account.clients, baseline), after) == []


def test_import_of_its_own_stack_changes_nothing(
    account: Account, first: tuple[Path, StateDocument, list[Item]]
) -> None:
    workdir, before, _baseline = first
    with operations.session(operations.Options(cwd=workdir, clients=account.clients), "import") as (
        stk,
        doc,
    ):
        done = operations.adopt_into_state(stk, doc)
    assert done.restamped == {}
    assert done.recorded == len(before.resources)
    assert account.switch.answered == []
    after = LocalBackend(state_file(workdir)).read()
    assert after is not None and after.lineage == before.lineage


def test_resources_a_state_lists_without_a_lineage_tag_are_its_own(
    account: Account, first: tuple[Path, StateDocument, list[Item]]
) -> None:
    """A stack made by a smprov that wrote no lineage: the state that lists it owns it, and
    the next `up` stamps its lineage (a tag change, nothing else)."""
    workdir, state, baseline = first
    ec2 = account.clients("ec2")
    for key in ("vpc", "subnet.private.us-east-1a", "internet_gateway"):
        ec2.delete_tags(Resources=[state.resources[key].id], Tags=[{"Key": LINEAGE_TAG}])
    account.switch = KillSwitch()
    plan = plan_only(account, workdir)
    assert {s.key for s in plan.changes} == {"vpc", "subnet.private.us-east-1a", "internet_gateway"}
    assert all([c.path for c in s.changes] == ["tags"] for s in plan.changes)
    _plan, report, after = run(account, workdir)
    assert report.ok and set(account.switch.answered) == {"CreateTags"}
    assert compare(stack_items(account.clients, baseline), after) == []
    assert plan_only(account, workdir).is_empty


def test_a_resource_of_another_lineage_among_its_own_is_refused(
    account: Account, first: tuple[Path, StateDocument, list[Item]]
) -> None:
    """One subnet re-tagged by another state: the whole run stops before any change."""
    workdir, state, _baseline = first
    other = "00000000-0000-4000-8000-000000000000"
    subnet = state.resources["subnet.private.us-east-1a"].id
    account.clients("ec2").create_tags(
        Resources=[subnet], Tags=[{"Key": LINEAGE_TAG, "Value": other}]
    )
    account.switch = KillSwitch()
    with pytest.raises(ForeignStackError) as refused:
        run(account, workdir, operations.plan_down, delete_data=True)
    assert [(f.key, f.lineage) for f in refused.value.found] == [
        ("subnet.private.us-east-1a", other)
    ]
    assert f"lineage {state.lineage}" in refused.value.message  # this state's, for comparison
    assert account.switch.answered == []


def _run_up(harness: Harness, op: str = "up", **flags: Any) -> tuple[Any, StateDocument]:
    """One `up` (or `down`) that may fail: (its report, the state it leaves)."""
    planner = operations.plan_down if op == "down" else operations.plan_up
    with operations.session(harness.options(), op) as (stk, doc):
        plan, _ = planner(stk, doc)
        return operations.execute(stk, plan, doc, **flags)


def _someone_elses(harness: Harness, kind: str) -> tuple[str, Callable[[], dict[str, str]]]:
    """Make, outside smprov and untagged, the resource of ``kind`` the default stack names;
    returns its step key and a reader of its tags (which must stay as they are)."""
    if kind == "bucket":
        harness.write_config('bucket_name = "teams-own-bucket"\n')
        s3 = harness.clients("s3")
        s3.create_bucket(Bucket="teams-own-bucket")
        s3.put_bucket_tagging(
            Bucket="teams-own-bucket", Tagging={"TagSet": [{"Key": "team", "Value": "x"}]}
        )

        def bucket_tags() -> dict[str, str]:
            return tag_dict(s3.get_bucket_tagging(Bucket="teams-own-bucket")["TagSet"])

        return keys.BUCKET, bucket_tags
    if kind == "iam_role":
        iam = harness.clients("iam")
        name = "dev_sagemaker_execution_role"
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}',
            Tags=[{"Key": "team", "Value": "x"}],
        )
        return keys.SAGEMAKER_ROLE, lambda: tag_dict(iam.get_role(RoleName=name)["Role"]["Tags"])
    ec2, rds = harness.clients("ec2"), harness.clients("rds")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{n}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for n, zone in enumerate(("us-east-1a", "us-east-1b"))
    ]
    group = rds.create_db_subnet_group(
        DBSubnetGroupName="dev",
        DBSubnetGroupDescription="theirs",
        SubnetIds=subnets,
        Tags=[{"Key": "team", "Value": "x"}],
    )["DBSubnetGroup"]
    arn = group["DBSubnetGroupArn"]
    return keys.DB_SUBNET_GROUP, lambda: tag_dict(
        rds.list_tags_for_resource(ResourceName=arn)["TagList"]
    )


@pytest.mark.parametrize("kind", ["bucket", "iam_role", "db_subnet_group"])
def test_a_name_someone_else_holds_is_refused_on_every_run_never_captured(
    harness: Harness, kind: str
) -> None:
    """A create refused because the name is someone else's made nothing, so its intent is
    dropped: the next `up` refuses again instead of adopting that resource as the one its own
    create made, and `down` leaves it alone."""
    key, tags = _someone_elses(harness, kind)
    before = tags()
    for _attempt in range(2):
        report, state = _run_up(harness)
        [(node, result)] = report.failed
        assert node[0] == key and "already exists" in result.message
        assert result.error is not None and "rename that" not in (result.error.hint or "")
        assert key not in state.intents and key not in state.resources
        assert tags() == before
    report, state = _run_up(harness, "down", delete_data=True, delete_logs=True)
    assert report.ok and state.resources == {} and state.intents == {}
    assert tags() == before  # still there, untouched


def test_a_bucket_tagged_as_the_refusal_says_is_adopted_by_import(harness: Harness) -> None:
    """The refusal's hint, followed: tag the bucket as the stack's, then `smprov import`."""
    _key, _tags = _someone_elses(harness, "bucket")
    report, _state = _run_up(harness)
    [(_node, result)] = report.failed
    hint = result.error.hint if result.error is not None else ""
    assert "smprov:stack=dev" in hint and "smprov:key=bucket" in hint and "smprov import" in hint
    harness.clients("s3").put_bucket_tagging(
        Bucket="teams-own-bucket",
        Tagging={
            "TagSet": [
                {"Key": "smprov:stack", "Value": "dev"},
                {"Key": "smprov:key", "Value": "bucket"},
            ]
        },
    )
    with pytest.raises(ForeignStackError):  # never adopted silently, even when tagged
        harness.plan()
    harness.import_()
    state = harness.state()
    assert state is not None and state.resources[keys.BUCKET].id == "teams-own-bucket"
    assert harness.plan().step_by_key[keys.BUCKET].action is Action.UPDATE  # its settings
