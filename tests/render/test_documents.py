"""render.py: everything a person or a program reads, shaped in one place."""

from __future__ import annotations

import json
from types import SimpleNamespace

from provisioner import render
from provisioner.engine.graph import Graph
from provisioner.engine.model import UNKNOWN, Action, FieldChange, Live, Refreshed, Step
from provisioner.engine.planner import Plan
from provisioner.errors import AwsError


def _plan(*steps: Step) -> Plan:
    return Plan(tuple(steps), Graph(), step_by_key={s.key: s for s in steps})


def _doc(**ids: str) -> SimpleNamespace:
    return SimpleNamespace(
        resources={
            k: SimpleNamespace(kind=k.split(".")[0], id=v, kept=None) for k, v in ids.items()
        }
    )


def test_status_rows_say_exists_drifted_or_missing() -> None:
    drift = FieldChange("tags.team", "a", "b")
    plan = _plan(
        Step("vpc", "vpc", Action.NOOP),
        Step("subnet.a", "subnet", Action.UPDATE, (drift,)),
        Step("subnet.b", "subnet", Action.CREATE),
    )
    snap = Refreshed({"vpc": Live("vpc-1"), "subnet.a": Live("subnet-a")}, {})
    rows = render.status_rows(
        _doc(vpc="vpc-1", **{"subnet.a": "s-a", "subnet.b": "s-b"}), plan, snap
    )
    assert [(r["key"], r["status"]) for r in rows] == [
        ("subnet.a", "drifted"),
        ("subnet.b", "missing"),
        ("vpc", "exists"),
    ]
    assert render.status_doc("state/dev.json", rows)["resources"] == rows


def test_plan_doc_is_plain_json_with_unknowns_spelled_out() -> None:
    change = FieldChange("cidr_block", "10.0.0.0/16", UNKNOWN, forces_replace=True)
    plan = _plan(Step("vpc", "vpc", Action.REPLACE, (change,), live=Live("vpc-1")))
    doc = render.plan_doc(plan, "dev")
    json.dumps(doc)  # no Python objects left
    [step] = doc["changes"]
    assert step["action"] == "replace" and step["id"] == "vpc-1"
    assert step["changes"][0]["forces_replace"] is True
    assert doc["summary"] == {"replace": 1}


def test_error_doc_carries_aws_code() -> None:
    doc = render.error_doc(
        AwsError("creating vpc: VpcLimitExceeded: too many", code="VpcLimitExceeded")
    )
    assert doc == {
        "message": "creating vpc: VpcLimitExceeded: too many",
        "hint": None,
        "code": "VpcLimitExceeded",
        "type": "AwsError",
    }
