"""The tags a user may give fit every resource next to smprov's own, within AWS's limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner import blueprint
from provisioner.config import MAX_USER_TAGS, parse_config
from provisioner.errors import ConfigError

AWS_TAG_LIMIT = 50  # per resource: EC2, IAM roles, S3 buckets, log groups, RDS alike


def test_the_most_tags_the_config_takes_fit_every_resource() -> None:
    tags = {f"team-{i}": "ml" for i in range(MAX_USER_TAGS)}
    raw = {"tags": tags, "vpc_redundancy": True}
    config = parse_config(raw, base_dir=Path.cwd(), source="test")
    desired = blueprint.build(
        config.resolve(["us-east-1a", "us-east-1b"]), account="1" * 12, lineage="l" * 36
    )
    tagged = [d for d in desired if "tags" in d.spec]
    assert len(tagged) >= 30
    over = [(d.key, len(d.spec["tags"])) for d in tagged if len(d.spec["tags"]) > AWS_TAG_LIMIT]
    assert over == []
    assert max(len(d.spec["tags"]) for d in tagged) == AWS_TAG_LIMIT  # not one tag to spare

    one_more = {**tags, "one-more": "x"}
    with pytest.raises(ConfigError, match=f"{MAX_USER_TAGS + 1} tags given; at most"):
        parse_config({"tags": one_more}, base_dir=Path.cwd(), source="test")


def test_each_resource_carries_the_tags_the_readme_says() -> None:
    config = parse_config({"tags": {"team": "ml"}}, base_dir=Path.cwd(), source="test")
    desired = blueprint.build(
        config.resolve(["us-east-1a", "us-east-1b"]), account="1" * 12, lineage="L"
    )
    defaults = {"default_security_group", "default_network_acl", "main_route_table"}
    untagged = {"route", "route_table_association", "s3_object", "bucket_policy"}
    for d in desired:
        tags = d.spec.get("tags")
        assert (tags is None) == (d.kind in untagged), d.key
        if tags is None:
            continue
        assert tags["team"] == "ml" and tags["smprov:key"] == d.key, d.key
        assert tags["smprov:lineage"] == "L", d.key
        assert ("smprov:stack" in tags) == (d.key not in defaults), d.key
        assert ("Name" in tags) == (d.kind not in {"flow_log", "log_group"}), d.key
    names = {d.key: d.spec["tags"].get("Name") for d in desired if d.spec.get("tags")}
    assert names["subnet.public.us-east-1a"] == "dev-public-us-east-1a"
    assert names["subnet.private.us-east-1a"] == "dev-private-us-east-1a"
    assert names["subnet.database.us-east-1a"] == "dev-db-us-east-1a"
    assert names["nat_gateway.us-east-1a"] == names["eip.us-east-1a"] == "dev-us-east-1a"
