"""`smprov output` from a state alone: every value, in the order scripts and people see it.

The values come from the blueprint's parts (``blueprint.OUTPUTS``); this pins what they make of
a known state, so moving a value between parts, or adding a kind, changes nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provisioner import keys
from provisioner.config import StackConfig, parse_config
from provisioner.outputs import outputs, sagemaker_job_config
from provisioner.store.document import ResourceRecord, StateDocument

ZONES = ("us-east-1a", "us-east-1b")


def _config(tmp_path: Path, **values: Any) -> StackConfig:
    return parse_config({"region": "us-east-1", **values}, base_dir=tmp_path, source="test")


def _record(kind: str, rid: str, **attrs: Any) -> ResourceRecord:
    return ResourceRecord(kind, rid, attrs, (), "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z")


def _state() -> StateDocument:
    doc = StateDocument.new("dev", "us-east-1", "123456789012")
    records = {
        keys.VPC: _record("vpc", "vpc-1", cidr_block="10.0.0.0/16"),
        keys.INTERNET_GATEWAY: _record("internet_gateway", "igw-1"),
        keys.PUBLIC_ROUTE_TABLE: _record("route_table", "rtb-pub"),
        keys.private_route_table("us-east-1b"): _record("route_table", "rtb-b"),
        keys.private_route_table("us-east-1a"): _record("route_table", "rtb-a"),
        keys.nat_gateway("us-east-1a"): _record("nat_gateway", "nat-a", public_ip="203.0.113.9"),
        keys.vpc_endpoint("s3"): _record("vpc_endpoint", "vpce-s3", vpc_endpoint_type="Gateway"),
        keys.vpc_endpoint("sagemaker.api"): _record(
            "vpc_endpoint", "vpce-api", vpc_endpoint_type="Interface", dns_names=["api.example"]
        ),
        keys.ENDPOINT_SECURITY_GROUP: _record("security_group", "sg-endpoints"),
        keys.TRAINING_SECURITY_GROUP: _record("security_group", "sg-training"),
        keys.DEFAULT_SECURITY_GROUP: _record("default_security_group", "sg-default"),
        keys.DB_SUBNET_GROUP: _record("db_subnet_group", "dev"),
        keys.FLOW_LOG: _record("flow_log", "fl-1"),
        keys.FLOW_LOG_GROUP: _record("log_group", "/aws/vpc-flow-log/vpc-1"),
        keys.FLOW_LOG_ROLE: _record("iam_role", "dev-vpc-flow-logs", arn="arn:flow-role"),
        keys.BUCKET: _record("bucket", "dev-sagemaker-abc", arn="arn:aws:s3:::dev-sagemaker-abc"),
        keys.CSV_OBJECT: _record("s3_object", "b/k", uri="s3://dev-sagemaker-abc/raw-data/x.csv"),
        keys.SAGEMAKER_ROLE: _record("iam_role", "r", arn="arn:role", name="dev_role"),
    }
    for zone in ZONES:
        for tier in keys.TIERS:
            records[keys.subnet(tier, zone)] = _record(
                "subnet", f"subnet-{tier}-{zone[-1]}", availability_zone=zone
            )
    folders = keys.folder_keys(("raw-data/", "processed-data/", "model-artifacts/"))
    records[folders["raw-data/"]] = _record("s3_object", "f")
    doc.resources.update(records)
    return doc


EXPECTED = {
    "stack": "dev",
    "region": "us-east-1",
    "azs": ["us-east-1a", "us-east-1b"],
    "vpc_id": "vpc-1",
    "vpc_cidr_block": "10.0.0.0/16",
    "public_subnets": ["subnet-public-a", "subnet-public-b"],
    "private_subnets": ["subnet-private-a", "subnet-private-b"],
    "database_subnets": ["subnet-database-a", "subnet-database-b"],
    "igw_id": "igw-1",
    "public_route_table_ids": ["rtb-pub"],
    "private_route_table_ids": ["rtb-a", "rtb-b"],
    "natgw_ids": ["nat-a"],
    "nat_public_ips": ["203.0.113.9"],
    "vpc_endpoint_ids": {"s3": "vpce-s3", "sagemaker.api": "vpce-api"},
    "vpc_endpoint_dns_names": {"sagemaker.api": ["api.example"]},
    "vpc_endpoints_security_group_id": "sg-endpoints",
    "training_security_group_id": "sg-training",
    "default_security_group_id": "sg-default",
    "database_subnet_group_name": "dev",
    "vpc_flow_log_id": "fl-1",
    "vpc_flow_log_group_name": "/aws/vpc-flow-log/vpc-1",
    "vpc_flow_log_cloudwatch_iam_role_arn": "arn:flow-role",
    "bucket_name": "dev-sagemaker-abc",
    "bucket_arn": "arn:aws:s3:::dev-sagemaker-abc",
    "s3_folder_uris": ["s3://dev-sagemaker-abc/raw-data/"],
    "training_data_uri": "s3://dev-sagemaker-abc/raw-data/x.csv",
    "sagemaker_role_arn": "arn:role",
    "sagemaker_role_name": "dev_role",
}


def test_every_value_in_its_place(tmp_path: Path) -> None:
    values = outputs(_state(), _config(tmp_path))
    assert list(values.items()) == list(EXPECTED.items())  # the order is what `output` prints


def test_without_a_state_every_value_is_empty(tmp_path: Path) -> None:
    values = outputs(None, _config(tmp_path, availability_zones=["us-east-1b", "us-east-1a"]))
    assert list(values) == list(EXPECTED)
    assert values["azs"] == ["us-east-1b", "us-east-1a"]  # configured zones keep their order
    assert values["vpc_id"] is None and values["private_subnets"] == []


@pytest.mark.parametrize("kms", [None, "alias/training"])
def test_the_sagemaker_document(tmp_path: Path, kms: str | None) -> None:
    config = _config(tmp_path, kms_key_id=kms)
    job = sagemaker_job_config(outputs(_state(), config), config)
    expected_output = {"S3OutputPath": "s3://dev-sagemaker-abc/model-artifacts/"}
    if kms:
        expected_output["KmsKeyId"] = kms
    assert json.loads(json.dumps(job)) == {
        "RoleArn": "arn:role",
        "VpcConfig": {
            "Subnets": ["subnet-private-a", "subnet-private-b"],
            "SecurityGroupIds": ["sg-training"],
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://dev-sagemaker-abc/raw-data/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": expected_output,
    }
