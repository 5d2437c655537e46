"""Read a Terraform state into plain records: no terraform binary, no AWS.

Two documents carry the same information:

- the state file itself (``terraform state pull``, ``terraform.tfstate``, an S3 backend's
  object): ``{"version": 4, "resources": [{"module", "mode", "type", "name", "instances":
  [{"index_key", "status", "deposed", "attributes"}]}]}``;
- ``terraform show -json``: ``{"format_version": "1.x", "values": {"root_module": {"resources":
  [...], "child_modules": [...]}}}``, each resource with its full ``address`` and ``values``.

Both become a :class:`TfState` of :class:`TfResource` (one per resource instance). Anything that
is not one of these documents, or a version smprov does not know, is a :class:`UsageError` naming
the problem (exit 2) before any AWS call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from provisioner.errors import UsageError

#: The one state format version Terraform has written since 0.12.
STATE_VERSION = 4
#: ``terraform show -json``'s format major version (1.x since Terraform 1.0).
SHOW_MAJOR = "1"


@dataclass(frozen=True)
class TfResource:
    """One instance of a resource (or data source) as the state records it."""

    module: str  # "" for the root module, else "module.vpc" or "module.a.module.b"
    mode: str  # "managed" or "data"
    type: str
    name: str
    index: int | str | None
    attributes: Mapping[str, Any]
    tainted: bool = False
    #: Set for an object a create_before_destroy replacement left behind.
    deposed: str | None = None

    @property
    def resource_address(self) -> str:
        """The address of the resource block (every instance): ``module.vpc.aws_subnet.public``."""
        prefix = "data." if self.mode == "data" else ""
        local = f"{prefix}{self.type}.{self.name}"
        return f"{self.module}.{local}" if self.module else local

    @property
    def address(self) -> str:
        """This instance's address, as ``terraform state list`` prints it."""
        return self.resource_address + index_suffix(self.index)

    @property
    def id(self) -> str:
        value = self.attributes.get("id")
        return value if isinstance(value, str) else ""

    def get(self, name: str, default: Any = None) -> Any:
        value = self.attributes.get(name)
        return default if value is None else value


def index_suffix(index: int | str | None) -> str:
    """``[0]`` for count, ``["s3"]`` for for_each, nothing for a single instance."""
    if index is None:
        return ""
    if isinstance(index, int):
        return f"[{index}]"
    return f"[{json.dumps(index)}]"


@dataclass(frozen=True)
class TfState:
    """The managed resources (and data sources) of one Terraform state."""

    #: What was read, for messages: a path, "s3://bucket/key" or "standard input".
    source: str
    #: "state file (format version 4)" or "terraform show -json (format 1.0)".
    form: str
    terraform_version: str
    resources: tuple[TfResource, ...] = ()
    data: tuple[TfResource, ...] = ()
    #: Where relative paths in the state (an uploaded file's ``source``) start: the Terraform
    #: directory, taken to be the one holding SOURCE (the working directory for S3 or stdin).
    base_dir: Path = field(default_factory=Path.cwd)
    #: The KMS key an S3 backend's object is encrypted with (SSE-KMS): reading it asks KMS to
    #: decrypt with the reader's permissions, so `smprov permissions` grants kms:Decrypt on it.
    kms_key: str | None = None


def parse_state(text: str | bytes, *, source: str, base_dir: Path | None = None) -> TfState:
    """A state file or ``terraform show -json`` output, told apart by their version fields."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"{source}: not a Terraform state (not UTF-8 text: bad byte at offset {exc.start})"
            ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source}: not a Terraform state (invalid JSON at line {exc.lineno}, "
            f"column {exc.colno}: {exc.msg})",
            hint=_WHAT_TO_GIVE,
        ) from None
    except RecursionError:
        raise UsageError(f"{source}: not a Terraform state (JSON nested too deeply)") from None
    base = base_dir if base_dir is not None else Path.cwd()
    if not isinstance(document, dict):
        raise UsageError(
            f"{source}: not a Terraform state (a JSON {_json_type(document)}, not an object)",
            hint=_WHAT_TO_GIVE,
        )
    if "planned_values" in document or "resource_changes" in document:
        raise UsageError(
            f"{source} is a Terraform plan, not a state",
            hint="give the state: `terraform show -json` without a plan file, or "
            "`terraform state pull`",
        )
    if "version" in document:
        return _parse_state_file(document, source, base)
    if "format_version" in document:
        return _parse_show_json(document, source, base)
    raise UsageError(
        f"{source}: not a Terraform state (no `version` or `format_version` field)",
        hint=_WHAT_TO_GIVE,
    )


_WHAT_TO_GIVE = (
    "give a state file (`terraform state pull > terraform.tfstate`), the output of "
    "`terraform show -json`, or the s3://bucket/key of the S3 backend's state"
)


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _parse_state_file(doc: Mapping[str, Any], source: str, base: Path) -> TfState:
    version = doc.get("version")
    if version != STATE_VERSION:
        raise UsageError(
            f"{source}: Terraform state format version {version!r} is not one smprov reads "
            f"(it reads version {STATE_VERSION}, written by Terraform 0.12 and later)",
            hint="run `terraform state pull` with a current Terraform and import its output",
        )
    raw_resources = doc.get("resources", [])
    if not isinstance(raw_resources, list):
        raise UsageError(f"{source}: `resources` is not a list: a damaged state file")
    found = (
        resource
        for position, raw in enumerate(raw_resources)
        for resource in _state_file_resource(raw, position, source)
    )
    return _tf_state(found, doc, source, f"state file (format version {STATE_VERSION})", base)


def _tf_state(
    found: Iterable[TfResource], doc: Mapping[str, Any], source: str, form: str, base: Path
) -> TfState:
    """The state ``doc`` read in ``form``: its managed resources apart from its data sources."""
    managed: list[TfResource] = []
    data: list[TfResource] = []
    for resource in found:
        (data if resource.mode == "data" else managed).append(resource)
    return TfState(
        source=source,
        form=form,
        terraform_version=str(doc.get("terraform_version") or "unknown"),
        resources=tuple(managed),
        data=tuple(data),
        base_dir=base,
    )


def _state_file_resource(raw: Any, position: int, source: str) -> Iterator[TfResource]:
    where = f"{source}: resources[{position}]"
    if not isinstance(raw, dict):
        raise UsageError(f"{where} is not an object: a damaged state file")
    for name in ("mode", "type", "name"):
        if not isinstance(raw.get(name), str):
            raise UsageError(f"{where} has no `{name}`: a damaged state file")
    module = raw.get("module") or ""
    if not isinstance(module, str):
        raise UsageError(f"{where}: `module` is not a string: a damaged state file")
    instances = raw.get("instances", [])
    if not isinstance(instances, list):
        raise UsageError(f"{where}: `instances` is not a list: a damaged state file")
    for instance in instances:
        if not isinstance(instance, dict):
            raise UsageError(f"{where}: an instance is not an object: a damaged state file")
        attributes = instance.get("attributes")
        if not isinstance(attributes, dict):
            raise UsageError(
                f"{where} ({raw['type']}.{raw['name']}) has no `attributes` "
                "(a state last written by Terraform 0.11?)",
                hint="run `terraform apply` once with a current Terraform, then import again",
            )
        index = instance.get("index_key")
        yield TfResource(
            module=module,
            mode=raw["mode"],
            type=raw["type"],
            name=raw["name"],
            index=index if isinstance(index, int | str) and not isinstance(index, bool) else None,
            attributes=attributes,
            tainted=instance.get("status") == "tainted",
            deposed=instance.get("deposed") or None,
        )


def _parse_show_json(doc: Mapping[str, Any], source: str, base: Path) -> TfState:
    version = doc.get("format_version")
    if not isinstance(version, str) or version.split(".", 1)[0] != SHOW_MAJOR:
        raise UsageError(
            f"{source}: `terraform show -json` format version {version!r} is not one smprov "
            f"reads (it reads {SHOW_MAJOR}.x, written by Terraform 1.0 and later)",
            hint="give the state file instead (`terraform state pull`)",
        )
    values = doc.get("values") or {}
    root = values.get("root_module") or {} if isinstance(values, dict) else {}
    form = f"terraform show -json (format {version})"
    return _tf_state(_show_module(root, "", source), doc, source, form, base)


def _show_module(module: Any, path: str, source: str) -> Iterator[TfResource]:
    if not isinstance(module, dict):
        raise UsageError(f"{source}: module {path or 'root'} is not an object: damaged output")
    for raw in module.get("resources") or []:
        if not isinstance(raw, dict) or not all(
            isinstance(raw.get(n), str) for n in ("mode", "type", "name")
        ):
            raise UsageError(f"{source}: a resource of {path or 'the root module'} is damaged")
        values = raw.get("values")
        if not isinstance(values, dict):
            raise UsageError(f"{source}: {raw.get('address', raw['name'])} has no `values`")
        index = raw.get("index")
        yield TfResource(
            module=path,
            mode=raw["mode"],
            type=raw["type"],
            name=raw["name"],
            index=index if isinstance(index, int | str) and not isinstance(index, bool) else None,
            attributes=values,
            tainted=bool(raw.get("tainted")),
            deposed=raw.get("deposed_key") or None,
        )
    for child in module.get("child_modules") or []:
        address = child.get("address") if isinstance(child, dict) else None
        if not isinstance(address, str) or not address.startswith("module."):
            raise UsageError(f"{source}: a child module of {path or 'the root'} has no address")
        yield from _show_module(child, address, source)


def read_source(source: str, *, cwd: Path, s3_client: Any | None = None) -> TfState:
    """SOURCE as the user gave it: ``-`` (standard input), ``s3://bucket/key`` (read with the
    stack's S3 client: ``s3_client`` is called only then), or a file path."""
    if source.startswith("s3://"):
        bucket, _, key = source.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise UsageError(f"{source!r}: give the S3 backend's state as s3://bucket/key")
        if s3_client is None:
            raise UsageError(f"{source}: no S3 client to read it with")
        body, kms_key = _get_object(s3_client, bucket, key, source)
        state = parse_state(body, source=source, base_dir=cwd)
        return replace(state, kms_key=kms_key)
    if source == "-":
        import sys

        return parse_state(sys.stdin.buffer.read(), source="standard input", base_dir=cwd)
    path = Path(source).expanduser()
    path = path if path.is_absolute() else cwd / path
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file", hint=_WHAT_TO_GIVE) from None  # as typed
    except IsADirectoryError:
        raise UsageError(
            f"{path} is a directory, not a Terraform state",
            hint=f"give the state file, e.g. {Path(source) / 'terraform.tfstate'}",
        ) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return parse_state(text, source=str(path), base_dir=path.parent)


def _get_object(s3: Any, bucket: str, key: str, source: str) -> tuple[bytes, str | None]:
    """The object's body, and the KMS key it is encrypted with (None: not SSE-KMS)."""
    from provisioner.aws.errors import has_code, to_aws_error

    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
        return bytes(answer["Body"].read()), answer.get("SSEKMSKeyId")
    except Exception as exc:
        if has_code(exc, "NoSuchKey", "404"):
            raise UsageError(
                f"{source}: no such object (no Terraform state there)",
                hint="the S3 backend keeps a workspace's state under env:/<workspace>/<key>",
            ) from None
        if has_code(exc, "NoSuchBucket"):
            raise UsageError(f"{source}: the bucket {bucket} does not exist") from None
        raise to_aws_error(exc, f"reading the Terraform state {source}") from exc
