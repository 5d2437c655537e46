"""The internet gateway, attached to the VPC (attachment drift is repaired in place)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.aws.tags import tag_dict, tag_specs
from provisioner.engine.contract import Ctx
from provisioner.engine.model import FieldChange, Live
from provisioner.kind_helpers.ec2 import (
    Ec2Kind,
    delete_with_dependency_retry,
    ec2_grants,
    ignore_missing,
)

NOT_FOUND = ("InvalidInternetGatewayID.NotFound",)


class InternetGateway(Ec2Kind):
    name = "internet_gateway"
    label = "internet gateway"
    grants = ec2_grants(
        reads=("DescribeInternetGateways",),
        creates={"CreateInternetGateway": "internet-gateway"},
        changes=("AttachInternetGateway", "DetachInternetGateway", "DeleteInternetGateway"),
    )
    describe = "describe_internet_gateways"
    result_key = "InternetGateways"
    id_field = "InternetGatewayId"
    id_filter = "internet-gateway-id"

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        attached = [
            a["VpcId"]
            for a in raw.get("Attachments", [])
            if a.get("State") in ("available", "attached", "attaching")
        ]
        return Live(
            raw["InternetGatewayId"],
            {"vpc_id": attached[0] if attached else None, "tags": tag_dict(raw.get("Tags"))},
        )

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        answer = ec2.create_internet_gateway(
            TagSpecifications=tag_specs("internet-gateway", spec["tags"])
        )
        raw = answer["InternetGateway"]
        self.drop_twins(ctx, key, answer, raw["InternetGatewayId"])
        live = Live(raw["InternetGatewayId"], {"vpc_id": None, "tags": dict(spec["tags"])})
        return self.update(ctx, live, spec, [FieldChange("vpc_id", None, spec["vpc_id"])])

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        ec2 = ctx.client("ec2")
        attrs = dict(live.attrs)
        fields = {c.path for c in changes}
        if "vpc_id" in fields:
            if live.get("vpc_id"):
                self._detach(ctx, live.id, live.get("vpc_id"))
            try:
                ctx.retry(
                    lambda: ec2.attach_internet_gateway(
                        InternetGatewayId=live.id, VpcId=spec["vpc_id"]
                    ),
                    codes=(*NOT_FOUND, "InvalidVpcID.NotFound"),
                    what=f"attaching {live.id} to {spec['vpc_id']}",
                )
            except Exception as exc:
                # A retried attach whose first attempt worked (its answer was lost).
                if not has_code(exc, "Resource.AlreadyAssociated") or not self._attached(
                    ctx, live.id, spec["vpc_id"]
                ):
                    raise
            attrs["vpc_id"] = spec["vpc_id"]
        if "tags" in fields:
            self.sync_tags(ctx, live, spec["tags"])
            attrs["tags"] = dict(spec["tags"])
        return Live(live.id, attrs)

    def _attached(self, ctx: Ctx, igw_id: str, vpc_id: str) -> bool:
        raws = ctx.client("ec2").describe_internet_gateways(InternetGatewayIds=[igw_id])
        return any(
            self.to_live(raw).get("vpc_id") == vpc_id for raw in raws.get("InternetGateways", [])
        )

    def _detach(self, ctx: Ctx, igw_id: str, vpc_id: str) -> None:
        ec2 = ctx.client("ec2")
        # "has some mapped public address(es)": AWS still releases a NAT gateway's EIP.
        delete_with_dependency_retry(
            ctx,
            lambda: ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id),
            what=f"detaching {igw_id} from {vpc_id}",
            not_found=(*NOT_FOUND, "Gateway.NotAttached", "InvalidVpcID.NotFound"),
            eni_filter=None,
        )

    def delete(self, ctx: Ctx, live: Live) -> None:
        ec2 = ctx.client("ec2")
        if live.get("vpc_id"):
            self._detach(ctx, live.id, live.get("vpc_id"))
        ctx.retry(
            lambda: ignore_missing(
                lambda: ec2.delete_internet_gateway(InternetGatewayId=live.id), *NOT_FOUND
            ),
            codes=("DependencyViolation",),
            what=f"deleting internet gateway {live.id}",
            timeout=ctx.timing.dependency_timeout,
        )
