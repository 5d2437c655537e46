"""The state document: what smprov knows it created, as plain JSON data.

One document per stack. It is validated by hand on load (``jsonschema`` is only a test
dependency); ``state/schema.json`` describes the same format and the tests hold the two together.
Only the recorder changes a document, through the ``put_*``/``drop_*`` methods, so every
document written is valid by construction.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from provisioner.errors import StateError

FORMAT_VERSION = 1
"""The newest state format this smprov reads and the one it writes."""

KEY_PATTERN = r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_:/-]+)*$"
"""Resource, intent and data keys: a lowercase word (usually the kind), then dot-separated parts
of letters, digits and ``_ : / -``. Accepts ``vpc``, ``subnet.private.us-east-1a``,
``route.private.us-east-1a.default`` and ``object.raw-data/data.csv``; rejects empty parts,
spaces and a leading or trailing dot."""

KIND_PATTERN = r"^[a-z][a-z0-9_]*$"
LINEAGE_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"
ACCOUNT_PATTERN = r"^[0-9]{12}$"
ENDPOINT_PATTERN = r"^https?://[^\s]+$"
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?Z$"
)
SECRET_NAME_PATTERN = r"secret|password|session_?token"
"""Attribute and data names that look like credentials (case-insensitive). ``SecretAccessKey``
and ``SessionToken`` match; credentials never belong in a state file."""

_SECRET_RE = re.compile(SECRET_NAME_PATTERN, re.IGNORECASE | re.ASCII)
_PLAIN_SEGMENT_RE = re.compile(r"^[a-z0-9_]+$")

TOP_FIELDS = (
    "format_version",
    "lineage",
    "serial",
    "stack",
    "region",
    "account",
    "endpoint",
    "resources",
    "intents",
    "data",
)
#: Top-level fields a state has only when they apply (absent in older states).
OPTIONAL_TOP_FIELDS = ("instance",)
INSTANCE_PATTERN = r"^[0-9a-f]{32}$"
RESOURCE_FIELDS = ("kind", "id", "attrs", "depends_on", "created_at", "updated_at")
#: Resource fields present only when they apply.
OPTIONAL_RESOURCE_FIELDS = ("kept",)
INTENT_FIELDS = ("kind", "token", "started_at")
#: Intent fields a state may lack (written by an older smprov, or not applicable).
INTENT_OPTIONAL = ("name",)

DAMAGED_HINT = (
    "smprov never overwrites a damaged state file: fix it by hand, or move it away and run "
    "`smprov import` to take the stack's resources over by their tags"
)


def new_lineage() -> str:
    """A fresh state identity (a UUID4, as Terraform's lineage)."""
    return str(uuid.uuid4())


def utc_now() -> str:
    """The current time as the ISO-8601 UTC string the state stores (second precision)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ResourceRecord:
    """One resource smprov created or adopted: its AWS id and the attributes read back."""

    kind: str
    id: str
    attrs: dict[str, Any]
    depends_on: tuple[str, ...]
    created_at: str
    updated_at: str
    #: Why a `down` kept it (data the user did not ask to delete); None while it is part of
    #: the stack.
    kept: str | None = None

    def to_dict(self, *, copy_attrs: bool = True) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "id": self.id,
            "attrs": copy.deepcopy(self.attrs) if copy_attrs else self.attrs,
            "depends_on": list(self.depends_on),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.kept is not None:
            out["kept"] = self.kept
        return out

    @cached_property
    def json_fragment(self) -> str:
        """This record as it appears in the state file (before indenting), made once.

        The state is written after every change, and re-encoding every unchanged record with
        the pure-Python pretty-printer was the main cost of a write; a record never changes (the
        recorder replaces it), so its text can be kept.
        """
        return _pretty(self.to_dict(copy_attrs=False))


@dataclass(frozen=True)
class Intent:
    """A create that was started but not yet recorded: the next run looks for it by token/tags
    or, for a name-keyed resource (bucket, role, log group, DB subnet group), by ``name``."""

    kind: str
    token: str
    started_at: str
    #: The name the create asked for (name-keyed kinds): a resource of this account with that
    #: name is the one this create made, tags or not.
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "token": self.token, "started_at": self.started_at}
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass
class StateDocument:
    """The whole state of one stack. Change it only through the recorder."""

    lineage: str
    serial: int
    stack: str
    region: str
    account: str | None
    endpoint: str | None
    resources: dict[str, ResourceRecord] = field(default_factory=dict)
    intents: dict[str, Intent] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    #: Which run of the local emulator the resources live in (None: real AWS, or unknown): a
    #: restarted emulator starts empty, so a state of an earlier run describes nothing.
    instance: str | None = None

    @classmethod
    def new(
        cls,
        stack: str,
        region: str,
        account: str | None = None,
        endpoint: str | None = None,
        *,
        lineage: str | None = None,
        instance: str | None = None,
    ) -> StateDocument:
        """An empty state for a new stack, with serial 0 and a fresh lineage (or ``lineage``,
        the one its resources were planned with)."""
        if not isinstance(stack, str) or not stack:
            raise ValueError(f"stack must be a non-empty string, got {stack!r}")
        _require(region, REGION_PATTERN, "region")
        if lineage is not None:
            _require(lineage, LINEAGE_PATTERN, "lineage")
        doc = cls(
            lineage=lineage or new_lineage(),
            serial=0,
            stack=stack,
            region=region,
            account=None,
            endpoint=None,
        )
        doc.set_account(account, endpoint, instance)
        return doc

    # -- mutation (the recorder's vocabulary) -------------------------------------------------

    def put_resource(
        self,
        key: str,
        kind: str,
        id: str,
        attrs: Mapping[str, Any],
        depends_on: Iterable[str],
        now: str,
    ) -> ResourceRecord:
        """Add or replace a resource; keeps its first ``created_at``, clears its intent."""
        _require_key(key)
        _require(kind, KIND_PATTERN, "kind")
        if not isinstance(id, str) or not id:
            raise ValueError(f"resource {key}: id must be a non-empty string, got {id!r}")
        deps = tuple(sorted(set(depends_on)))
        for dep in deps:
            _require_key(dep)
        clean_attrs = _json_copy(attrs, f"resource {key} attrs")
        ensure_no_secrets(clean_attrs, f"resources.{key}.attrs")
        _require(now, TIMESTAMP_PATTERN, "timestamp")
        previous = self.resources.get(key)
        record = ResourceRecord(
            kind=kind,
            id=id,
            attrs=clean_attrs,
            depends_on=deps,
            created_at=previous.created_at if previous else now,
            updated_at=now,
        )
        self.resources[key] = record
        self.intents.pop(key, None)
        return record

    def mark_kept(self, key: str, reason: str | None, now: str) -> None:
        """Note that a `down` kept ``key`` and why (None: it is part of the stack again)."""
        record = self.resources.get(key)
        if record is None or record.kept == reason:
            return
        if reason is not None and not isinstance(reason, str):
            raise ValueError(f"resource {key}: kept must be a string")
        _require(now, TIMESTAMP_PATTERN, "timestamp")
        self.resources[key] = dataclasses.replace(record, kept=reason, updated_at=now)

    def drop_resource(self, key: str) -> None:
        """Forget a resource (it was deleted) and any intent for it; absent keys are fine."""
        self.resources.pop(key, None)
        self.intents.pop(key, None)

    def put_intent(
        self, key: str, kind: str, token: str, now: str, name: str | None = None
    ) -> Intent:
        """Note that a create of ``key`` is about to start with client token ``token`` (and,
        for a name-keyed resource, the ``name`` it asks for)."""
        _require_key(key)
        _require(kind, KIND_PATTERN, "kind")
        if not isinstance(token, str) or not token:
            raise ValueError(f"intent {key}: token must be a non-empty string")
        _require(now, TIMESTAMP_PATTERN, "timestamp")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"intent {key}: name must be a non-empty string")
        intent = Intent(kind=kind, token=token, started_at=now, name=name)
        self.intents[key] = intent
        return intent

    def drop_intent(self, key: str) -> None:
        self.intents.pop(key, None)

    def put_data(self, name: str, value: str) -> None:
        """Keep a generated value (e.g. a bucket-name suffix) so later runs reuse it."""
        _require_key(name)
        if _SECRET_RE.search(name):
            raise ValueError(f"data name {name!r} looks like a credential; never store one")
        if not isinstance(value, str):
            raise ValueError(f"data {name}: value must be a string, got {type(value).__name__}")
        self.data[name] = value

    def set_account(
        self, account: str | None, endpoint: str | None, instance: str | None = None
    ) -> None:
        """Record which AWS account (and custom endpoint, and run of the emulator behind it, if
        any) the resources live in."""
        if account is not None:
            _require(account, ACCOUNT_PATTERN, "account")
        if endpoint is not None:
            _require(endpoint, ENDPOINT_PATTERN, "endpoint")
        if instance is not None:
            _require(instance, INSTANCE_PATTERN, "instance")
        self.account = account
        self.endpoint = endpoint
        self.instance = instance

    def copy(self) -> StateDocument:
        """A deep copy callers may read while the recorder keeps writing."""
        return copy.deepcopy(self)

    # -- serialisation ------------------------------------------------------------------------

    def to_dict(self, *, copy_attrs: bool = True) -> dict[str, Any]:
        """The JSON-ready form; refuses (ValueError) to carry anything that looks like a secret.

        ``copy_attrs=False`` shares the attribute dicts (for immediate serialisation: the state
        is written after every change, and copying every resource each time is the main cost).
        """
        out = self.to_dict_without_resources()
        out["resources"] = {k: r.to_dict(copy_attrs=copy_attrs) for k, r in self.resources.items()}
        for key, record in self.resources.items():
            ensure_no_secrets(record.attrs, f"resources.{key}.attrs")
        ensure_no_secrets(self.data, "data")
        return out

    def to_json(self) -> str:
        """Stable text: sorted keys, 2-space indent, trailing newline (diffs stay small).

        The same text as pretty-printing ``to_dict()`` whole, assembled from each record's kept
        ``json_fragment`` so a write re-encodes only what changed.
        """
        for key, record in self.resources.items():
            if "json_fragment" not in vars(record):  # checked once, when its text is made
                ensure_no_secrets(record.attrs, f"resources.{key}.attrs")
        ensure_no_secrets(self.data, "data")
        top = self.to_dict_without_resources()
        top["resources"] = {}
        text = _pretty(top)
        if self.resources:
            entries = ",\n".join(
                f"    {json.dumps(key, ensure_ascii=False)}: "
                + self.resources[key].json_fragment.replace("\n", "\n    ")
                for key in sorted(self.resources)
            )
            # Keys and strings cannot hold a raw newline, so this marker is unique.
            text = text.replace(
                '\n  "resources": {}', '\n  "resources": {\n' + entries + "\n  }", 1
            )
        return text + "\n"

    def to_dict_without_resources(self) -> dict[str, Any]:
        out = {
            "format_version": self.format_version,
            "lineage": self.lineage,
            "serial": self.serial,
            "stack": self.stack,
            "region": self.region,
            "account": self.account,
            "endpoint": self.endpoint,
            "intents": {k: i.to_dict() for k, i in self.intents.items()},
            "data": dict(self.data),
        }
        if self.instance is not None:
            out["instance"] = self.instance
        return out

    def shared_copy(self) -> StateDocument:
        """A copy sharing the (immutable) records: cheap, for writing while others record."""
        return StateDocument(
            lineage=self.lineage,
            serial=self.serial,
            stack=self.stack,
            region=self.region,
            account=self.account,
            endpoint=self.endpoint,
            resources=dict(self.resources),
            intents=dict(self.intents),
            data=dict(self.data),
            format_version=self.format_version,
            instance=self.instance,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> StateDocument:
        """Parse and validate a state file's text; ``source`` names the file in messages."""
        if not text.strip():
            raise StateError(f"state file {source}: the file is empty", DAMAGED_HINT)
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise StateError(
                f"state file {source}: not valid JSON: {exc.msg} "
                f"(line {exc.lineno}, column {exc.colno})",
                DAMAGED_HINT,
            ) from None
        except ValueError as exc:
            raise StateError(f"state file {source}: not valid JSON: {exc}", DAMAGED_HINT) from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Any, source: str) -> StateDocument:
        """Validate parsed JSON and build the document; every problem is named by its path."""
        if isinstance(data, dict) and (newer := _newer_format(data)):
            raise StateError(f"state file {source}: {newer}", "install a newer smprov")
        problems = validate(data)
        if len(problems) == 1:
            raise StateError(f"state file {source}: {problems[0]}", DAMAGED_HINT)
        if problems:
            listed = "\n".join(f"  - {p}" for p in problems)
            raise StateError(f"state file {source} is invalid:\n{listed}", DAMAGED_HINT)
        return cls(
            format_version=int(data["format_version"]),
            lineage=data["lineage"],
            serial=int(data["serial"]),
            stack=data["stack"],
            region=data["region"],
            account=data["account"],
            endpoint=data["endpoint"],
            resources={
                key: ResourceRecord(
                    kind=r["kind"],
                    id=r["id"],
                    attrs=r["attrs"],
                    depends_on=tuple(r["depends_on"]),
                    created_at=r["created_at"],
                    updated_at=r["updated_at"],
                    kept=r.get("kept"),
                )
                for key, r in data["resources"].items()
            },
            intents={
                key: Intent(
                    kind=i["kind"], token=i["token"], started_at=i["started_at"], name=i.get("name")
                )
                for key, i in data["intents"].items()
            },
            data=dict(data["data"]),
            instance=data.get("instance"),
        )


def ensure_no_secrets(value: Any, where: str) -> None:
    """Raise ValueError if any object key, at any depth, looks like a credential.

    A programming error, not a user error: no kind may ever put a credential into a state.
    """
    if isinstance(value, Mapping):
        for name, item in value.items():
            if isinstance(name, str) and _SECRET_RE.search(name):
                raise ValueError(f"{where}.{name} looks like a credential; never store one")
            ensure_no_secrets(item, f"{where}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            ensure_no_secrets(item, f"{where}[{index}]")


# -- validation ------------------------------------------------------------------------------
# Mirrors state/schema.json rule for rule; tests/store/test_schema.py runs both over one table.

Checker = Callable[[Any, str, list[str]], None]


def validate(data: Any) -> list[str]:
    """Every problem with a parsed state document, as ``"<path> <what is wrong>"`` strings.

    A ``format_version`` newer than this smprov stops validation at once: its other fields may
    legitimately differ, and "upgrade smprov" is the only useful thing to say.
    """
    if not isinstance(data, dict):
        return ["the top level must be a JSON object"]
    newer = _newer_format(data)
    if newer:
        return [newer]
    problems: list[str] = []
    _check_fields(data, "", TOP_FIELDS, problems, optional=OPTIONAL_TOP_FIELDS)
    version = data.get("format_version")
    if "format_version" in data and not (_is_int(version) and version == FORMAT_VERSION):
        problems.append(f"format_version must be {FORMAT_VERSION}, got {version!r}")
    serial = data.get("serial")
    if "serial" in data and not (_is_int(serial) and serial >= 0):
        problems.append(f"serial must be a non-negative integer, got {serial!r}")
    _check_str(data, "lineage", "", problems, LINEAGE_PATTERN, "a UUID")
    _check_str(data, "stack", "", problems)
    _check_str(data, "region", "", problems, REGION_PATTERN, "an AWS region like us-east-1")
    _check_str(
        data, "account", "", problems, ACCOUNT_PATTERN, "a 12-digit account id", nullable=True
    )
    _check_str(data, "endpoint", "", problems, ENDPOINT_PATTERN, "an http(s) URL", nullable=True)
    _check_str(data, "instance", "", problems, INSTANCE_PATTERN, "32 lowercase hex digits")
    _check_map(data, "resources", _check_resource, problems)
    _check_map(data, "intents", _check_intent, problems)
    _check_map(data, "data", _check_data_value, problems)
    return problems


def _newer_format(data: dict[str, Any]) -> str | None:
    version = data.get("format_version")
    if _is_int(version) and version > FORMAT_VERSION:
        return (
            f"written by a newer smprov (format {int(version)}; "
            f"this one reads up to {FORMAT_VERSION}): upgrade smprov"
        )
    return None


def _check_resource(value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path} must be an object")
        return
    _check_fields(value, path, RESOURCE_FIELDS, problems, optional=OPTIONAL_RESOURCE_FIELDS)
    _check_str(value, "kind", path, problems, KIND_PATTERN, "a lowercase kind name")
    _check_str(value, "kept", path, problems)
    _check_str(value, "id", path, problems)
    if "attrs" in value:
        if isinstance(value["attrs"], dict):
            _check_secret_names(value["attrs"], f"{path}.attrs", problems)
        else:
            problems.append(f"{path}.attrs must be an object")
    deps = value.get("depends_on")
    if "depends_on" in value and not isinstance(deps, list):
        problems.append(f"{path}.depends_on must be an array")
    elif isinstance(deps, list):
        for index, dep in enumerate(deps):
            _check_value(dep, f"{path}.depends_on[{index}]", problems, KEY_PATTERN, "a key")
        if len({json.dumps(dep, sort_keys=True) for dep in deps}) != len(deps):
            problems.append(f"{path}.depends_on must not repeat a key")
    _check_str(value, "created_at", path, problems, TIMESTAMP_PATTERN, _TIME_WHAT)
    _check_str(value, "updated_at", path, problems, TIMESTAMP_PATTERN, _TIME_WHAT)


def _check_intent(value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path} must be an object")
        return
    _check_fields(value, path, INTENT_FIELDS, problems, optional=INTENT_OPTIONAL)
    _check_str(value, "kind", path, problems, KIND_PATTERN, "a lowercase kind name")
    _check_str(value, "token", path, problems)
    _check_str(value, "started_at", path, problems, TIMESTAMP_PATTERN, _TIME_WHAT)
    if "name" in value:
        _check_str(value, "name", path, problems)


def _check_data_value(value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{path} must be a string")


_TIME_WHAT = "an ISO-8601 UTC time like 2026-11-25T17:00:00Z"


def _check_fields(
    obj: dict[str, Any],
    path: str,
    known: tuple[str, ...],
    problems: list[str],
    *,
    optional: tuple[str, ...] = (),
) -> None:
    prefix = f"{path}." if path else ""
    problems.extend(f"{prefix}{name} is missing" for name in known if name not in obj)
    problems.extend(
        f"{prefix}{name} is not a known field"
        for name in obj
        if name not in known and name not in optional
    )


def _check_str(
    obj: dict[str, Any],
    name: str,
    path: str,
    problems: list[str],
    pattern: str | None = None,
    what: str = "",
    nullable: bool = False,
) -> None:
    """Check ``obj[name]`` if present (absence is reported by ``_check_fields``)."""
    if name in obj:
        full = f"{path}.{name}" if path else name
        _check_value(obj[name], full, problems, pattern, what, nullable)


def _check_value(
    value: Any,
    path: str,
    problems: list[str],
    pattern: str | None = None,
    what: str = "",
    nullable: bool = False,
) -> None:
    """A non-empty string matching ``pattern`` (or null when ``nullable``).

    ``fullmatch``, not ``search``: Python's ``$`` also matches before a trailing newline.
    """
    or_null = " or null" if nullable else ""
    if value is None and nullable:
        return
    if not isinstance(value, str):
        problems.append(f"{path} must be a string{or_null}")
    elif not value:
        problems.append(f"{path} must not be empty")
    elif pattern is not None and not re.fullmatch(pattern, value):
        problems.append(f"{path} must be {what}{or_null}, got {value!r}")


def _check_map(obj: dict[str, Any], name: str, check: Checker, problems: list[str]) -> None:
    """``obj[name]`` is an object keyed by KEY_PATTERN; each value is checked by ``check``."""
    if name not in obj:
        return
    value = obj[name]
    if not isinstance(value, dict):
        problems.append(f"{name} must be an object")
        return
    for key, item in value.items():
        item_path = _join(name, key)
        if not re.fullmatch(KEY_PATTERN, key):
            problems.append(f"{item_path}: {key!r} is not a valid key (see KEY_PATTERN)")
        elif name == "data" and _SECRET_RE.search(key):
            problems.append(f"{item_path} looks like a credential; credentials never belong here")
        check(item, item_path, problems)


def _check_secret_names(value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            if _SECRET_RE.search(name):
                problems.append(
                    f"{path}.{name} looks like a credential; credentials never belong here"
                )
            _check_secret_names(item, f"{path}.{name}", problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_secret_names(item, f"{path}[{index}]", problems)


def _join(path: str, key: str) -> str:
    """``resources.vpc``, but ``resources["subnet.private.a"]`` when the key has dots in it."""
    return f"{path}.{key}" if _PLAIN_SEGMENT_RE.match(key) else f"{path}[{json.dumps(key)}]"


def _is_int(value: Any) -> bool:
    """JSON Schema's notion of integer: ``7`` and ``7.0`` are, ``true`` is not."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _require(value: Any, pattern: str, what: str) -> None:
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise ValueError(f"invalid {what}: {value!r} does not match {pattern}")


def _require_key(key: Any) -> None:
    _require(key, KEY_PATTERN, "key")


def _pretty(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


def _json_copy(value: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A deep, JSON-pure copy: the recorder's caller keeps no handle into the document."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(value).__name__}")
    try:
        return json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} are not plain JSON: {exc}") from None
