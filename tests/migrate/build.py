"""Build, in (emulated) AWS, the stack a Terraform state records; then point the state at it.

The seed's IDs point to a moto server that is gone. ``build`` makes the same resources from what
the state records (CIDRs, zones, names, tags, settings, the module's policies), the way the
Terraform configuration beside the fixture made them, and returns each old id with its new one;
``substituted`` rewrites a state (or ``terraform show -json``) with the new ids. Test code only:
it plays Terraform's part so that smprov can be tested against what Terraform leaves behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from provisioner.terraform_import import ImportResult, import_from_terraform
from tests.harness import Harness
from tests.migrate.seed import address, find, instances, write

Attrs = Mapping[str, Any]


def _tags(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted((tags or {}).items())]


def _spec(resource_type: str, attrs: Attrs) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": _tags(attrs.get("tags"))}]


class _Builder:
    def __init__(self, clients: Any, doc: dict[str, Any], csv: bytes) -> None:
        self.clients = clients
        self.ec2 = clients("ec2")
        self.ids: dict[str, str] = {}
        self.csv = csv
        self.by_address = {address(r, i): (r, i["attributes"]) for r, i in instances(doc)}

    def each(self, type_: str, name: str | None = None) -> Iterator[Attrs]:
        for resource, attrs in self.by_address.values():
            if resource["type"] == type_ and (name is None or resource["name"] == name):
                yield attrs

    def new(self, old: str) -> str:
        return self.ids.get(old, old)

    def swap(self, text: str) -> str:
        for old, new in self.ids.items():
            text = text.replace(old, new)
        return text

    def run(self) -> dict[str, str]:
        self.network()
        self.vpc_defaults()
        self.flow_logs()
        self.database()
        self.endpoints()
        self.storage()
        return self.ids

    def network(self) -> None:
        ec2 = self.ec2
        (vpc,) = self.each("aws_vpc")
        vpc_id = ec2.create_vpc(CidrBlock=vpc["cidr_block"], TagSpecifications=_spec("vpc", vpc))[
            "Vpc"
        ]["VpcId"]
        self.ids[vpc["id"]] = vpc_id
        for name in ("enable_dns_support", "enable_dns_hostnames"):
            camel = "Enable" + "".join(p.title() for p in name.split("_")[1:])
            ec2.modify_vpc_attribute(VpcId=vpc_id, **{camel: {"Value": bool(vpc[name])}})
        for dhcp in self.each("aws_vpc_dhcp_options"):
            config = [{"Key": "domain-name-servers", "Values": dhcp["domain_name_servers"]}]
            if dhcp.get("domain_name"):
                config.append({"Key": "domain-name", "Values": [dhcp["domain_name"]]})
            dopt = ec2.create_dhcp_options(DhcpConfigurations=config)["DhcpOptions"]
            self.ids[dhcp["id"]] = dopt["DhcpOptionsId"]
            ec2.create_tags(Resources=[dopt["DhcpOptionsId"]], Tags=_tags(dhcp["tags"]))
            ec2.associate_dhcp_options(DhcpOptionsId=dopt["DhcpOptionsId"], VpcId=vpc_id)
        for subnet in self.each("aws_subnet"):
            made = ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=subnet["cidr_block"],
                AvailabilityZone=subnet["availability_zone"],
                TagSpecifications=_spec("subnet", subnet),
            )["Subnet"]["SubnetId"]
            self.ids[subnet["id"]] = made
            if subnet["map_public_ip_on_launch"]:
                ec2.modify_subnet_attribute(SubnetId=made, MapPublicIpOnLaunch={"Value": True})
        for igw in self.each("aws_internet_gateway"):
            made = ec2.create_internet_gateway(TagSpecifications=_spec("internet-gateway", igw))
            igw_id = made["InternetGateway"]["InternetGatewayId"]
            self.ids[igw["id"]] = igw_id
            ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        for eip in self.each("aws_eip"):
            made = ec2.allocate_address(Domain="vpc", TagSpecifications=_spec("elastic-ip", eip))
            self.ids[eip["id"]] = made["AllocationId"]
        for nat in self.each("aws_nat_gateway"):
            made = ec2.create_nat_gateway(
                SubnetId=self.new(nat["subnet_id"]),
                AllocationId=self.new(nat["allocation_id"]),
                TagSpecifications=_spec("natgateway", nat),
            )
            self.ids[nat["id"]] = made["NatGateway"]["NatGatewayId"]
        for table in self.each("aws_route_table"):
            made = ec2.create_route_table(
                VpcId=vpc_id, TagSpecifications=_spec("route-table", table)
            )
            self.ids[table["id"]] = made["RouteTable"]["RouteTableId"]
        for route in self.each("aws_route"):
            target = (
                {"NatGatewayId": self.new(route["nat_gateway_id"])}
                if route["nat_gateway_id"]
                else {"GatewayId": self.new(route["gateway_id"])}
            )
            ec2.create_route(
                RouteTableId=self.new(route["route_table_id"]),
                DestinationCidrBlock=route["destination_cidr_block"],
                **target,
            )
        for assoc in self.each("aws_route_table_association"):
            made = ec2.associate_route_table(
                RouteTableId=self.new(assoc["route_table_id"]),
                SubnetId=self.new(assoc["subnet_id"]),
            )
            self.ids[assoc["id"]] = made["AssociationId"]

    def vpc_defaults(self) -> None:
        """What the module's aws_default_* resources do: adopt, tag, set the rules."""
        ec2 = self.ec2
        (vpc,) = self.each("aws_vpc")
        vpc_id = self.new(vpc["id"])
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        for group in self.each("aws_default_security_group"):
            (sg,) = ec2.describe_security_groups(
                Filters=[*in_vpc, {"Name": "group-name", "Values": ["default"]}]
            )["SecurityGroups"]
            self.ids[group["id"]] = sg["GroupId"]
            if sg["IpPermissions"]:
                ec2.revoke_security_group_ingress(
                    GroupId=sg["GroupId"], IpPermissions=sg["IpPermissions"]
                )
            if sg["IpPermissionsEgress"]:
                ec2.revoke_security_group_egress(
                    GroupId=sg["GroupId"], IpPermissions=sg["IpPermissionsEgress"]
                )
            assert not group["ingress"] and not group["egress"]  # the module's defaults
            ec2.create_tags(Resources=[sg["GroupId"]], Tags=_tags(group["tags"]))
        for acl in self.each("aws_default_network_acl"):
            (raw,) = ec2.describe_network_acls(
                Filters=[*in_vpc, {"Name": "default", "Values": ["true"]}]
            )["NetworkAcls"]
            self.ids[acl["id"]] = raw["NetworkAclId"]
            have = {(e["RuleNumber"], e["Egress"]) for e in raw["Entries"]}
            for direction in ("ingress", "egress"):
                for entry in acl[direction]:
                    if (entry["rule_no"], direction == "egress") in have:
                        continue
                    cidr = (
                        {"Ipv6CidrBlock": entry["ipv6_cidr_block"]}
                        if entry["ipv6_cidr_block"]
                        else {"CidrBlock": entry["cidr_block"]}
                    )
                    ec2.create_network_acl_entry(
                        NetworkAclId=raw["NetworkAclId"],
                        RuleNumber=entry["rule_no"],
                        Protocol=entry["protocol"],
                        RuleAction=entry["action"],
                        Egress=direction == "egress",
                        **cidr,
                    )
            ec2.create_tags(Resources=[raw["NetworkAclId"]], Tags=_tags(acl["tags"]))
        for main in self.each("aws_default_route_table"):
            (raw,) = ec2.describe_route_tables(
                Filters=[*in_vpc, {"Name": "association.main", "Values": ["true"]}]
            )["RouteTables"]
            self.ids[main["id"]] = raw["RouteTableId"]
            ec2.create_tags(Resources=[raw["RouteTableId"]], Tags=_tags(main["tags"]))

    def flow_logs(self) -> None:
        logs, iam = self.clients("logs"), self.clients("iam")
        for group in self.each("aws_cloudwatch_log_group"):
            name = self.swap(group["name"])
            logs.create_log_group(logGroupName=name, tags=dict(group["tags"]))
            logs.put_retention_policy(logGroupName=name, retentionInDays=group["retention_in_days"])
        for policy in self.each("aws_iam_policy"):
            iam.create_policy(
                PolicyName=policy["name"],
                Path=policy["path"],
                PolicyDocument=self.swap(policy["policy"]),
                Tags=_tags(policy["tags"]),
            )
        for role in self.each("aws_iam_role"):
            iam.create_role(
                RoleName=role["name"],
                Path=role["path"],
                AssumeRolePolicyDocument=role["assume_role_policy"],
                MaxSessionDuration=role["max_session_duration"],
                Tags=_tags(role["tags"]),
            )
        for attachment in self.each("aws_iam_role_policy_attachment"):
            iam.attach_role_policy(RoleName=attachment["role"], PolicyArn=attachment["policy_arn"])
        for flow in self.each("aws_flow_log"):
            made = self.ec2.create_flow_logs(
                ResourceIds=[self.new(flow["vpc_id"])],
                ResourceType="VPC",
                TrafficType=flow["traffic_type"],
                LogDestinationType=flow["log_destination_type"],
                LogDestination=self.swap(flow["log_destination"]),
                DeliverLogsPermissionArn=flow["iam_role_arn"],
                MaxAggregationInterval=flow["max_aggregation_interval"],
                TagSpecifications=_spec("vpc-flow-log", flow),
            )
            self.ids[flow["id"]] = made["FlowLogIds"][0]

    def database(self) -> None:
        for group in self.each("aws_db_subnet_group"):
            self.clients("rds").create_db_subnet_group(
                DBSubnetGroupName=group["name"],
                DBSubnetGroupDescription=group["description"],
                SubnetIds=[self.new(s) for s in group["subnet_ids"]],
                Tags=_tags(group["tags"]),
            )

    def endpoints(self) -> None:
        for endpoint in self.each("aws_vpc_endpoint"):
            params: dict[str, Any] = {
                "VpcEndpointType": endpoint["vpc_endpoint_type"],
                "VpcId": self.new(endpoint["vpc_id"]),
                "ServiceName": endpoint["service_name"],
                "TagSpecifications": _spec("vpc-endpoint", endpoint),
            }
            if endpoint["vpc_endpoint_type"] == "Gateway":
                params["RouteTableIds"] = [self.new(t) for t in endpoint["route_table_ids"]]
            else:
                params["SubnetIds"] = [self.new(s) for s in endpoint["subnet_ids"]]
                params["PrivateDnsEnabled"] = endpoint["private_dns_enabled"]
            made = self.ec2.create_vpc_endpoint(**params)
            self.ids[endpoint["id"]] = made["VpcEndpoint"]["VpcEndpointId"]

    def storage(self) -> None:
        s3 = self.clients("s3")
        for bucket in self.each("aws_s3_bucket"):
            s3.create_bucket(Bucket=bucket["bucket"])
            s3.put_bucket_tagging(
                Bucket=bucket["bucket"], Tagging={"TagSet": _tags(bucket["tags"])}
            )
        for owner in self.each("aws_s3_bucket_ownership_controls"):
            s3.put_bucket_ownership_controls(
                Bucket=owner["bucket"],
                OwnershipControls={
                    "Rules": [{"ObjectOwnership": owner["rule"][0]["object_ownership"]}]
                },
            )
        for pab in self.each("aws_s3_bucket_public_access_block"):
            s3.put_public_access_block(
                Bucket=pab["bucket"],
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": pab["block_public_acls"],
                    "IgnorePublicAcls": pab["ignore_public_acls"],
                    "BlockPublicPolicy": pab["block_public_policy"],
                    "RestrictPublicBuckets": pab["restrict_public_buckets"],
                },
            )
        for sse in self.each("aws_s3_bucket_server_side_encryption_configuration"):
            default = sse["rule"][0]["apply_server_side_encryption_by_default"][0]
            rule: dict[str, Any] = {"SSEAlgorithm": default["sse_algorithm"]}
            if default["kms_master_key_id"]:
                rule["KMSMasterKeyID"] = default["kms_master_key_id"]
            s3.put_bucket_encryption(
                Bucket=sse["bucket"],
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": rule}]
                },
            )
        for obj in self.each("aws_s3_object"):
            body = b"" if obj["key"].endswith("/") else self.csv
            put = s3.put_object(Bucket=obj["bucket"], Key=obj["key"], Body=body)
            self.ids[obj["etag"]] = put["ETag"].strip('"')
        # Last, as Terraform did: under moto a policy is evaluated on object calls.
        for policy in self.each("aws_s3_bucket_policy"):
            s3.put_bucket_policy(Bucket=policy["bucket"], Policy=policy["policy"])


def build(clients: Any, doc: dict[str, Any], csv: bytes = b"id,label\n1,0\n") -> dict[str, str]:
    """Make what ``doc`` (a state v4 document) records; returns {old id: new id}."""
    return _Builder(clients, doc, csv).run()


def substituted(document: Mapping[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    """``document`` with every old id replaced by the new one (in ARNs and names too)."""
    text = json.dumps(document)
    for old, new in ids.items():
        text = text.replace(old, new)
    return json.loads(text)


CSV = b"id,label\n1,0\n2,1\n"


class Seeded:
    """The Terraform stack made in moto, and its state pointing at it."""

    def __init__(self, harness: Harness, doc: dict[str, Any], *, csv: bool = True) -> None:
        self.harness = harness
        self.ids = build(harness.clients, doc, CSV)
        self.doc = substituted(doc, self.ids)
        self.tf_dir = harness.workdir.parent / "terraform"
        (self.tf_dir / "data").mkdir(parents=True, exist_ok=True)
        if csv:
            (self.tf_dir / "data" / "training_data.csv").write_bytes(CSV)
        self.state_file = write(self.doc, self.tf_dir / "terraform.tfstate")

    def tf_id(self, address: str) -> str:
        return str(find(self.doc, address)["attributes"]["id"])

    def run(self, source: str | None = None, **options: Any) -> ImportResult:
        return import_from_terraform(
            self.harness.options(**options), source or str(self.state_file)
        )
