"""The VPC flow log: created with every setting, converged, replaced when the aggregation
interval changes, created despite a role IAM has not propagated yet, deleted before its role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioner.engine.model import Action
from provisioner.kinds import REGISTRY
from tests.kinds.network_helpers import MiniStack, answer, aws_error, desired_for, failing

KEY = "flow_log"
NOT_ASSUMABLE = (
    "Unable to assume given IAM role: 'arn:aws:iam::123456789012:role/dev-vpc-flow-logs'"
)


def _flow_logs(stack: MiniStack, vpc_id: str | None = None) -> list[dict[str, Any]]:
    vpc = vpc_id or stack.id("vpc")
    return stack.ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc]}])[
        "FlowLogs"
    ]


def test_created_with_every_setting_then_converged(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)

    [flow] = _flow_logs(stack)
    assert flow["FlowLogId"] == stack.id(KEY)
    assert flow["TrafficType"] == "ALL"
    assert flow["LogDestinationType"] == "cloud-watch-logs"
    assert flow["LogDestination"] == (
        f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc-flow-log/{stack.id('vpc')}"
    )
    assert flow["DeliverLogsPermissionArn"] == "arn:aws:iam::123456789012:role/dev-vpc-flow-logs"
    assert flow["MaxAggregationInterval"] == 60
    assert {t["Key"]: t["Value"] for t in flow["Tags"]} == {
        "smprov:stack": "dev",
        "smprov:key": KEY,
    }

    stack.log.clear()
    assert stack.up(desired).is_empty
    assert stack.log.mutating == []
    assert stack.log.count("DescribeFlowLogs") == 1


def test_create_sends_a_client_token(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    tokens: list[str] = []
    stack.clients.add_hook(
        "before-parameter-build.ec2.CreateFlowLogs",
        lambda params, **_: tokens.append(params["ClientToken"]),
    )
    stack.up(desired_for(tmp_path, [KEY]))
    assert len(tokens) == 1 and tokens[0].startswith("smprov-")


def test_new_aggregation_interval_replaces_it(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, [KEY]))
    old = stack.id(KEY)

    plan = stack.up(desired_for(tmp_path, [KEY], "flow_log_max_aggregation_interval = 600\n"))

    step = plan.step_by_key[KEY]
    assert step.action is Action.REPLACE
    assert [(c.path, c.old, c.new) for c in step.changes] == [("max_aggregation_interval", 60, 600)]
    [flow] = _flow_logs(stack)
    assert flow["FlowLogId"] == stack.id(KEY) != old
    assert flow["MaxAggregationInterval"] == 600


def test_tags_change_in_place(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, [KEY]))
    old = stack.id(KEY)

    plan = stack.up(desired_for(tmp_path, [KEY], '[tags]\nteam = "ml"\n'))

    assert plan.step_by_key[KEY].action is Action.UPDATE
    [flow] = _flow_logs(stack)
    assert flow["FlowLogId"] == old
    assert {t["Key"]: t["Value"] for t in flow["Tags"]}["team"] == "ml"


def test_waits_for_the_new_role_to_be_assumable(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    # What AWS answers for the seconds after the role is made (IAM is eventually consistent).
    stack.clients.add_hook(
        "before-call.ec2.CreateFlowLogs",
        failing(3, lambda: aws_error("InvalidParameter", NOT_ASSUMABLE, "CreateFlowLogs")),
    )

    stack.up(desired_for(tmp_path, [KEY]))

    assert stack.log.count("CreateFlowLogs") == 4
    assert [f["FlowLogId"] for f in _flow_logs(stack)] == [stack.id(KEY)]


def test_gives_up_on_a_role_that_never_becomes_assumable(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.clients.add_hook(
        "before-call.ec2.CreateFlowLogs",
        failing(10**6, lambda: aws_error("InvalidParameter", NOT_ASSUMABLE, "CreateFlowLogs")),
    )

    _plan, report = stack.run(desired_for(tmp_path, [KEY]))

    [(node, result)] = report.failed
    assert node[0] == KEY
    assert "still failing with InvalidParameter" in result.message
    assert NOT_ASSUMABLE in result.message
    assert _flow_logs(stack) == []


def test_a_failure_reported_per_resource_fails_the_step(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    message = "LogDestination: the log group does not exist"
    unsuccessful = {
        "FlowLogIds": [],
        "Unsuccessful": [
            {"Error": {"Code": "InvalidParameter", "Message": message}, "ResourceId": "vpc-x"}
        ],
    }
    stack.clients.add_hook("before-call.ec2.CreateFlowLogs", lambda **_: answer(unsuccessful))

    _plan, report = stack.run(desired_for(tmp_path, [KEY]))

    [(node, result)] = report.failed
    assert node[0] == KEY and message in result.message
    assert stack.log.count("CreateFlowLogs") == 1  # not the role message: no retry


def test_down_deletes_it_before_its_role_and_vpc(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)
    vpc_id = stack.id("vpc")

    stack.log.clear()
    stack.down(desired)

    ops = stack.log.mutating
    assert ops.index("DeleteFlowLogs") < ops.index("DeleteRole")
    assert ops.index("DeleteFlowLogs") < ops.index("DeleteVpc")
    assert _flow_logs(stack, vpc_id) == []


def test_deleting_a_flow_log_already_gone_succeeds(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)
    plan = stack.plan(desired, destroy=True)
    # Gone between the plan and the delete; AWS says so in `Unsuccessful`, moto with an error.
    stack.ec2.delete_flow_logs(FlowLogIds=[stack.id(KEY)])
    REGISTRY["flow_log"].delete(stack.ctx(), plan.step_by_key[KEY].live)

    gone = {"Unsuccessful": [{"Error": {"Code": "InvalidFlowLogId.NotFound", "Message": "x"}}]}
    stack.clients.add_hook("before-call.ec2.DeleteFlowLogs", lambda **_: answer(gone))
    REGISTRY["flow_log"].delete(stack.ctx(), plan.step_by_key[KEY].live)
