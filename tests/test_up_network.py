"""End to end on in-process moto: the VPC network is created, converged, and removed."""

from __future__ import annotations

from tests.harness import Harness


def test_cold_up_then_noop_then_down(harness: Harness) -> None:
    plan, report, state = harness.up()
    assert report.ok
    assert "vpc" in state.resources
    harness.log.clear()
    plan, _report, _state = harness.up()
    assert plan.is_empty
    assert harness.log.mutating == []
    harness.log.clear()
    _plan, _report, final = harness.down()
    # The flow-log group holds data: kept unless --delete-logs.
    assert set(final.resources) == {"log_group.flow_logs"}
    _plan, _report, final = harness.down(delete_logs=True)
    assert final.resources == {}
