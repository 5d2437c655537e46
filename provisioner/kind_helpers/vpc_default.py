"""What the kinds for a VPC's default objects share (default security group, default network
ACL, main route table).

AWS makes these with every VPC and deletes them with it; smprov never creates or deletes one.
"Create" adopts the VPC's object (found by vpc-id, as Terraform's aws_default_* resources do),
tags it and strips it to the spec; "delete" only forgets it. They are found by vpc-id, not by
tag: the blueprint leaves the ``smprov:stack`` tag off them, because the route-table and
security-group kinds read every object carrying it and would take the defaults for their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from provisioner.engine.contract import Ctx, Grant, Kind, ReadItem, Resolver
from provisioner.engine.model import FieldChange, Live
from provisioner.errors import AwsError
from provisioner.kind_helpers.ec2 import describe_all, sync_ec2_tags


def default_grants(*, reads: Sequence[str], changes: Sequence[str]) -> tuple[Grant, ...]:
    """A VPC default's IAM actions (names without ``ec2:``): its describes, and its changes with
    the tagging that adopts it, allowed on the VPC's defaults once tagged with their key
    (they never carry the stack's tag)."""
    return (
        Grant("Ec2Read", tuple(f"ec2:{a}" for a in reads)),
        Grant("Ec2VpcDefaults", tuple(f"ec2:{a}" for a in (*changes, "CreateTags", "DeleteTags"))),
    )


class VpcDefault(Kind):
    describe: ClassVar[str]
    result_key: ClassVar[str]
    id_field: ClassVar[str]
    id_filter: ClassVar[str]
    #: The filter that picks the VPC's default object among its others.
    default_filter: ClassVar[dict[str, Any]]
    replace_on = frozenset({"vpc_id"})

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        raise NotImplementedError

    def reconcile(self, ctx: Ctx, live: Live, spec: Mapping[str, Any], fields: set[str]) -> Live:
        """Bring the object's contents (rules, entries, routes) to the spec."""
        raise NotImplementedError

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        by_vpc: dict[str, str] = {}
        by_id: dict[str, str] = {}
        for item in items:
            vpc_id = resolve(item.spec.get("vpc_id")) if item.spec is not None else None
            if isinstance(vpc_id, str):
                by_vpc[vpc_id] = item.key
            elif item.id:
                by_id[item.id] = item.key
        out: dict[str, Live] = {}
        if by_vpc:
            for raw in self._describe(ctx, "vpc-id", sorted(by_vpc)):
                out[by_vpc[raw["VpcId"]]] = self.to_live(raw)
        if by_id:  # `down`, or the VPC is gone: look up what the state recorded
            for raw in self._describe(ctx, self.id_filter, sorted(by_id)):
                out.setdefault(by_id[raw[self.id_field]], self.to_live(raw))
        return out

    def _describe(self, ctx: Ctx, name: str, values: list[str]) -> list[dict[str, Any]]:
        filters = [{"Name": name, "Values": values}, self.default_filter]
        return describe_all(ctx, self.describe, self.result_key, Filters=filters)

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        vpc_id = spec["vpc_id"]

        def find() -> dict[str, Any] | None:
            found = self._describe(ctx, "vpc-id", [vpc_id])
            return found[0] if found else None

        try:
            raw = ctx.wait(
                find,
                what=f"the {self.label} of {vpc_id}",
                timeout=ctx.timing.consistency_timeout,
            )
        except AwsError as exc:
            raise AwsError(f"{vpc_id} has no {self.label}: {exc.message}", code=exc.code) from exc
        live = self.to_live(raw)
        changes = self.diff(live, spec)
        return self.update(ctx, live, spec, changes) if changes else live

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        fields = {c.path for c in changes}
        # Tags first: the deployer's policy (`smprov permissions`) allows changing the VPC's
        # defaults only once they carry their smprov:key tag.
        if "tags" in fields:
            sync_ec2_tags(ctx, live.id, live.get("tags") or {}, spec["tags"])
            live = Live(live.id, {**live.attrs, "tags": dict(spec["tags"])})
        return self.reconcile(ctx, live, spec, fields)

    def delete(self, ctx: Ctx, live: Live) -> None:
        # Nothing to do in AWS: the object goes with its VPC (AWS refuses to delete it alone).
        return None
