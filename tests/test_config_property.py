"""Whatever the file holds, loading it yields a StackConfig or a ConfigError, never a traceback."""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import json
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.config import (
    CONFIG_KEYS,
    PublicAccessBlock,
    StackConfig,
    load_config,
    parse_config,
)
from provisioner.errors import ConfigError

KEYS = [key.name for key in CONFIG_KEYS]
SUB_KEYS = [f.name for f in dataclasses.fields(PublicAccessBlock)]

# Per key, values that pass (or nearly pass) validation, so examples reach the deeper rules.
LIKELY: dict[str, list[object]] = {
    "environment": ["dev", "ml-prod", "Dev"],
    "region": ["us-east-1", "ap-northeast-1", "eu-west-1"],
    "vpc_cidr": ["10.0.0.0/16", "10.1.0.0/20", "192.168.0.0/23", "192.168.0.0/24"],
    "availability_zones": [1, 2, 3, 6, ["us-east-1a", "us-east-1c"], ["ap-northeast-1c"]],
    "vpc_redundancy": [True, False],
    "map_public_ip_on_launch": [True, False],
    "public_subnets": [["10.0.250.0/24"], ["10.0.250.0/24", "10.0.251.0/24"]],
    "private_subnets": [["10.0.0.0/20", "10.0.16.0/20"], ["192.168.0.0/25"]],
    "database_subnets": [["10.0.192.0/21", "10.0.200.0/21", "10.0.208.0/21"]],
    "tags": [{"team": "ml"}, {}, {"Name": "x"}],
    "parallelism": [1, 10, 64],
    "flow_log_retention_days": [1, 7, 3653],
    "flow_log_max_aggregation_interval": [60, 600],
    "flow_log_role_name": ["vpc-flow-log-role-2026", "bad name", "x" * 65],
    "interface_endpoints": [[], ["sagemaker.api"], ["ecr.api", "ecr.dkr", "logs"]],
    "bucket_name": ["my-bucket", "a.b.c", "xn--x"],
    "kms_key_id": ["alias/ml", "arn:aws:kms:us-east-1:111122223333:alias/ml"],
    "bucket_versioning": [True, False],
    "public_access_block": [{}, {"block_public_acls": False}],
    "folders": [["raw"], ["a/b/", "c"]],
    "csv_source": ["sample.csv", "missing.csv", ".", "", "\0", "/", "~no-such-user/x.csv"],
    "upload_csv": [True, False],
    "sagemaker_role_name": ["dev-sagemaker-execution-role", "", "a/b"],
    "managed_policy_arns": [[], ["arn:aws:iam::aws:policy/X"]],
    "state_backend": ["state.json", "s3://bucket-name/key", "s3://bucket-name", "~no-such-user/s"],
}

SCALARS = st.one_of(
    st.text(max_size=10),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.datetimes(),
    st.dates(),
    st.times(),
)

VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(SUB_KEYS) | st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, object]:
    """Some real keys with likely or random values, plus occasionally some unknown keys."""
    document: dict[str, object] = {}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=len(KEYS), unique=True)):
        likely = st.sampled_from(LIKELY[key])
        document[key] = draw(st.one_of(likely, likely, VALUES))
    extra = draw(st.dictionaries(st.text(max_size=8), VALUES, max_size=2))
    return {**extra, **document}


DOCUMENTS = documents()


@pytest.fixture(scope="module", autouse=True)
def fixed_region_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Region comes from AWS_REGION (no botocore lookup per example) and no real AWS config."""
    empty = tmp_path_factory.mktemp("aws") / "config"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", str(empty))
        patch.delenv("AWS_PROFILE", raising=False)
        yield


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cfg")
    (base / "sample.csv").write_text("y,x\n1,2\n")
    return base


def render(value: object) -> str:
    """A TOML literal for ``value`` (the standard library has a TOML reader but no writer)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {render(v)}" for k, v in value.items()) + "}"


def check_accepted(config: StackConfig) -> None:
    """An accepted configuration must also resolve to a sound, non-overlapping layout."""
    zones = [f"{config.region}{letter}" for letter in "abcdef"]
    try:
        resolved = config.resolve(zones)
    except ConfigError as err:
        assert err.problems
        return
    assert resolved.subnets is not None
    vpc = ipaddress.IPv4Network(resolved.vpc_cidr)
    networks = [
        ipaddress.IPv4Network(cidr)
        for tier in ("public", "private", "database")
        for _, cidr in resolved.subnets.tier(tier)  # type: ignore[arg-type]
    ]
    assert len(networks) == 3 * len(resolved.zones)
    assert all(n.subnet_of(vpc) for n in networks)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(networks, 2))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENTS)
def test_any_document_gives_config_or_config_error(base_dir: Path, document: dict) -> None:
    try:
        config = parse_config(document, base_dir=base_dir, source="prop.toml")
    except ConfigError as err:
        assert err.problems
        assert all(isinstance(p, str) and p for p in err.problems)
        return
    check_accepted(config)


@settings(max_examples=200, deadline=None)
@given(
    document=DOCUMENTS,
    junk=st.text(max_size=6),
    position=st.integers(min_value=0),
)
def test_any_toml_text_gives_config_or_config_error(
    tmp_path_factory: pytest.TempPathFactory, document: dict, junk: str, position: int
) -> None:
    text = "".join(f"{json.dumps(k)} = {render(v)}\n" for k, v in document.items())
    cut = position % (len(text) + 1)
    path = tmp_path_factory.getbasetemp() / "prop-text.toml"
    path.write_text(text[:cut] + junk + text[cut:], encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as err:
        assert err.problems
        return
    check_accepted(config)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_any_bytes_give_config_or_config_error(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "prop-bytes.toml"
    path.write_bytes(raw)
    try:
        config = load_config(path)
    except ConfigError as err:
        assert err.problems
        return
    check_accepted(config)
