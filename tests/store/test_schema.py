"""state/schema.json and the hand validator agree: same accepted documents, same rejected ones."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.store import document
from provisioner.store.document import StateDocument, validate
from provisioner.store.recorder import Recorder

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "state" / "schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
T0 = "2026-11-25T17:00:00Z"


def base() -> dict[str, Any]:
    doc = StateDocument.new("dev", "us-east-1", "123456789012", "http://127.0.0.1:5000")
    doc.put_resource("vpc", "vpc", "vpc-0abc", {"cidr": "10.0.0.0/16", "tags": []}, [], T0)
    doc.put_resource("subnet.private.us-east-1a", "subnet", "subnet-1", {}, ["vpc"], T0)
    doc.put_intent("nat_gateway.us-east-1a", "nat_gateway", "tok-1", T0)
    doc.put_intent("bucket", "bucket", "tok-2", T0, name="dev-sagemaker-x7f3k2ab")
    doc.put_data("bucket_suffix", "x7f3k2")
    return doc.to_dict()


def schema_errors(data: Any) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(data)]


def change(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a value at a ``/``-separated path (keys may contain dots)."""

    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target = data
        for name in parents:
            target = target[name]
        target[last] = value

    return apply


def remove(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target = data
        for name in parents:
            target = target[name]
        del target[last]

    return apply


SUBNET = "resources/subnet.private.us-east-1a"
INTENT = "intents/nat_gateway.us-east-1a"
VPC_RECORD = base()["resources"]["vpc"]

# (case id, mutation of a valid document, fragment the hand validator's message must contain)
BAD_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("missing lineage", remove("lineage"), "lineage is missing"),
    ("missing resources", remove("resources"), "resources is missing"),
    ("unknown top-level field", change("outputs", {}), "outputs is not a known field"),
    ("format 0", change("format_version", 0), "format_version must be 1"),
    ("format as string", change("format_version", "1"), "format_version must be 1"),
    ("format as boolean", change("format_version", True), "format_version must be 1"),
    ("newer format", change("format_version", 2), "written by a newer smprov (format 2"),
    ("lineage not a uuid", change("lineage", "dev-1"), "lineage must be a UUID"),
    ("negative serial", change("serial", -1), "serial must be a non-negative integer"),
    ("fractional serial", change("serial", 1.5), "serial must be a non-negative integer"),
    ("serial as string", change("serial", "7"), "serial must be a non-negative integer"),
    ("empty stack", change("stack", ""), "stack must not be empty"),
    ("stack as number", change("stack", 3), "stack must be a string"),
    ("bad region", change("region", "useast1"), "region must be an AWS region"),
    ("short account", change("account", "1234"), "account must be a 12-digit account id"),
    ("account as number", change("account", 123456789012), "account must be a string or null"),
    ("endpoint without scheme", change("endpoint", "localhost:5000"), "endpoint must be an"),
    ("instance not hex", change("instance", "run-1"), "instance must be 32 lowercase hex digits"),
    ("instance null", change("instance", None), "instance must be a string"),
    ("kept as number", change("resources/vpc/kept", 1), "resources.vpc.kept must be a string"),
    ("resources as list", change("resources", []), "resources must be an object"),
    ("bad resource key", change("resources/Bad Key", VPC_RECORD), "is not a valid key"),
    ("resource as string", change("resources/vpc", "vpc-1"), "resources.vpc must be an object"),
    ("id as number", change("resources/vpc/id", 42), "resources.vpc.id must be a string"),
    ("empty id", change("resources/vpc/id", ""), "resources.vpc.id must not be empty"),
    ("missing kind", remove("resources/vpc/kind"), "resources.vpc.kind is missing"),
    ("uppercase kind", change("resources/vpc/kind", "VPC"), "resources.vpc.kind must be"),
    ("unknown resource field", change("resources/vpc/arn", "x"), "resources.vpc.arn is not a"),
    ("attrs as list", change("resources/vpc/attrs", []), "resources.vpc.attrs must be an object"),
    ("secret attr", change("resources/vpc/attrs/SecretAccessKey", "s"), "looks like a credential"),
    ("nested password", change("resources/vpc/attrs/db", {"Password": "p"}), "like a credential"),
    (
        "session token in a list",
        change("resources/vpc/attrs/tags", [{"sessionToken": "t"}]),
        "looks like a credential",
    ),
    ("depends_on as string", change(f"{SUBNET}/depends_on", "vpc"), "depends_on must be an array"),
    ("repeated dependency", change(f"{SUBNET}/depends_on", ["vpc", "vpc"]), "must not repeat"),
    ("bad dependency key", change(f"{SUBNET}/depends_on", ["VPC"]), "depends_on[0] must be a key"),
    ("date without time", change("resources/vpc/created_at", "2026-11-25"), "created_at must be"),
    ("local time", change("resources/vpc/updated_at", "2026-11-25T17:00:00"), "updated_at must"),
    ("month 13", change("resources/vpc/updated_at", "2026-13-01T00:00:00Z"), "updated_at must"),
    ("null timestamp", change("resources/vpc/created_at", None), "created_at must be a string"),
    ("intents as list", change("intents", []), "intents must be an object"),
    ("intent missing token", remove(f"{INTENT}/token"), ".token is missing"),
    ("intent unknown field", change(f"{INTENT}/id", "nat-1"), ".id is not a known field"),
    ("intent bad time", change(f"{INTENT}/started_at", "now"), ".started_at must be an ISO-8601"),
    ("intent name as number", change(f"{INTENT}/name", 7), ".name must be a string"),
    ("intent empty name", change(f"{INTENT}/name", ""), ".name must not be empty"),
    ("data value as number", change("data/bucket_suffix", 7), "data.bucket_suffix must be a"),
    ("data key invalid", change("data/Suffix", "x"), "is not a valid key"),
    ("secret data name", change("data/api_secret", "x"), "looks like a credential"),
]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_patterns_are_the_code_patterns() -> None:
    defs, props = SCHEMA["$defs"], SCHEMA["properties"]
    assert defs["key"]["pattern"] == document.KEY_PATTERN
    assert defs["kind"]["pattern"] == document.KIND_PATTERN
    assert defs["timestamp"]["pattern"] == document.TIMESTAMP_PATTERN
    assert props["lineage"]["pattern"] == document.LINEAGE_PATTERN
    assert props["region"]["pattern"] == document.REGION_PATTERN
    assert props["account"]["pattern"] == document.ACCOUNT_PATTERN
    assert props["endpoint"]["pattern"] == document.ENDPOINT_PATTERN
    assert props["instance"]["pattern"] == document.INSTANCE_PATTERN
    assert set(props) == {*document.TOP_FIELDS, *document.OPTIONAL_TOP_FIELDS}
    resource = set(defs["resource"]["properties"])
    assert resource == {*document.RESOURCE_FIELDS, *document.OPTIONAL_RESOURCE_FIELDS}
    assert SCHEMA["required"] == list(document.TOP_FIELDS)
    assert defs["resource"]["required"] == list(document.RESOURCE_FIELDS)
    assert defs["intent"]["required"] == list(document.INTENT_FIELDS)
    assert props["format_version"]["const"] == document.FORMAT_VERSION


def test_every_schema_node_is_described() -> None:
    defs = SCHEMA["$defs"]
    nodes = {
        **SCHEMA["properties"],
        **defs,
        **{f"resource.{k}": v for k, v in defs["resource"]["properties"].items()},
        **{f"intent.{k}": v for k, v in defs["intent"]["properties"].items()},
    }
    undocumented = [
        name for name, node in nodes.items() if "description" not in node and set(node) != {"$ref"}
    ]
    assert undocumented == []


def test_the_base_document_is_valid_for_both() -> None:
    data = base()
    assert validate(data) == []
    assert schema_errors(data) == []


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [pytest.param(m, f, id=name) for name, m, f in BAD_CASES],
)
def test_bad_documents_are_rejected_by_both(
    mutate: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    data = base()
    mutate(data)
    hand = validate(data)
    assert any(fragment in problem for problem in hand), hand
    assert schema_errors(data), "the schema accepted a document the code rejects"


@pytest.mark.parametrize(
    "mutate",
    [
        change("account", None),
        change("endpoint", None),
        change("endpoint", "https://s3.example.com:9000/path"),
        change("instance", "0123456789abcdef0123456789abcdef"),
        change("resources/vpc/kept", "it holds flow-log data"),
        change("serial", 7.0),
        change("resources", {}),
        change("intents", {}),
        change("data", {}),
        change("resources/vpc/attrs", {"deep": {"list": [1, "a", None, True, {"k": 1.5}]}}),
        change("resources/vpc/created_at", "2026-11-25T17:00:00.123456Z"),
        change("region", "us-gov-west-1"),
        change("stack", "prod-eu"),
    ],
)
def test_valid_variations_are_accepted_by_both(mutate: Callable[[dict[str, Any]], None]) -> None:
    data = base()
    mutate(data)
    assert validate(data) == []
    assert schema_errors(data) == []


NAMES = st.text(alphabet=st.sampled_from("aAeEsScCrRtTpPwWoOdDnNkK_xX1"), max_size=16)


@given(name=NAMES)
@settings(max_examples=300, deadline=None)
def test_schema_and_code_agree_on_credential_names(name: str) -> None:
    in_code = re.search(document.SECRET_NAME_PATTERN, name, re.IGNORECASE) is not None
    in_schema = re.search(SCHEMA["$defs"]["secretName"]["pattern"], name) is not None
    assert in_code == in_schema


class MemoryBackend:
    """Keeps every text written, so the test can check each one."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def write(self, doc: StateDocument) -> None:
        self.texts.append(doc.to_json())


KEYS = st.from_regex(document.KEY_PATTERN, fullmatch=True).filter(lambda k: len(k) < 60)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
SAFE_NAMES = st.text(max_size=8).filter(
    lambda n: not re.search(document.SECRET_NAME_PATTERN, n, re.IGNORECASE)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SAFE_NAMES, inner, max_size=3),
    max_leaves=8,
)
OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("record"),
            KEYS,
            st.dictionaries(SAFE_NAMES, JSON_VALUES, max_size=3),
            st.lists(KEYS, max_size=3),
        ),
        st.tuples(st.just("intend"), KEYS, st.text(min_size=1, max_size=10)),
        st.tuples(st.just("forget"), KEYS),
        st.tuples(st.just("data"), KEYS, st.text(max_size=10)),
    ),
    min_size=1,
    max_size=8,
)


@given(ops=OPS)
@settings(max_examples=40, deadline=None)
def test_every_document_the_code_writes_is_valid_for_both(ops: list[tuple[Any, ...]]) -> None:
    backend = MemoryBackend()
    recorder = Recorder(backend, StateDocument.new("dev", "eu-west-1"))  # type: ignore[arg-type]
    recorder.set_account("123456789012", None)
    for op in ops:
        match op:
            case ("record", key, attrs, deps):
                recorder.record(key, "thing", "id-1", attrs, deps)
            case ("intend", key, token):
                recorder.intend(key, "thing", token)
            case ("forget", key):
                recorder.forget(key)
            case ("data", key, value):
                if not re.search(document.SECRET_NAME_PATTERN, key, re.IGNORECASE):
                    recorder.set_data(key, value)
    for text in backend.texts:
        data = json.loads(text)
        assert schema_errors(data) == []
        assert validate(copy.deepcopy(data)) == []
        assert StateDocument.from_json(text, "memory").to_json() == text
