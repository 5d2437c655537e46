"""The locked-down default network and the training security group in the blueprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioner import blueprint
from provisioner.config import parse_config
from provisioner.engine.model import Ref


def _specs() -> dict[str, Any]:
    config = parse_config({"tags": {"team": "ml"}}, base_dir=Path.cwd(), source="test")
    desired = blueprint.build(config.resolve(["us-east-1a", "us-east-1b"]), account="1" * 12)
    return {d.key: d.spec for d in desired}


def test_default_objects_are_stripped_and_tagged_without_the_stack_tag() -> None:
    specs = _specs()
    for key in ("default_security_group", "default_network_acl", "main_route_table"):
        assert specs[key]["vpc_id"] == Ref("vpc")
        # The route-table and security-group kinds read everything with smprov:stack.
        assert specs[key]["tags"] == {"team": "ml", "Name": "dev-default", "smprov:key": key}
    assert specs["default_security_group"]["ingress"] == ()
    assert specs["default_security_group"]["egress"] == ()
    for direction in ("ingress", "egress"):
        [entry] = specs["default_network_acl"][direction]
        assert (entry["rule_number"], entry["action"], entry["protocol"], entry["cidr"]) == (
            100,
            "allow",
            "-1",
            "0.0.0.0/0",
        )


def test_training_group_members_reach_each_other_and_anything_out() -> None:
    spec = _specs()["security_group.training"]
    assert spec["name"] == "dev-sagemaker-training"
    [ingress] = spec["ingress"]
    assert (ingress["protocol"], ingress["peer"]) == ("-1", "self")
    [egress] = spec["egress"]
    assert (egress["protocol"], egress["peer"]) == ("-1", "0.0.0.0/0")
