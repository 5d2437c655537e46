"""Terraform addresses -> smprov keys, for the seed stack, its per-zone NAT variant, a state with
resources that are not the stack's, and half-finished applies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provisioner.errors import UsageError
from provisioner.migrate.mapping import StackMap, map_state
from provisioner.migrate.tfstate import parse_state
from tests.migrate.seed import (
    SEED,
    drop,
    load_show,
    load_state,
    per_zone_nat,
    taint,
    with_resource,
)

A, B = "us-east-1a", "us-east-1b"
SEED_KEYS = {
    "vpc": "module.vpc.aws_vpc.this[0]",
    "dhcp_options": "module.vpc.aws_vpc_dhcp_options.this[0]",
    f"subnet.public.{A}": "module.vpc.aws_subnet.public[0]",
    f"subnet.public.{B}": "module.vpc.aws_subnet.public[1]",
    f"subnet.private.{A}": "module.vpc.aws_subnet.private[0]",
    f"subnet.private.{B}": "module.vpc.aws_subnet.private[1]",
    f"subnet.database.{A}": "module.vpc.aws_subnet.database[0]",
    f"subnet.database.{B}": "module.vpc.aws_subnet.database[1]",
    "internet_gateway": "module.vpc.aws_internet_gateway.this[0]",
    f"eip.{A}": "module.vpc.aws_eip.nat[0]",
    f"nat_gateway.{A}": "module.vpc.aws_nat_gateway.this[0]",
    "route_table.public": "module.vpc.aws_route_table.public[0]",
    "route.public.internet": "module.vpc.aws_route.public_internet_gateway[0]",
    f"route_table.private.{A}": "module.vpc.aws_route_table.private[0]",
    f"route.private.{A}.nat": "module.vpc.aws_route.private_nat_gateway[0]",
    f"rta.public.{A}": "module.vpc.aws_route_table_association.public[0]",
    f"rta.public.{B}": "module.vpc.aws_route_table_association.public[1]",
    f"rta.private.{A}": "module.vpc.aws_route_table_association.private[0]",
    f"rta.private.{B}": "module.vpc.aws_route_table_association.private[1]",
    f"rta.database.{A}": "module.vpc.aws_route_table_association.database[0]",
    f"rta.database.{B}": "module.vpc.aws_route_table_association.database[1]",
    "default_security_group": "module.vpc.aws_default_security_group.this[0]",
    "default_network_acl": "module.vpc.aws_default_network_acl.this[0]",
    "main_route_table": "module.vpc.aws_default_route_table.default[0]",
    "flow_log": "module.vpc.aws_flow_log.this[0]",
    "log_group.flow_logs": "module.vpc.aws_cloudwatch_log_group.flow_log[0]",
    "iam_role.flow_logs": "module.vpc.aws_iam_role.vpc_flow_log_cloudwatch[0]",
    "db_subnet_group": "module.vpc.aws_db_subnet_group.database[0]",
    "vpc_endpoint.s3": 'module.vpc_endpoints.aws_vpc_endpoint.this["s3"]',
    "vpc_endpoint.sagemaker.api": 'module.vpc_endpoints.aws_vpc_endpoint.this["sagemaker_api"]',
    "vpc_endpoint.sagemaker.runtime": (
        'module.vpc_endpoints.aws_vpc_endpoint.this["sagemaker_runtime"]'
    ),
    "bucket": "module.sagemaker_s3_bucket.aws_s3_bucket.this[0]",
    "bucket_policy": "module.sagemaker_s3_bucket.aws_s3_bucket_policy.this[0]",
    "s3_object.folder.raw-data": 'aws_s3_object.folders["raw-data/"]',
    "s3_object.folder.processed-data": 'aws_s3_object.folders["processed-data/"]',
    "s3_object.folder.model-artifacts": 'aws_s3_object.folders["model-artifacts/"]',
    "iam_role.sagemaker_execution": "aws_iam_role.sagemaker_execution_role",
}
SEED_PARTS = {
    "module.vpc.aws_vpc_dhcp_options_association.this[0]": "vpc",
    "module.vpc.aws_iam_policy.vpc_flow_log_cloudwatch[0]": "iam_role.flow_logs",
    "module.vpc.aws_iam_role_policy_attachment.vpc_flow_log_cloudwatch[0]": "iam_role.flow_logs",
    "module.sagemaker_s3_bucket.aws_s3_bucket_public_access_block.this[0]": "bucket",
    "module.sagemaker_s3_bucket.aws_s3_bucket_ownership_controls.this[0]": "bucket",
    "module.sagemaker_s3_bucket.aws_s3_bucket_server_side_encryption_configuration.this[0]": (
        "bucket"
    ),
}


def mapped(doc: dict[str, Any], base_dir: Path = SEED) -> StackMap:
    return map_state(parse_state(json.dumps(doc), source="tf.tfstate", base_dir=base_dir))


def test_the_seed_maps_every_resource_exactly_once() -> None:
    result = mapped(load_state())
    assert {k: a.resource.address for k, a in result.adopted.items()} == SEED_KEYS
    assert {p.resource.address: p.key for p in result.part_of} == SEED_PARTS
    # The CSV's source (data/training_data.csv beside main.tf) is not in the fixture directory.
    assert [k.resource.address for k in result.kept] == ["aws_s3_object.training_data"]
    assert "not tracked by smprov: its source ./data/training_data.csv is not at hand" in (
        result.kept[0].note
    )
    assert result.left_alone == []
    assert len(result.handed_off()) == 44
    assert (result.environment, result.account, result.region) == (
        "dev",
        "123456789012",
        "us-east-1",
    )
    assert result.zones == (A, B)


def test_show_json_maps_the_same_way() -> None:
    from_show = map_state(parse_state(json.dumps(load_show()), source="show.json"))
    from_state = mapped(load_state())
    assert {k: a.id for k, a in from_show.adopted.items()} == {
        k: a.id for k, a in from_state.adopted.items()
    }


def test_routes_get_smprovs_ids_and_the_rest_keep_terraforms() -> None:
    result = mapped(load_state())
    route = result.adopted["route.public.internet"]
    assert route.resource.id.startswith("r-rtb-")
    assert route.id == f"{route.resource.get('route_table_id')}_0.0.0.0/0"
    assert result.adopted["vpc"].id == "vpc-ede2e3ec73c2f1fe1"
    assert result.adopted["s3_object.folder.raw-data"].id == "dev-sagemaker-a1b2c3d4/raw-data/"


def test_the_csv_is_adopted_when_its_source_is_at_hand(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "training_data.csv").write_text("a,b\n1,2\n")
    result = mapped(load_state(), base_dir=tmp_path)
    assert result.adopted["s3_object.csv"].resource.address == "aws_s3_object.training_data"
    assert result.csv_source == (tmp_path / "data" / "training_data.csv").resolve()
    assert result.kept == []


def test_one_nat_gateway_per_zone_maps_a_table_route_and_eip_per_zone() -> None:
    result = mapped(per_zone_nat(load_state()))
    for zone, index in ((A, 0), (B, 1)):
        assert result.adopted[f"nat_gateway.{zone}"].resource.index == index
        assert result.adopted[f"eip.{zone}"].resource.index == index
        assert result.adopted[f"route_table.private.{zone}"].resource.index == index
        table = result.adopted[f"route_table.private.{zone}"].id
        assert result.adopted[f"route.private.{zone}.nat"].id == f"{table}_0.0.0.0/0"
        for tier in ("private", "database"):
            assoc = result.adopted[f"rta.{tier}.{zone}"].resource
            assert assoc.get("route_table_id") == table
    assert len(result.handed_off()) == 48


def test_resources_that_are_not_the_stacks_are_listed_and_left_alone() -> None:
    doc = with_resource(load_state(), "", "aws_instance", "bastion", {"id": "i-0123456789abcdef0"})
    doc = with_resource(
        doc, "module.vpc", "aws_network_acl", "public", {"id": "acl-0123456789abcdef0"}
    )
    doc = with_resource(
        doc,
        "module.vpc_endpoints",
        "aws_vpc_endpoint",
        "dynamodb",
        {
            "id": "vpce-0123456789abcdef0",
            "vpc_id": "vpc-ede2e3ec73c2f1fe1",
            "service_name": "com.amazonaws.us-east-1.dynamodb",
            "vpc_endpoint_type": "Gateway",
        },
    )
    result = mapped(doc)
    left = {a.resource.address: a.reason for a in result.left_alone}
    assert left == {
        "aws_instance.bastion": "not part of the stack smprov replaces",
        "module.vpc.aws_network_acl.public": (
            "a terraform-aws-modules/vpc resource smprov has no part for"
        ),
        "module.vpc_endpoints.aws_vpc_endpoint.dynamodb": (
            "a Gateway endpoint for dynamodb, which smprov does not make"
        ),
    }
    assert set(result.adopted) == set(SEED_KEYS)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (
            lambda d: taint(d, "module.vpc.aws_nat_gateway.this[0]"),
            "module.vpc.aws_nat_gateway.this[0] is tainted",
        ),
        (
            lambda d: drop(d, "module.vpc.aws_route.private_nat_gateway[0]"),
            "module.vpc.aws_route.private_nat_gateway[0] is missing "
            "(module.vpc.aws_nat_gateway.this[0] exists)",
        ),
        (
            lambda d: drop(d, "module.vpc.aws_route_table_association.database[1]"),
            "module.vpc.aws_route_table_association.database[1] is missing "
            "(module.vpc.aws_subnet.database[1] exists)",
        ),
        (
            lambda d: drop(d, "module.vpc.aws_iam_role.vpc_flow_log_cloudwatch[0]"),
            "module.vpc.aws_iam_role.vpc_flow_log_cloudwatch[0] is missing",
        ),
        (
            lambda d: drop(d, "module.vpc.aws_vpc_dhcp_options_association.this[0]"),
            "is not associated with the VPC",
        ),
    ],
)
def test_a_half_finished_apply_is_refused_naming_what_is_missing(edit: Any, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        mapped(edit(load_state()))
    assert caught.value.exit_code == 2
    assert says in caught.value.message
    assert "run `terraform apply` until it succeeds" in (caught.value.hint or "")


def test_a_state_stopped_after_the_nat_gateway_lists_every_gap() -> None:
    """The apply failed on the NAT gateway: its route and what came after it never existed."""
    doc = load_state()
    for gone in (
        "module.vpc.aws_route.private_nat_gateway[0]",
        'module.vpc_endpoints.aws_vpc_endpoint.this["s3"]',
    ):
        doc = drop(doc, gone)
    doc = taint(doc, "module.vpc.aws_nat_gateway.this[0]")
    with pytest.raises(UsageError) as caught:
        mapped(doc)
    lines = caught.value.message.splitlines()[1:]
    assert lines == [
        "  - module.vpc.aws_nat_gateway.this[0] is tainted (its create failed or was interrupted)",
        "  - module.vpc.aws_route.private_nat_gateway[0] is missing "
        "(module.vpc.aws_nat_gateway.this[0] exists)",
    ]


def test_no_vpc_and_two_vpcs_are_refused() -> None:
    doc = load_state()
    doc["resources"] = [r for r in doc["resources"] if r["type"] != "aws_vpc"]
    with pytest.raises(UsageError, match="no VPC made by terraform-aws-modules/vpc"):
        mapped(doc)
    two = with_resource(load_state(), "module.other", "aws_vpc", "this", {"id": "vpc-2"})
    with pytest.raises(UsageError, match="holds 2 VPCs"):
        mapped(two)


def test_tiers_of_different_zones_are_not_smprovs_shape() -> None:
    doc = drop(load_state(), "module.vpc.aws_subnet.private[1]")
    with pytest.raises(UsageError, match="the private subnets are in"):
        mapped(doc)
