"""The DB subnet group part of the blueprint: over the database subnets, named after the
environment; not made (and the plan says why) when RDS would refuse it."""

from __future__ import annotations

from pathlib import Path

from provisioner import blueprint
from provisioner.config import parse_config
from provisioner.engine.model import Ref


def test_group_over_every_database_subnet() -> None:
    config = parse_config({"environment": "prod"}, base_dir=Path.cwd(), source="test")
    desired = blueprint.build(config.resolve(["us-east-1a", "us-east-1b"]), account="1" * 12)
    [spec] = [d.spec for d in desired if d.key == "db_subnet_group"]
    assert spec["name"] == "prod"
    assert spec["description"] == "Database subnet group for prod"
    assert spec["subnet_ids"] == (
        Ref("subnet.database.us-east-1a"),
        Ref("subnet.database.us-east-1b"),
    )
    assert [n for n in blueprint.notices(config) if n.key == "db_subnet_group"] == []


def test_one_zone_makes_no_group_and_says_why() -> None:
    config = parse_config({"availability_zones": 1}, base_dir=Path.cwd(), source="test")
    desired = blueprint.build(config.resolve(["us-east-1a"]), account="1" * 12)
    assert "db_subnet_group" not in {d.key for d in desired}
    [notice] = [n for n in blueprint.notices(config) if n.key == "db_subnet_group"]
    assert "at least 2 availability zones" in notice.message
