"""The state document: construction, stable JSON, precise load errors, the secret guard."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from provisioner.errors import StateError
from provisioner.store.document import (
    FORMAT_VERSION,
    KEY_PATTERN,
    ResourceRecord,
    StateDocument,
    validate,
)

T0 = "2026-11-25T17:00:00Z"
T1 = "2026-11-25T17:05:00Z"
SOURCE = "state/dev.json"


def sample() -> StateDocument:
    doc = StateDocument.new("dev", "us-east-1", "123456789012", None)
    doc.put_resource("vpc", "vpc", "vpc-0abc", {"cidr": "10.0.0.0/16"}, [], T0)
    doc.put_resource(
        "subnet.private.us-east-1a",
        "subnet",
        "subnet-0abc",
        {"az": "us-east-1a", "cidrs": ["10.0.1.0/24"], "nested": {"a": 1, "b": None}},
        ["vpc"],
        T0,
    )
    doc.put_intent("nat_gateway.us-east-1a", "nat_gateway", "tok-1", T0)
    doc.put_data("bucket_suffix", "x7f3k2")
    return doc


def load(data: dict) -> StateDocument:
    return StateDocument.from_json(json.dumps(data), SOURCE)


def test_new_document_is_empty_with_a_fresh_lineage() -> None:
    a = StateDocument.new("dev", "us-east-1")
    b = StateDocument.new("dev", "us-east-1")
    assert a.serial == 0
    assert a.format_version == FORMAT_VERSION
    assert (a.account, a.endpoint) == (None, None)
    assert (a.resources, a.intents, a.data) == ({}, {}, {})
    assert uuid.UUID(a.lineage).version == 4
    assert a.lineage != b.lineage


@pytest.mark.parametrize(
    ("stack", "region", "account", "endpoint"),
    [
        ("", "us-east-1", None, None),
        ("dev", "US East", None, None),
        ("dev", "us-east-1", "1234", None),
        ("dev", "us-east-1", None, "localhost:5000"),
    ],
)
def test_new_rejects_impossible_values(
    stack: str, region: str, account: str | None, endpoint: str | None
) -> None:
    with pytest.raises(ValueError):
        StateDocument.new(stack, region, account, endpoint)


def test_json_is_sorted_indented_and_ends_with_a_newline() -> None:
    text = sample().to_json()
    assert text.endswith("}\n")
    assert text.startswith('{\n  "account": "123456789012",\n  "data": {')
    top_keys = re.findall(r'^  "([a-z_]+)":', text, flags=re.MULTILINE)
    assert top_keys == sorted(top_keys)
    assert len(top_keys) == 10


def test_json_round_trips_exactly() -> None:
    doc = sample()
    text = doc.to_json()
    again = StateDocument.from_json(text, SOURCE)
    assert again == doc
    assert again.to_json() == text


@pytest.mark.parametrize(
    "key",
    [
        "vpc",
        "nat_gateway",
        "subnet.private.us-east-1a",
        "route.private.us-east-1a.default",
        "object.raw-data/data.csv",
        "endpoint.com.amazonaws:s3",
        "role.SageMakerExecution",
    ],
)
def test_key_pattern_accepts_smprov_keys(key: str) -> None:
    assert re.fullmatch(KEY_PATTERN, key)
    doc = StateDocument.new("dev", "us-east-1")
    doc.put_resource(key, "thing", "id-1", {}, [], T0)
    assert StateDocument.from_json(doc.to_json(), SOURCE).resources[key].id == "id-1"


@pytest.mark.parametrize(
    "key",
    ["", "VPC", "1vpc", ".vpc", "vpc.", "subnet..a", "object.raw data", "vpc\n", "bucket.a,b"],
)
def test_key_pattern_rejects_malformed_keys(key: str) -> None:
    assert not re.fullmatch(KEY_PATTERN, key)
    doc = StateDocument.new("dev", "us-east-1")
    with pytest.raises(ValueError, match="invalid key"):
        doc.put_resource(key, "thing", "id-1", {}, [], T0)


def test_a_trailing_newline_in_a_key_is_rejected_on_load() -> None:
    """Python's ``$`` matches before a final newline; the loader must not be fooled by it."""
    data = sample().to_dict()
    data["resources"]["vpc\n"] = data["resources"].pop("vpc")
    with pytest.raises(StateError, match="is not a valid key"):
        load(data)


def test_put_resource_keeps_created_at_and_clears_the_intent() -> None:
    doc = StateDocument.new("dev", "us-east-1")
    doc.put_intent("vpc", "vpc", "tok", T0)
    doc.put_resource("vpc", "vpc", "vpc-1", {"x": 1}, ["b", "a", "b"], T0)
    assert "vpc" not in doc.intents
    doc.put_resource("vpc", "vpc", "vpc-1", {"x": 2}, ["a"], T1)
    record = doc.resources["vpc"]
    assert (record.created_at, record.updated_at) == (T0, T1)
    assert record.attrs == {"x": 2}


def test_depends_on_is_stored_sorted_and_unique() -> None:
    doc = StateDocument.new("dev", "us-east-1")
    doc.put_resource("nat", "nat_gateway", "nat-1", {}, ["subnet.b", "eip", "subnet.b"], T0)
    assert doc.to_dict()["resources"]["nat"]["depends_on"] == ["eip", "subnet.b"]


def test_attrs_are_copied_so_the_caller_cannot_change_the_document() -> None:
    attrs = {"tags": {"Name": "a"}, "cidrs": ["10.0.0.0/16"]}
    doc = StateDocument.new("dev", "us-east-1")
    doc.put_resource("vpc", "vpc", "vpc-1", attrs, [], T0)
    attrs["tags"]["Name"] = "changed"
    attrs["cidrs"].append("10.1.0.0/16")
    assert doc.resources["vpc"].attrs == {"tags": {"Name": "a"}, "cidrs": ["10.0.0.0/16"]}


@pytest.mark.parametrize("attrs", [{"x": float("nan")}, {"x": object()}, {"x": {1, 2}}])
def test_attrs_must_be_plain_json(attrs: dict) -> None:
    doc = StateDocument.new("dev", "us-east-1")
    with pytest.raises(ValueError, match="not plain JSON"):
        doc.put_resource("vpc", "vpc", "vpc-1", attrs, [], T0)
    assert doc.resources == {}


@pytest.mark.parametrize(
    "attrs",
    [
        {"SecretAccessKey": "abc"},
        {"SessionToken": "abc"},
        {"session_token": "abc"},
        {"Password": "hunter2"},
        {"db": {"MasterUserPassword": "x"}},
        {"items": [{"ok": 1}, {"client_secret": "x"}]},
    ],
)
def test_credentials_are_refused_before_they_reach_a_document(attrs: dict) -> None:
    doc = StateDocument.new("dev", "us-east-1")
    with pytest.raises(ValueError, match="looks like a credential"):
        doc.put_resource("role", "role", "r", attrs, [], T0)
    assert doc.resources == {}


def test_serialising_a_smuggled_credential_raises() -> None:
    doc = sample()
    doc.resources["role"] = ResourceRecord(
        "role", "r", {"AccessKeyId": "A", "SecretAccessKey": "S"}, (), T0, T0
    )
    with pytest.raises(ValueError, match=r"resources\.role\.attrs\.SecretAccessKey"):
        doc.to_json()


def test_data_names_that_look_like_credentials_are_refused() -> None:
    doc = StateDocument.new("dev", "us-east-1")
    with pytest.raises(ValueError, match="looks like a credential"):
        doc.put_data("db_password", "x")


def test_a_state_file_holding_a_credential_is_reported_not_loaded() -> None:
    data = sample().to_dict()
    data["resources"]["vpc"]["attrs"]["SessionToken"] = "FwoG..."
    with pytest.raises(StateError) as info:
        load(data)
    assert info.value.message == (
        "state file state/dev.json: resources.vpc.attrs.SessionToken looks like a credential; "
        "credentials never belong here"
    )


def test_invalid_json_names_line_and_column() -> None:
    text = sample().to_json()
    broken = text.replace('"serial": 0,', '"serial": 0')
    with pytest.raises(StateError) as info:
        StateDocument.from_json(broken, SOURCE)
    line = broken.splitlines().index('  "serial": 0') + 2
    assert info.value.message == (
        "state file state/dev.json: not valid JSON: "
        f"Expecting ',' delimiter (line {line}, column 3)"
    )
    assert "smprov import" in (info.value.hint or "")


def test_truncated_and_empty_files_are_reported() -> None:
    text = sample().to_json()
    with pytest.raises(StateError, match="not valid JSON"):
        StateDocument.from_json(text[: len(text) // 2], SOURCE)
    with pytest.raises(StateError, match="the file is empty"):
        StateDocument.from_json("", SOURCE)


def test_nan_is_not_json() -> None:
    text = sample().to_json().replace('"serial": 0', '"serial": NaN')
    with pytest.raises(StateError, match="NaN is not a JSON number"):
        StateDocument.from_json(text, SOURCE)


def test_wrong_type_names_the_exact_field() -> None:
    data = sample().to_dict()
    data["resources"]["vpc"]["id"] = 42
    with pytest.raises(StateError) as info:
        load(data)
    assert info.value.message == "state file state/dev.json: resources.vpc.id must be a string"


def test_dotted_keys_are_quoted_in_paths() -> None:
    data = sample().to_dict()
    del data["resources"]["subnet.private.us-east-1a"]["kind"]
    with pytest.raises(StateError) as info:
        load(data)
    assert info.value.message == (
        'state file state/dev.json: resources["subnet.private.us-east-1a"].kind is missing'
    )


def test_unknown_top_level_field_is_rejected() -> None:
    data = sample().to_dict()
    data["outputs"] = {}
    with pytest.raises(StateError) as info:
        load(data)
    assert info.value.message == "state file state/dev.json: outputs is not a known field"


def test_all_problems_are_listed_at_once() -> None:
    data = sample().to_dict()
    del data["lineage"]
    data["serial"] = -1
    data["intents"]["nat_gateway.us-east-1a"]["started_at"] = "yesterday"
    with pytest.raises(StateError) as info:
        load(data)
    assert info.value.message.splitlines() == [
        "state file state/dev.json is invalid:",
        "  - lineage is missing",
        "  - serial must be a non-negative integer, got -1",
        '  - intents["nat_gateway.us-east-1a"].started_at must be an ISO-8601 UTC time like '
        "2026-11-25T17:00:00Z, got 'yesterday'",
    ]


def test_newer_format_asks_for_an_upgrade_before_anything_else() -> None:
    data = {"format_version": 2, "something": "new", "resources": []}
    with pytest.raises(StateError) as info:
        load(data)
    assert info.value.message == (
        "state file state/dev.json: written by a newer smprov (format 2; this one reads up to 1): "
        "upgrade smprov"
    )


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(StateError, match="the top level must be a JSON object"):
        StateDocument.from_json("[1, 2]", SOURCE)


def test_validate_accepts_what_the_code_writes() -> None:
    assert validate(sample().to_dict()) == []


def test_copy_is_independent() -> None:
    doc = sample()
    snap = doc.copy()
    doc.put_resource("vpc", "vpc", "vpc-0abc", {"cidr": "10.9.0.0/16"}, [], T1)
    assert snap.resources["vpc"].attrs == {"cidr": "10.0.0.0/16"}


def test_assembled_json_is_the_whole_document_pretty_printed() -> None:
    """``to_json`` reuses each record's kept text; the file must be byte for byte what
    pretty-printing the whole document gives (keys needing escapes, unicode, empty maps)."""
    doc = sample()
    doc.put_resource("object.raw-data/x.csv", "s3_object", "k", {'é"\\n': ["ü", {}]}, [], T0)
    doc.put_resource("vpc", "vpc", "vpc-2", {"tags": {}, "nested": {"a": [1, 2.5, None]}}, [], T0)
    whole = json.dumps(doc.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert doc.to_json() == whole
    doc.drop_resource("vpc")
    assert (
        doc.to_json()
        == json.dumps(doc.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    )
    empty = StateDocument.new("dev", "us-east-1")
    assert empty.to_json() == json.dumps(empty.to_dict(), sort_keys=True, indent=2) + "\n"
