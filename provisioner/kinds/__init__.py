"""Every resource kind smprov manages, by name: written out, no decorators or metaclasses."""

from __future__ import annotations

from provisioner.engine.contract import Kind
from provisioner.kinds.bucket import Bucket
from provisioner.kinds.bucket_policy import BucketPolicy
from provisioner.kinds.db_subnet_group import DbSubnetGroup
from provisioner.kinds.default_network_acl import DefaultNetworkAcl
from provisioner.kinds.default_security_group import DefaultSecurityGroup
from provisioner.kinds.dhcp_options import DhcpOptions
from provisioner.kinds.eip import ElasticIp
from provisioner.kinds.flow_log import FlowLog
from provisioner.kinds.iam_role import IamRole
from provisioner.kinds.internet_gateway import InternetGateway
from provisioner.kinds.log_group import LogGroup
from provisioner.kinds.main_route_table import MainRouteTable
from provisioner.kinds.nat_gateway import NatGateway
from provisioner.kinds.route import Route
from provisioner.kinds.route_table import RouteTable
from provisioner.kinds.route_table_association import RouteTableAssociation
from provisioner.kinds.s3_object import S3Object
from provisioner.kinds.security_group import SecurityGroup
from provisioner.kinds.subnet import Subnet
from provisioner.kinds.vpc import Vpc
from provisioner.kinds.vpc_endpoint import VpcEndpoint

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
        LogGroup(),
        FlowLog(),
        DbSubnetGroup(),
        SecurityGroup(),
        VpcEndpoint(),
        DefaultSecurityGroup(),
        DefaultNetworkAcl(),
        MainRouteTable(),
        IamRole(),
        Bucket(),
        S3Object(),
        BucketPolicy(),
    )
}
