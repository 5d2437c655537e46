"""What every EC2 kind shares: tag-scoped batched describes, tag sync, forgiving deletes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from provisioner.aws.errors import has_code, was_retried
from provisioner.aws.tags import compare_tags, tag_dict
from provisioner.aws.waiters import Describe
from provisioner.engine.contract import (
    KEY_TAG,
    LINEAGE_TAG,
    STACK_TAG,
    Ctx,
    Grant,
    Kind,
    ReadItem,
    Resolver,
)
from provisioner.engine.model import FieldChange, Live
from provisioner.errors import AwsError

#: States in which a resource is as good as gone (it will never come back).
TERMINAL_STATES = frozenset({"deleted", "deleting", "failed", "rejected", "expired"})


def ec2_grants(
    *,
    reads: Sequence[str],
    creates: Mapping[str, str] | None = None,
    changes: Sequence[str] = (),
) -> tuple[Grant, ...]:
    """An EC2 kind's IAM actions (names without ``ec2:``): its describes, allowed in the region
    (describes take no resource scope); its create (the call -> the resource type it makes),
    allowed only when it tags the new resource as the stack's; its changes, allowed on
    resources tagged as the stack's. A kind that creates a tagged resource also keeps its tags
    (CreateTags, DeleteTags: ``sync_ec2_tags``)."""
    grants = [Grant("Ec2Read", tuple(f"ec2:{a}" for a in reads))]
    grants += [
        Grant("Ec2CreateTagged", (f"ec2:{call}",), creates=made)
        for call, made in (creates or {}).items()
    ]
    kept = ("CreateTags", "DeleteTags") if creates else ()
    grants.append(Grant("Ec2StackResources", tuple(f"ec2:{a}" for a in (*changes, *kept))))
    return tuple(grants)


def describe_all(ctx: Ctx, method: str, result_key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a describe call, following NextToken (AWS pages its answers)."""
    client = ctx.client("ec2")

    def call() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if client.can_paginate(method):
            for page in client.get_paginator(method).paginate(**params):
                items.extend(page.get(result_key, []))
        else:
            items.extend(getattr(client, method)(**params).get(result_key, []))
        return items

    if ctx.read_cache is None:
        return call()
    return ctx.read_cache.get_or_call(
        (method, result_key, json.dumps(params, sort_keys=True)), call
    )


def stack_filter(ctx: Ctx) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{STACK_TAG}", "Values": [ctx.stack]}]


def sync_ec2_tags(
    ctx: Ctx, resource_id: str, have: Mapping[str, str], want: Mapping[str, str]
) -> None:
    """Bring one resource's tags to ``want`` with at most one create and one delete call."""
    to_set, to_unset = compare_tags(have, want)
    ec2 = ctx.client("ec2")
    if to_set:
        ec2.create_tags(
            Resources=[resource_id],
            Tags=[{"Key": k, "Value": v} for k, v in sorted(to_set.items())],
        )
    if to_unset:
        ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": k} for k in to_unset])


def ignore_missing(fn: Any, *codes: str) -> bool:
    """Run a delete; True if it ran, False if AWS says the thing is already gone."""
    try:
        fn()
    except Exception as exc:
        if has_code(exc, *codes):
            return False
        raise
    return True


def blocking_interfaces(ctx: Ctx, *, name: str, value: str) -> str:
    """Describe the network interfaces that keep a subnet/VPC/SG from being deleted."""
    try:
        enis = describe_all(
            ctx,
            "describe_network_interfaces",
            "NetworkInterfaces",
            Filters=[{"Name": name, "Values": [value]}],
        )
    except Exception:  # naming the blocker is best effort; the original error still stands
        return ""
    if not enis:
        return ""
    parts = []
    for eni in enis[:5]:
        desc = eni.get("Description") or eni.get("InterfaceType") or "no description"
        parts.append(f"{eni['NetworkInterfaceId']} ({desc})")
    more = f" and {len(enis) - 5} more" if len(enis) > 5 else ""
    return "; still in use by network interfaces smprov did not create: " + ", ".join(parts) + more


def delete_with_dependency_retry(
    ctx: Ctx, fn: Any, *, what: str, not_found: Sequence[str], eni_filter: tuple[str, str] | None
) -> None:
    """Delete, retrying ``DependencyViolation`` while AWS detaches things, then name the blocker."""
    try:
        ctx.retry(
            lambda: ignore_missing(fn, *not_found),
            codes=("DependencyViolation", "InvalidIPAddress.InUse"),
            what=f"deleting {what}",
            timeout=ctx.timing.dependency_timeout,
        )
    except AwsError as exc:
        if exc.code == "DependencyViolation" and eni_filter is not None:
            blocker = blocking_interfaces(ctx, name=eni_filter[0], value=eni_filter[1])
            raise AwsError(
                exc.message + blocker,
                code=exc.code,
                hint=(
                    "remove what still uses it (for example a SageMaker job's network interface), "
                    "then run smprov down again"
                )
                if blocker
                else exc.hint,
            ) from exc
        raise


class Ec2Kind(Kind):
    """An EC2 resource read with one tag-filtered describe per refresh."""

    reads_independently = True

    describe: ClassVar[str]
    result_key: ClassVar[str]
    id_field: ClassVar[str]
    id_filter: ClassVar[str]
    #: DescribeNatGateways alone calls its filter parameter "Filter".
    filter_param: ClassVar[str] = "Filters"
    #: A resource found still ``pending`` (a crash during the wait for it) plans as an update
    #: whose ``update`` waits until it is available.
    waits_while_pending: ClassVar[bool] = False

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        raise NotImplementedError

    def failure(self, raw: Mapping[str, Any]) -> tuple[str | None, str]:
        """AWS's reason for a resource that ended badly while waited for: (code, message)."""
        return None, ""

    @property
    def polled(self) -> Describe:
        """How the shared poller (aws/waiters.py) reads this kind: its own describe, by its id
        filter, with its failure reason."""
        return Describe(
            label=self.label or self.name,
            method=self.describe,
            result_key=self.result_key,
            id_field=self.id_field,
            id_filter=self.id_filter,
            filter_param=self.filter_param,
            failure=self.failure,
        )

    def is_gone(self, raw: Mapping[str, Any]) -> bool:
        state = raw.get("State")
        return isinstance(state, str) and state.lower() in TERMINAL_STATES

    def raw_by_key(self, ctx: Ctx, items: Sequence[ReadItem]) -> dict[str, dict[str, Any]]:
        """The stack's resources of this kind by ``smprov:key``; recorded ids whose tags were
        removed out of band are looked up by id (a second call only in that drift case)."""
        found: dict[str, dict[str, Any]] = {}
        raws = describe_all(
            ctx, self.describe, self.result_key, **{self.filter_param: stack_filter(ctx)}
        )
        recorded = {item.id: item.key for item in items if item.id}
        for raw in raws:
            tags = tag_dict(raw.get("Tags"))
            if self.is_gone(raw):
                continue
            rid = raw[self.id_field]
            key = recorded.get(rid) or tags.get(KEY_TAG)
            if not key:
                continue
            if key in found:
                # Two resources claim one key: keep the recorded one, the other is a duplicate the
                # engine deletes (it is ours by tag, and nothing refers to it).
                keep_new = recorded.get(rid) == key
                dup_raw = found[key] if keep_new else raw
                found[f"{key}#{dup_raw[self.id_field]}"] = dup_raw
                if not keep_new:
                    continue
            found[key] = raw
        seen = {raw[self.id_field] for raw in found.values()}
        missing = [rid for rid in recorded if rid not in seen]
        if missing:
            for raw in describe_all(
                ctx,
                self.describe,
                self.result_key,
                **{self.filter_param: [{"Name": self.id_filter, "Values": missing}]},
            ):
                if not self.is_gone(raw) and raw[self.id_field] in recorded:
                    found[recorded[raw[self.id_field]]] = raw
        return found

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        return {key: self.to_live(raw) for key, raw in self.raw_by_key(ctx, items).items()}

    def own_by_key(self, ctx: Ctx, key: str) -> list[dict[str, Any]]:
        """The live resources tagged as this stack's ``key``, made under this run's lineage:
        what a create whose answer was lost left behind (one describe, only on that path)."""
        filters = [
            *stack_filter(ctx),
            {"Name": f"tag:{KEY_TAG}", "Values": [key]},
            {"Name": f"tag:{LINEAGE_TAG}", "Values": [ctx.lineage or ""]},
        ]
        raws = describe_all(ctx, self.describe, self.result_key, **{self.filter_param: filters})
        return [raw for raw in raws if not self.is_gone(raw)]

    def adopt_on_conflict(self, ctx: Ctx, key: str, exc: Exception) -> dict[str, Any]:
        """A create answered with a conflict (``InvalidSubnet.Conflict``,
        ``InvalidGroup.Duplicate``): if its first attempt made the resource (the answer was
        lost, botocore sent it again), that resource is tagged as ours: adopt it. Otherwise
        the conflict is someone else's, and stands."""
        found = self.own_by_key(ctx, key)
        if not found:
            raise exc
        return found[0]

    def drop_twins(self, ctx: Ctx, key: str, answer: Mapping[str, Any], kept: str) -> None:
        """After a create botocore had to retry, delete any twin the lost first attempt made
        (AWS enforces no uniqueness for VPCs, internet gateways, Elastic IPs, DHCP options):
        found by its tags, it is new and nothing uses it. Free when there was no retry."""
        if not was_retried(answer):
            return
        for raw in self.own_by_key(ctx, key):
            if raw[self.id_field] != kept:
                ctx.report(f"deleting {raw[self.id_field]}, made twice by a retried create")
                self.delete(ctx, self.to_live(raw))

    def diff(self, live: Live, spec: Mapping[str, Any]) -> list[FieldChange]:
        changes = super().diff(live, spec)
        if self.waits_while_pending and live.get("state") == "pending":
            changes.append(FieldChange("state", "pending", "available"))
        return changes

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        """The default for kinds whose only in-place change is their tags."""
        return self.retag(ctx, live, spec["tags"])

    def retag(self, ctx: Ctx, live: Live, tags: Mapping[str, str]) -> Live:
        """Bring the resource's tags to ``tags``; the same Live with them recorded."""
        self.sync_tags(ctx, live, tags)
        return Live(live.id, {**live.attrs, "tags": dict(tags)})

    def sync_tags(self, ctx: Ctx, live: Live, want: Mapping[str, str]) -> None:
        sync_ec2_tags(ctx, live.id, live.get("tags") or {}, want)
