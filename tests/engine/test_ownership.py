"""Which resources a state owns: judged on the tags a refresh found (pure, no AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.engine.contract import KEY_TAG, LINEAGE_TAG, STACK_TAG
from provisioner.engine.model import Live, Recorded, Refreshed
from provisioner.engine.ownership import ForeignStackError, foreign

MINE = "11111111-1111-4111-8111-111111111111"
THEIRS = "22222222-2222-4222-8222-222222222222"


def tagged(rid: str, lineage: str | None = None, *, stack: bool = True) -> Live:
    tags: dict[str, Any] = {KEY_TAG: "vpc"}
    if stack:
        tags[STACK_TAG] = "dev"
    if lineage:
        tags[LINEAGE_TAG] = lineage
    return Live(rid, {"tags": tags})


def judge(
    live: Live, *, recorded: str | None = None, intent: bool = False, lineage: str | None = MINE
) -> list[str]:
    snap = Refreshed({"vpc": live}, {"vpc": "vpc"})
    rec = {"vpc": Recorded("vpc", recorded)} if recorded else {}
    return [f.key for f in foreign(snap, rec, {"vpc"} if intent else set(), lineage)]


@pytest.mark.parametrize(
    ("live", "kwargs", "is_foreign"),
    [
        (tagged("vpc-1", MINE), {}, False),  # made by this state, recorded or not (a crash)
        (tagged("vpc-1", THEIRS), {}, True),  # another state's
        (tagged("vpc-1", THEIRS), {"recorded": "vpc-1"}, True),  # listed, but taken over since
        (tagged("vpc-1"), {"recorded": "vpc-1"}, False),  # no lineage, listed: an older smprov
        (tagged("vpc-1"), {"recorded": "vpc-9"}, True),  # no lineage, another id listed
        (tagged("vpc-1"), {"intent": True}, False),  # a create this state started
        (tagged("vpc-1"), {}, True),  # no lineage, nothing says it is ours
        (tagged("vpc-1", MINE), {"lineage": None}, True),  # no state at all: nothing is ours
        (tagged("vpc-1", stack=False), {"lineage": None}, False),  # found by name/parent
        (Live("r-1", {}), {"lineage": None}, False),  # a kind without tags (routes, objects)
    ],
)
def test_ownership(live: Live, kwargs: dict[str, Any], is_foreign: bool) -> None:
    assert judge(live, **kwargs) == (["vpc"] if is_foreign else [])


def test_the_message_names_stack_account_region_and_both_lineages() -> None:
    snap = Refreshed(
        {"vpc": tagged("vpc-1", THEIRS), "subnet.a": tagged("subnet-1", THEIRS)},
        {"vpc": "vpc", "subnet.a": "subnet"},
    )
    found = foreign(snap, {}, set(), MINE)
    error = ForeignStackError(
        found, stack="dev", account="123456789012", region="eu-west-1", lineage=MINE, state="s"
    )
    assert error.exit_code == 1
    assert "stack dev in account 123456789012, region eu-west-1" in error.message
    assert f"2 resources carry lineage {THEIRS}" in error.message
    assert f"lineage {MINE}" in error.message
    assert "vpc (vpc-1)" in error.message
    assert error.hint is not None and "smprov import" in error.hint
    assert "environment" in error.hint
