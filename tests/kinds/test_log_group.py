"""The flow logs' CloudWatch Logs group: create, no-op, retention and tags in place, kept by
`down` unless --delete-logs."""

from __future__ import annotations

from pathlib import Path

from provisioner.engine.model import Action
from tests.kinds.network_helpers import MiniStack, desired_for

KEY = "log_group.flow_logs"


def _group(stack: MiniStack, name: str) -> dict | None:
    groups = stack.clients("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return next((g for g in groups if g["logGroupName"] == name), None)


def _tags(stack: MiniStack, name: str) -> dict[str, str]:
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{name}"
    return stack.clients("logs").list_tags_for_resource(resourceArn=arn)["tags"]


def _log_writes(stack: MiniStack) -> list[str]:
    return [op for svc, op in stack.log.calls if svc == "logs" and op in stack.log.mutating]


def test_created_for_the_vpc_then_converged(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)

    name = stack.id(KEY)
    assert name == f"/aws/vpc-flow-log/{stack.id('vpc')}"
    group = _group(stack, name)
    assert group is not None and group["retentionInDays"] == 7
    assert _tags(stack, name) == {"smprov:stack": "dev", "smprov:key": KEY}

    stack.log.clear()
    assert stack.up(desired).is_empty
    assert stack.log.mutating == []
    # One describe and one tag read for the group, whatever else the slice reads.
    assert stack.log.count("DescribeLogGroups") == 1
    assert stack.log.count("ListTagsForResource") == 1


def test_retention_and_tags_change_in_place(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, [KEY]))
    name = stack.id(KEY)

    stack.log.clear()
    changed = desired_for(tmp_path, [KEY], 'flow_log_retention_days = 30\n[tags]\nteam = "ml"\n')
    plan = stack.up(changed)

    step = plan.step_by_key[KEY]
    assert step.action is Action.UPDATE
    assert {c.path for c in step.changes} == {"retention_in_days", "tags"}
    assert _log_writes(stack) == ["PutRetentionPolicy", "TagResource"]
    group = _group(stack, name)
    assert group is not None and group["retentionInDays"] == 30
    assert _tags(stack, name)["team"] == "ml"
    assert stack.id(KEY) == name

    stack.log.clear()
    stack.up(desired_for(tmp_path, [KEY], "flow_log_retention_days = 30\n"))
    assert _log_writes(stack) == ["UntagResource"]
    assert "team" not in _tags(stack, name)


def test_down_keeps_it_unless_asked(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)
    name = stack.id(KEY)

    _plan, report = stack.run(desired, destroy=True)
    assert report.ok
    messages = [r.message for (key, _phase), r in report.results.items() if key == KEY]
    assert messages == [
        f"kept {name}: it holds flow-log data (smprov down --delete-logs deletes it)"
    ]
    assert _group(stack, name) is not None
    assert KEY in stack.state.resources and "vpc" not in stack.state.resources

    stack.log.clear()
    stack.down(desired, delete_logs=True)
    assert stack.log.mutating == ["DeleteLogGroup"]
    assert _group(stack, name) is None
    assert stack.state.resources == {}


def test_a_new_vpc_replaces_the_group_and_the_old_one_is_kept(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)
    old = stack.id(KEY)
    stack.down(desired)

    plan, report = stack.run(desired)

    assert report.ok
    step = plan.step_by_key[KEY]
    assert step.action is Action.REPLACE
    assert [c.path for c in step.changes if c.forces_replace] == ["name"]
    assert stack.id(KEY) == f"/aws/vpc-flow-log/{stack.id('vpc')}" != old
    assert _group(stack, old) is not None
    kept = [r.message for (key, _phase), r in report.results.items() if key == KEY]
    # the new group has the key: `down --delete-logs` no longer reaches the old one
    assert (
        f"kept {old}: it holds flow-log data; a new log group replaced it in the state, so "
        "smprov no longer deletes it (delete it in AWS once its data is not needed)" in kept
    )


def test_a_group_stripped_of_its_tags_costs_one_tag_read(moto: None, tmp_path: Path) -> None:
    """The tags asked with the describe count even when there are none (no second read)."""
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)
    name = stack.id(KEY)
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{name}"
    stack.clients("logs").untag_resource(resourceArn=arn, tagKeys=["smprov:stack", "smprov:key"])

    stack.log.clear()
    plan = stack.plan(desired)
    assert stack.log.count("ListTagsForResource") == 1
    assert plan.step_by_key[KEY].action is Action.UPDATE
