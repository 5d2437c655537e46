"""The deployer's policy is assembled from what each kind declares it calls (``Kind.grants``):
every declared action is granted where the kind said, and a new kind needs no edit of
provisioner/permissions.py -- its EC2 create joins the tagged-create statements, its own
statement (``Grant.resource``) is filled in, and behind a switch that is off it grants nothing.
That the actions are the ones the calls need is proven on recorded paths (test_permissions.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.config import CONFIG_KEYS, StackConfig, parse_config
from provisioner.engine.contract import Grant, Kind
from provisioner.kinds import REGISTRY
from provisioner.permissions import deployer_policy

ACCOUNT = "123456789012"
#: Every switch on, and the settings that add statements (two zones and interface endpoints are
#: the defaults).
EVERYTHING = {
    "region": "us-east-1",
    "managed_policy_arns": ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"],
    **{k.name: True for k in CONFIG_KEYS if k.type == "boolean"},
}


def _config(tmp_path: Path, **settings: Any) -> StackConfig:
    return parse_config({**EVERYTHING, **settings}, base_dir=tmp_path, source="test")


def _statements(config: StackConfig) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in deployer_policy(config, ACCOUNT)["Statement"]}


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_kinds_actions_are_granted_where_it_declares_them(tmp_path: Path, name: str) -> None:
    kind = REGISTRY[name]
    assert kind.grants, f"{name} declares no IAM actions"
    statements = _statements(_config(tmp_path))
    for grant in kind.grants:
        assert set(grant.actions) <= _actions(statements[grant.statement]), grant


class _Ecr(Kind):
    """The walkthrough's ECR repository (docs/architecture.md), as far as IAM goes."""

    name = "ecr_repository"
    grants = (
        Grant(
            "EcrRepositories",
            ("ecr:CreateRepository", "ecr:DeleteRepository", "ecr:ListTagsForResource"),
            resource="arn:{partition}:ecr:{region}:{account}:repository/{environment}-*",
            setting="vpc_redundancy",
        ),
        Grant(
            "EcrRepositories",
            ("ecr:DescribeRepositories",),
            setting="vpc_redundancy",
            resource="arn:{partition}:ecr:{region}:{account}:repository/{environment}-*",
        ),
    )


class _Carrier(Kind):
    """A new EC2 kind: its create is allowed only tagged as the stack's, like the others."""

    name = "carrier_gateway"
    grants = (
        Grant("Ec2Read", ("ec2:DescribeCarrierGateways",)),
        Grant("Ec2CreateTagged", ("ec2:CreateCarrierGateway",), creates="carrier-gateway"),
        Grant("Ec2StackResources", ("ec2:DeleteCarrierGateway",)),
    )


@pytest.fixture
def added() -> Iterator[dict[str, Kind]]:
    """Kinds added to the registry for one test."""
    extra: dict[str, Kind] = {}
    yield extra
    for name in extra:
        REGISTRY.pop(name)


def _add(added: dict[str, Kind], kind: Kind) -> None:
    added[kind.name] = REGISTRY[kind.name] = kind


def test_a_new_kind_brings_its_own_statement_and_follows_its_switch(
    tmp_path: Path, added: dict[str, Kind]
) -> None:
    _add(added, _Ecr())
    on = _statements(_config(tmp_path, environment="prod", region="eu-west-1"))
    assert on["EcrRepositories"] == {
        "Sid": "EcrRepositories",
        "Effect": "Allow",
        "Action": [
            "ecr:CreateRepository",
            "ecr:DeleteRepository",
            "ecr:DescribeRepositories",
            "ecr:ListTagsForResource",
        ],
        "Resource": f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/prod-*",
    }
    assert "EcrRepositories" not in _statements(_config(tmp_path, vpc_redundancy=False))


def test_a_new_ec2_kind_creates_only_tagged_as_the_stacks(
    tmp_path: Path, added: dict[str, Kind]
) -> None:
    before = _statements(_config(tmp_path))
    _add(added, _Carrier())
    after = _statements(_config(tmp_path))
    arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}:carrier-gateway/*"
    assert arn in after["Ec2CreateTagged"]["Resource"]
    assert arn not in before["Ec2CreateTagged"]["Resource"]
    tag_on_create = after["Ec2TagOnCreate"]["Condition"]["StringEquals"]["ec2:CreateAction"]
    assert "CreateCarrierGateway" in tag_on_create
    assert {"ec2:CreateCarrierGateway", "ec2:DeleteCarrierGateway"} <= _actions(
        after["Ec2StackResources"]
    )
    assert "ec2:DescribeCarrierGateways" in _actions(after["Ec2Read"])


class _Unscoped(Kind):
    name = "unscoped"
    grants = (Grant("Elsewhere", ("ecr:CreateRepository",)),)


class _BadSwitch(Kind):
    name = "bad_switch"
    grants = (Grant("Ec2Read", ("ec2:DescribeThings",), setting="region"),)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (_Unscoped(), "kind unscoped: statement 'Elsewhere' is not one smprov scopes"),
        (_BadSwitch(), "kind bad_switch: 'region' is not a boolean setting"),
    ],
)
def test_a_grant_smprov_cannot_scope_is_refused(
    tmp_path: Path, added: dict[str, Kind], kind: Kind, message: str
) -> None:
    _add(added, kind)
    with pytest.raises(ValueError, match=message):
        deployer_policy(_config(tmp_path), ACCOUNT)


def _operations(service: str) -> dict[str, str]:
    """``service``'s API operations by the name boto3 calls them (``delete_retention_policy``)."""
    import boto3
    from botocore import xform_name

    model = boto3.session.Session()._session.get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


#: Services whose IAM actions are named as their API operations (S3's are not: HeadObject is
#: s3:GetObject); the recorded paths of test_permissions.py prove the rest.
SAME_NAMES = {"ec2", "iam", "logs"}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_call_a_kinds_module_makes_is_among_its_grants(name: str) -> None:
    """A call in a kind's code that no grant allows is denied on AWS (moto does not care),
    even on a path the recorded runs never take: every ``.<operation>(`` of the services it
    calls, in its own module, is declared."""
    import inspect
    import re

    kind = REGISTRY[name]
    source = inspect.getsource(inspect.getmodule(kind))  # type: ignore[arg-type]
    granted = {action for grant in kind.grants for action in grant.actions}
    services = set(re.findall(r'client\("([a-z0-9-]+)"\)', source)) & SAME_NAMES
    for service in services:
        for method, operation in _operations(service).items():
            if re.search(rf"\.{method}\(", source):
                assert f"{service}:{operation}" in granted, f"{name} calls {method}, not granted"
