"""The ``smprov.toml`` that reproduces the Terraform inputs, or what an existing one changes.

Every setting is read from what the state records, never assumed: the subnet CIDRs as they are
(the seed's /24s, not smprov's computed layout), one NAT gateway or one per zone, the roles'
names (AWS cannot rename a role, and other systems may refer to it), the bucket, its folders and
versioning, the flow log's retention and interval, the interface endpoints, and the tags common
to the stack. What smprov deliberately does differently (all public access blocked, its own
policies) is not written: the plan after the import shows each of those by name.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import keys
from provisioner.blueprint.flow_logs import role_name_of
from provisioner.blueprint.sagemaker_role import role_name
from provisioner.config import LOG_RETENTION_DAYS, StackConfig
from provisioner.migrate.mapping import TIERS, StackMap

#: Tags smprov sets itself or AWS reserves: never the user's.
_RESERVED = re.compile(r"^(Name$|aws:|smprov:)")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Derived:
    """The settings, in the order they are written, and what the reader should know."""

    values: dict[str, Any]
    #: Comments written above a setting (by key).
    notes: dict[str, str]


def derive(stack_map: StackMap, config_dir: Path) -> Derived:
    """The Terraform inputs, as smprov settings (TOML values)."""
    values: dict[str, Any] = {}
    notes: dict[str, str] = {}
    vpc = stack_map.vpc
    values["environment"] = stack_map.environment
    values["region"] = stack_map.region
    values["vpc_cidr"] = vpc.get("cidr_block")
    values["availability_zones"] = list(stack_map.zones)
    for tier in TIERS:
        cidrs = [
            stack_map.adopted[keys.subnet(tier, zone)].resource.get("cidr_block")
            for zone in stack_map.zones
            if keys.subnet(tier, zone) in stack_map.adopted
        ]
        if cidrs:
            values[f"{tier}_subnets"] = cidrs
    nats = [k for k in stack_map.adopted if k in {keys.nat_gateway(z) for z in stack_map.zones}]
    values["vpc_redundancy"] = len(nats) > 1
    values["map_public_ip_on_launch"] = any(
        stack_map.adopted[keys.subnet("public", zone)].resource.get("map_public_ip_on_launch")
        for zone in stack_map.zones
    )
    group = stack_map.resource(keys.FLOW_LOG_GROUP)
    if group is not None:
        days = group.get("retention_in_days", 0)
        if days in LOG_RETENTION_DAYS:
            values["flow_log_retention_days"] = days
        else:
            notes["flow_log_retention_days"] = (
                f"Terraform kept flow logs {'forever' if not days else f'{days} days'}; smprov "
                "needs one of CloudWatch's retention periods: the default applies (see the plan)"
            )
    flow_log = stack_map.resource(keys.FLOW_LOG)
    if flow_log is not None:
        values["flow_log_max_aggregation_interval"] = flow_log.get("max_aggregation_interval", 600)
    role = stack_map.resource(keys.FLOW_LOG_ROLE)
    if role is not None:
        values["flow_log_role_name"] = role.id
        notes["flow_log_role_name"] = "the module's role: AWS cannot rename a role"
    values["interface_endpoints"] = [
        key.removeprefix(keys.ENDPOINT_PREFIX)
        for key in stack_map.adopted
        if key.startswith(keys.ENDPOINT_PREFIX) and key != keys.vpc_endpoint("s3")
    ]
    _storage(stack_map, config_dir, values, notes)
    values["tags"] = common_tags(stack_map)
    return Derived(values, notes)


def _storage(
    stack_map: StackMap, config_dir: Path, values: dict[str, Any], notes: dict[str, str]
) -> None:
    bucket = stack_map.resource(keys.BUCKET)
    if bucket is not None:
        values["bucket_name"] = bucket.id
        sse = stack_map.parts(keys.BUCKET, "aws_s3_bucket_server_side_encryption_configuration")
        for rule in sse[0].get("rule", []) if sse else []:
            for default in rule.get("apply_server_side_encryption_by_default") or []:
                if default.get("sse_algorithm") == "aws:kms" and default.get("kms_master_key_id"):
                    values["kms_key_id"] = default["kms_master_key_id"]
        versioning = stack_map.parts(keys.BUCKET, "aws_s3_bucket_versioning")
        status = (
            (versioning[0].get("versioning_configuration") or [{}])[0].get("status")
            if versioning
            else None
        )
        values["bucket_versioning"] = status == "Enabled"
        if status != "Enabled":
            notes["bucket_versioning"] = (
                "as in Terraform (once enabled, S3 versioning can only be suspended)"
            )
    folders = [
        a.resource.get("key")
        for k, a in stack_map.adopted.items()
        if k.startswith(keys.FOLDER_PREFIX)
    ]
    if folders:
        values["folders"] = folders
    if stack_map.csv_source is not None:
        values["csv_source"] = _relative(stack_map.csv_source, config_dir)
    else:
        values["upload_csv"] = False
        notes["upload_csv"] = "; ".join(k.note for k in stack_map.kept) or (
            "Terraform uploaded no CSV"
        )
    role = stack_map.resource(keys.SAGEMAKER_ROLE)
    if role is not None:
        values["sagemaker_role_name"] = role.id
        notes["sagemaker_role_name"] = "Terraform's role: AWS cannot rename a role"
        values["managed_policy_arns"] = sorted(
            str(p.get("policy_arn"))
            for p in stack_map.parts(keys.SAGEMAKER_ROLE, "aws_iam_role_policy_attachment")
        )


def common_tags(stack_map: StackMap) -> dict[str, str]:
    """The tags every taggable resource of the stack carries (the module's ``tags`` input),
    without Name and reserved keys."""
    sets = [
        dict(a.resource.get("tags"))
        for a in stack_map.adopted.values()
        if isinstance(a.resource.get("tags"), Mapping)
    ]
    if not sets:
        return {}
    common = {k: v for k, v in sets[0].items() if not _RESERVED.match(k)}
    for tags in sets[1:]:
        common = {k: v for k, v in common.items() if tags.get(k) == v}
    return dict(sorted(common.items()))


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive (Windows)
        return str(path)


def render(derived: Derived, *, source: str) -> str:
    """The settings as a TOML document (tables last, as TOML requires)."""
    lines = [
        "# Written by `smprov import --from-terraform`: the inputs of the Terraform stack smprov",
        f"# adopted, as {source} records them. `smprov plan` names what smprov does differently.",
        "",
    ]
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in derived.values.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
            continue
        if key in derived.notes:
            lines += textwrap.wrap(
                derived.notes[key], 98, initial_indent="# ", subsequent_indent="# "
            )
        lines.append(f"{key} = {_value(value)}")
    for key, table in tables:
        lines += ["", f"[{_key(key)}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


#: What an existing smprov.toml must agree on with the state, read from resolved configs.
_COMPARED = (
    "environment",
    "region",
    "vpc_cidr",
    "zones",
    "vpc_redundancy",
    "map_public_ip_on_launch",
    "flow_log_retention_days",
    "flow_log_max_aggregation_interval",
    "flow_log_role_name",
    "interface_endpoints",
    "bucket_name",
    "kms_key_id",
    "bucket_versioning",
    "folders",
    "upload_csv",
    "csv_source",
    "sagemaker_role_name",
    "managed_policy_arns",
    "tags",
)


def differences(existing: StackConfig, wanted: StackConfig, derived: Derived) -> list[str]:
    """Each setting of ``existing`` (an smprov.toml, resolved to zones) that does not reproduce
    the Terraform stack ``wanted`` (from :func:`derive`, resolved the same way)."""
    out: list[str] = []
    for name in _COMPARED:
        if name not in derived.values and name not in ("zones",):
            continue
        have, want = _comparable(existing, name), _comparable(wanted, name)
        if have != want:
            out.append(f"{name}: smprov.toml gives {_shown(have)}, Terraform has {_shown(want)}")
    for tier in TIERS:
        have_layout = existing.subnets.tier(tier) if existing.subnets else ()
        want_layout = wanted.subnets.tier(tier) if wanted.subnets else ()
        if list(have_layout) != list(want_layout) and f"{tier}_subnets" in derived.values:
            out.append(
                f"{tier}_subnets: smprov.toml gives {_shown([c for _z, c in have_layout])}, "
                f"Terraform has {_shown([c for _z, c in want_layout])}"
            )
    return out


def _comparable(config: StackConfig, name: str) -> Any:
    if name == "sagemaker_role_name":
        return role_name(config)
    if name == "flow_log_role_name":
        return role_name_of(config)
    value = getattr(config, name)
    if name in ("interface_endpoints", "managed_policy_arns"):
        return sorted(value)
    if name == "tags":
        return dict(value)
    if name == "folders":  # the first holds the CSV; the others' order means nothing
        return [value[0], *sorted(value[1:])]
    if name == "csv_source":
        return str(value) if config.upload_csv else None
    return value


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {v}" for k, v in value.items()) + "}"
    return "(not set)" if value is None else str(value)
