"""Public NAT gateways; creation and deletion each take minutes on AWS and are waited for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.tags import tag_dict, tag_specs
from provisioner.aws.waiters import AVAILABLE, DELETED, wait_for
from provisioner.engine.contract import Ctx
from provisioner.engine.model import FieldChange, Live
from provisioner.kind_helpers.ec2 import Ec2Kind, ec2_grants, ignore_missing

NOT_FOUND = ("NatGatewayNotFound", "InvalidNatGatewayID.NotFound")


class NatGateway(Ec2Kind):
    name = "nat_gateway"
    label = "NAT gateway"
    grants = ec2_grants(
        reads=("DescribeNatGateways",),
        creates={"CreateNatGateway": "natgateway"},
        changes=("DeleteNatGateway",),
    )
    describe = "describe_nat_gateways"
    result_key = "NatGateways"
    id_field = "NatGatewayId"
    id_filter = "nat-gateway-id"
    replace_on = frozenset({"subnet_id", "allocation_id"})
    filter_param = "Filter"
    waits_while_pending = True
    # AWS: one to a few minutes to become available, about one to be deleted.
    create_seconds = 120.0
    delete_seconds = 60.0

    def uses_token(self) -> bool:
        return True

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        addresses = raw.get("NatGatewayAddresses") or [{}]
        return Live(
            raw["NatGatewayId"],
            {
                "subnet_id": raw.get("SubnetId"),
                "allocation_id": addresses[0].get("AllocationId"),
                "public_ip": addresses[0].get("PublicIp"),
                "state": raw.get("State"),
                "tags": tag_dict(raw.get("Tags")),
            },
        )

    def failure(self, raw: Mapping[str, Any]) -> tuple[str | None, str]:
        return raw.get("FailureCode"), str(raw.get("FailureMessage") or "")

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        raw = ctx.retry(
            lambda: ec2.create_nat_gateway(
                SubnetId=spec["subnet_id"],
                AllocationId=spec["allocation_id"],
                ConnectivityType="public",
                ClientToken=token,
                TagSpecifications=tag_specs("natgateway", spec["tags"]),
            )["NatGateway"],
            codes=("InvalidSubnetID.NotFound", "InvalidAllocationID.NotFound"),
            what=f"creating NAT gateway in {spec['subnet_id']}",
        )
        live = self.to_live(raw)
        if live.get("state") != "available":
            live = self.wait_available(ctx, live.id)
        return live

    def wait_available(self, ctx: Ctx, nat_id: str) -> Live:
        # One shared poller for every NAT gateway of the run: one describe per round for all.
        raw = wait_for(ctx, self.polled, nat_id, AVAILABLE)
        assert raw is not None  # AVAILABLE never accepts an absent gateway
        return self.to_live(raw)

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        fields = {c.path for c in changes}
        if "state" in fields:
            live = self.wait_available(ctx, live.id)
        if "tags" in fields:
            live = self.retag(ctx, live, spec["tags"])
        return live

    def delete(self, ctx: Ctx, live: Live) -> None:
        ec2 = ctx.client("ec2")
        ignore_missing(lambda: ec2.delete_nat_gateway(NatGatewayId=live.id), *NOT_FOUND)
        # By filter, batched with the other gateways being deleted: a filter never fails on an
        # id AWS no longer knows (NatGatewayIds would). AWS frees the Elastic IP with the
        # gateway: the address's own step can then release it.
        wait_for(ctx, self.polled, live.id, DELETED)
