"""Every resource kind smprov manages, by name: written out, no decorators or metaclasses."""

from __future__ import annotations

from provisioner.kinds.base import Kind
from provisioner.kinds.dhcp_options import DhcpOptions
from provisioner.kinds.eip import ElasticIp
from provisioner.kinds.internet_gateway import InternetGateway
from provisioner.kinds.nat_gateway import NatGateway
from provisioner.kinds.route import Route
from provisioner.kinds.route_table import RouteTable
from provisioner.kinds.route_table_association import RouteTableAssociation
from provisioner.kinds.subnet import Subnet
from provisioner.kinds.vpc import Vpc

REGISTRY: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        DhcpOptions(),
        Vpc(),
        Subnet(),
        InternetGateway(),
        RouteTable(),
        Route(),
        RouteTableAssociation(),
        ElasticIp(),
        NatGateway(),
    )
}


def get_kind(name: str) -> Kind:
    return REGISTRY[name]
