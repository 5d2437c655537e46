"""Issue 3's resources in the whole stack, end to end on in-process moto: created with the
rest, shown by `output`, unchanged by a second `up`, removed by `down` except the log group,
which `down` keeps and says so until --delete-logs."""

from __future__ import annotations

from provisioner.outputs import outputs
from tests.harness import Harness

MINE = {
    "log_group.flow_logs",
    "iam_role.flow_logs",
    "flow_log",
    "db_subnet_group",
    "vpc_endpoint.s3",
    "vpc_endpoint.sagemaker.api",
    "vpc_endpoint.sagemaker.runtime",
    "security_group.vpc_endpoints",
    "security_group.training",
    "default_security_group",
    "default_network_acl",
    "main_route_table",
}


def test_up_output_noop_down_and_delete_logs(harness: Harness) -> None:
    _plan, _report, state = harness.up()
    assert set(state.resources) >= MINE

    values = outputs(state, harness.open().config)
    res = state.resources
    assert values["vpc_endpoint_ids"] == {
        "s3": res["vpc_endpoint.s3"].id,
        "sagemaker.api": res["vpc_endpoint.sagemaker.api"].id,
        "sagemaker.runtime": res["vpc_endpoint.sagemaker.runtime"].id,
    }
    assert set(values["vpc_endpoint_dns_names"]) == {"sagemaker.api", "sagemaker.runtime"}
    assert all(values["vpc_endpoint_dns_names"].values())
    assert values["vpc_endpoints_security_group_id"] == res["security_group.vpc_endpoints"].id
    assert values["training_security_group_id"] == res["security_group.training"].id
    assert values["default_security_group_id"] == res["default_security_group"].id
    assert values["database_subnet_group_name"] == "dev"
    assert values["vpc_flow_log_group_name"] == f"/aws/vpc-flow-log/{res['vpc'].id}"
    assert values["vpc_flow_log_id"] == res["flow_log"].id

    harness.log.clear()
    plan, _report, _state = harness.up()
    assert plan.is_empty
    assert harness.log.mutating == []

    log_group = res["log_group.flow_logs"].id
    _plan, report, state = harness.down()
    assert set(state.resources) == {"log_group.flow_logs"}
    kept = [r.message for (key, _p), r in report.results.items() if key == "log_group.flow_logs"]
    assert kept == [
        f"kept {log_group}: it holds flow-log data (smprov down --delete-logs deletes it)"
    ]
    groups = harness.clients("logs").describe_log_groups(logGroupNamePrefix=log_group)
    assert [g["logGroupName"] for g in groups["logGroups"]] == [log_group]

    _plan, _report, state = harness.down(delete_logs=True)
    assert state.resources == {}
    groups = harness.clients("logs").describe_log_groups(logGroupNamePrefix=log_group)
    assert groups["logGroups"] == []
