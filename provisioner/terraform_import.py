"""The operation behind ``smprov import --from-terraform SOURCE``: adopt, in place, the stack the
Terraform setup made, so that smprov manages it from now on.

In order, and nothing changes in AWS before the last checks pass:

1. read SOURCE (state file, ``terraform show -json`` or the S3 backend's object) and map it
   (``migrate.mapping``): a half-finished apply or a shape smprov cannot express stops here;
2. derive the configuration (``migrate.settings``); an existing ``smprov.toml`` must reproduce
   it, else every difference is listed and nothing happens;
3. open the stack with that configuration, under the state lock: the credentials must be of the
   state's account, and no smprov stack of that environment may exist yet (an interrupted
   import of the same Terraform stack may be run again);
4. read every adopted resource through its kind, by the id Terraform recorded: each must still
   exist and carry no other owner's smprov tags;
5. write ``smprov.toml`` (when there was none), add the ownership tags (the only writes to AWS:
   one tagging call per taggable resource), record the state, write the hand-off.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from provisioner import operations
from provisioner.aws.errors import to_aws_error
from provisioner.blueprint import Blueprint
from provisioner.config import (
    CONFIG_FILE,
    StackConfig,
    configured_region,
    load_config,
    parse_config,
)
from provisioner.engine.contract import KEY_TAG, STACK_TAG
from provisioner.engine.model import Live, Recorded, Refreshed
from provisioner.engine.ownership import foreign
from provisioner.engine.refresh import refresh
from provisioner.errors import SmprovError, UsageError
from provisioner.migrate import differences, settings
from provisioner.migrate.handoff import HANDOFF_FILE, HandOff, build_handoff
from provisioner.migrate.mapping import StackMap, map_state
from provisioner.migrate.tfstate import read_source
from provisioner.store.document import StateDocument
from provisioner.store.recorder import Recorder

#: Kinds found only through their route table's tags: checked by id before tagging, read after.
_THROUGH_TABLES = frozenset({"route", "route_table_association"})


@dataclass
class ImportResult:
    stack_map: StackMap
    config_path: Path
    #: True when this import wrote ``config_path`` (it did not exist).
    config_written: bool
    state: str
    handoff: HandOff
    handoff_path: Path
    #: Resources whose ownership tags were added now (the rest had them: an import run again).
    tagged: list[str] = field(default_factory=list)


def import_from_terraform(
    options: operations.Options, source: str, *, handoff_path: Path | None = None
) -> ImportResult:
    """Adopt the stack ``source`` records (see the module docstring for the order of things).
    Every refusal is a SmprovError raised before the first write: exit 2 for what the input
    says (format, a half-finished apply, region, an smprov.toml that differs), 1 for what AWS
    says (another account, resources gone, a stack smprov already manages)."""
    cwd = options.cwd or Path.cwd()
    read = _read(options, source, cwd)
    config_path, existing, stack_map = read.config_path, read.existing, read.stack_map
    derived, wanted = read.derived, read.wanted
    _check_region(stack_map, existing)
    options = dataclasses.replace(options, clients=read.clients)
    with operations.session(options, "import", config=existing or wanted) as (stack, doc):
        _check_account(stack_map, stack.account)
        if existing is not None:
            found = settings.differences(stack.config, wanted.with_zones(stack_map.zones), derived)
            if found:
                raise UsageError(
                    f"{config_path} does not reproduce the Terraform stack; nothing was "
                    "changed:\n" + "\n".join(f"  - {line}" for line in found),
                    hint="make smprov.toml say what Terraform has (or move it away: the import "
                    "then writes one), and run the import again",
                )
        _check_not_managed(stack, doc, stack_map)
        # This state's lineage (a new one without a state) goes on every tag.
        bp = operations.build_blueprint(stack, doc)
        snap = _read_adopted(stack, bp, stack_map)
        _check_alive_and_unowned(stack, doc, stack_map, snap)
        if existing is None:
            config_path.parent.mkdir(parents=True, exist_ok=True)
            config_path.write_text(settings.render(derived, source=source))
        tagged = _take_over(stack, doc, bp, stack_map, snap)
    handoff = build_handoff(stack_map)
    target = handoff_path or config_path.parent / HANDOFF_FILE
    target = target if target.is_absolute() else cwd / target
    target.write_text(handoff.text())
    return ImportResult(
        stack_map=stack_map,
        config_path=config_path,
        config_written=existing is None,
        state=stack.backend.describe(),
        handoff=handoff,
        handoff_path=target,
        tagged=tagged,
    )


def terraform_permissions(
    options: operations.Options, source: str, account: str | None = None
) -> dict[str, Any]:
    """`smprov permissions --from-terraform SOURCE`: the policy for importing SOURCE and for
    running the stack it becomes, with the configuration the import would use (smprov.toml,
    else the one derived from the Terraform inputs). Reads SOURCE (from S3 for ``s3://``)."""
    from provisioner.permissions import TerraformSource

    read = _read(options, source, options.cwd or Path.cwd())
    s3_object = source.removeprefix("s3://") if source.startswith("s3://") else None
    return operations.deployer_permissions(
        dataclasses.replace(options, clients=read.clients),
        account,
        config=read.existing or read.wanted,
        terraform=TerraformSource(s3_object, read.stack_map.state.kms_key),
    )


@dataclass(frozen=True)
class _Read:
    """SOURCE read and mapped, with the configuration it gives and the one already there."""

    config_path: Path
    existing: StackConfig | None
    clients: Any
    stack_map: StackMap
    derived: settings.Derived
    wanted: StackConfig


def _read(options: operations.Options, source: str, cwd: Path) -> _Read:
    """Read SOURCE (``s3://`` with the stack's clients), map it and derive the configuration:
    every refusal of the input happens here, before any other AWS call."""
    config_path = _config_path(options, cwd)
    existing = load_config(options.config_path, cwd=cwd) if config_path.exists() else None
    clients = options.clients
    if source.startswith("s3://") and clients is None:
        clients = operations.make_clients(options, existing or load_config(None, cwd=cwd))
    s3 = clients("s3") if clients is not None and source.startswith("s3://") else None
    tfstate = read_source(source, cwd=cwd, s3_client=s3)
    stack_map = map_state(tfstate)
    derived = settings.derive(stack_map, config_path.parent)
    wanted = parse_config(
        derived.values, base_dir=config_path.parent, source=f"the Terraform state {tfstate.source}"
    )
    return _Read(config_path, existing, clients, stack_map, derived, wanted)


def _config_path(options: operations.Options, cwd: Path) -> Path:
    path = options.config_path or Path(CONFIG_FILE)
    return path if path.is_absolute() else cwd / path


def _check_region(stack_map: StackMap, existing: StackConfig | None) -> None:
    """The state's region must be the one smprov is set to use, when anything sets one."""
    region = existing.region if existing is not None else configured_region()
    if region is not None and region != stack_map.region:
        where = existing.source if existing is not None else "AWS_REGION / the AWS profile"
        raise UsageError(
            f"the Terraform state is for region {stack_map.region}, but smprov is set to use "
            f"{region} ({where})",
            hint=f"run the import with AWS_REGION={stack_map.region}",
        )


def _check_account(stack_map: StackMap, account: str) -> None:
    if stack_map.account and stack_map.account != account:
        raise SmprovError(
            f"the Terraform state belongs to AWS account {stack_map.account}, but the "
            f"credentials in use are for account {account}",
            hint="use the profile of the state's account (AWS_PROFILE)",
        )


def _check_not_managed(
    stack: operations.Stack, doc: StateDocument | None, stack_map: StackMap
) -> None:
    """No smprov stack of this environment yet: neither a state with resources (other than an
    interrupted import of this same Terraform stack) nor a VPC tagged as the stack's."""
    env = stack.config.environment
    if doc is not None and doc.resources:
        ids = {a.id for a in stack_map.adopted.values()}
        again = doc.data.get(differences.IMPORT_MARK) and all(
            r.id in ids for r in doc.resources.values()
        )
        if not again:
            raise SmprovError(
                f"stack {env} is already managed by smprov: {stack.backend.describe()} records "
                f"{len(doc.resources)} resources",
                hint="choose another environment for the import, or `smprov down` that stack "
                "first; nothing was changed",
            )
    try:
        vpcs = stack.clients("ec2").describe_vpcs(
            Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [env]}]
        )["Vpcs"]
    except Exception as exc:
        raise to_aws_error(exc, "looking for a smprov stack of the same name") from exc
    others = sorted(v["VpcId"] for v in vpcs if v["VpcId"] != stack_map.vpc.id)
    if others:
        raise SmprovError(
            f"stack {env} already exists in account {stack.account}, {stack.config.region}: "
            f"{', '.join(others)} is tagged {STACK_TAG}={env}",
            hint="import under another environment (smprov.toml), or `smprov down` that "
            "stack first; nothing was changed",
        )


def _read_adopted(stack: operations.Stack, bp: Blueprint, stack_map: StackMap) -> Refreshed:
    """Every resource of the blueprint, through its kind; the adopted ones by Terraform's ids."""
    recorded = {key: Recorded(a.kind, a.id) for key, a in stack_map.adopted.items()}
    return refresh(stack.ctx(), stack.kinds, bp.desired, recorded)


def _check_alive_and_unowned(
    stack: operations.Stack, doc: StateDocument | None, stack_map: StackMap, snap: Refreshed
) -> None:
    env = stack.config.environment
    gone = [
        a
        for key, a in stack_map.adopted.items()
        if a.kind not in _THROUGH_TABLES and key not in snap.live
    ]
    gone += _missing_from_tables(stack, stack_map)
    if gone:
        raise SmprovError(
            "resources in the Terraform state no longer exist in AWS:\n"
            + "\n".join(f"  - {a.resource.address} ({a.id})" for a in gone),
            hint="run `terraform apply -refresh-only` (or `terraform plan`) so the state matches "
            "AWS, then import again; nothing was changed",
        )
    problems: list[str] = []
    for key, live in snap.live.items():
        tags = live.get("tags") or {}
        owner, owned_key = tags.get(STACK_TAG), tags.get(KEY_TAG)
        adopted = stack_map.adopted.get(key)
        if adopted is None:
            problems.append(f"{key} ({live.id}) already exists as a resource of smprov stack {env}")
        elif (owner not in (None, env)) or (owned_key not in (None, key)):
            problems.append(
                f"{adopted.resource.address} ({live.id}) is already tagged as smprov stack "
                f"{owner}'s {owned_key}"
            )
    # Tagged by this import before (its state holds the lineage) is ours; any other lineage is
    # another state's, and so is any smprov resource when there is no state yet.
    recorded = {k: Recorded(a.kind, a.id) for k, a in stack_map.adopted.items()}
    theirs = [f for f in foreign(snap, recorded, (), doc.lineage if doc else None) if f.lineage]
    problems += [
        f"{stack_map.adopted[f.key].resource.address} ({f.id}) carries smprov:lineage "
        f"{f.lineage}, another smprov state's"
        for f in theirs
        if f.key in stack_map.adopted
    ]
    if problems:
        raise SmprovError(
            "the Terraform stack is already (partly) managed by smprov:\n"
            + "\n".join(f"  - {p}" for p in problems),
            hint="nothing was changed",
        )


def _missing_from_tables(stack: operations.Stack, stack_map: StackMap) -> list[Any]:
    """Routes and associations, by the route tables' ids (they carry no tags of their own)."""
    wanted = [a for a in stack_map.adopted.values() if a.kind in _THROUGH_TABLES]
    tables = sorted({str(a.resource.get("route_table_id")) for a in wanted})
    if not tables:
        return []
    try:  # a filter, not RouteTableIds: one table gone must not hide the others
        found = stack.clients("ec2").describe_route_tables(
            Filters=[{"Name": "route-table-id", "Values": tables}]
        )["RouteTables"]
    except Exception as exc:
        raise to_aws_error(exc, "reading the route tables") from exc
    present = {
        f"{t['RouteTableId']}_{r.get('DestinationCidrBlock')}" for t in found for r in t["Routes"]
    } | {a["RouteTableAssociationId"] for t in found for a in t.get("Associations", [])}
    return [a for a in wanted if a.id not in present]


def _take_over(
    stack: operations.Stack,
    doc: StateDocument | None,
    bp: Blueprint,
    stack_map: StackMap,
    snap: Refreshed,
) -> list[str]:
    """The state first (empty but for the import's mark and lineage: an interrupted import is
    then this state's to finish), then the ownership tags and the records (``take_over``,
    through each kind's update: the only change in AWS), then the routes and associations,
    which their tables' new tags make readable. Returns the keys tagged now."""
    recorder = Recorder(stack.backend, doc or stack.new_state())
    recorder.set_data(differences.IMPORT_MARK, "terraform")
    bp = dataclasses.replace(
        bp, data=MappingProxyType({**bp.data, differences.IMPORT_MARK: "terraform"})
    )
    adopted = Refreshed(
        {k: v for k, v in snap.live.items() if k in stack_map.adopted},
        {k: v for k, v in snap.kind_of.items() if k in stack_map.adopted},
    )
    done = operations.take_over(stack, recorder.doc, bp, adopted)
    tables = _read_through_tables(stack, bp, stack_map)
    recorder = Recorder(stack.backend, stack.backend.read() or recorder.doc)
    deps = {d.key: sorted(d.depends_on) for d in bp.desired}
    for key, live in tables.items():
        recorder.record(key, stack_map.adopted[key].kind, live.id, dict(live.attrs), deps[key])
    return sorted(k for keys in done.restamped.values() for k in keys)


def _read_through_tables(
    stack: operations.Stack, bp: Blueprint, stack_map: StackMap
) -> dict[str, Live]:
    """Routes and associations, read by their kinds now that their tables carry the stack's
    tags (AWS shows new tags within seconds: waited for, within the consistency bound)."""
    keys = {k for k, a in stack_map.adopted.items() if a.kind in _THROUGH_TABLES}
    if not keys:
        return {}
    desired = [d for d in bp.desired if d.key in keys]
    recorded = {k: Recorded(stack_map.adopted[k].kind, stack_map.adopted[k].id) for k in keys}
    ctx = stack.ctx()

    def complete() -> dict[str, Live] | None:
        snap = refresh(ctx, stack.kinds, desired, recorded)
        found = {k: v for k, v in snap.live.items() if k in keys}
        return found if set(found) == keys else None

    return ctx.wait(
        complete, what="the adopted route tables' tags", timeout=ctx.timing.consistency_timeout
    )
