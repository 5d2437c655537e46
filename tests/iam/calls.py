"""Recorded AWS calls as the IAM requests AWS authorizes for them.

For each call: the IAM action (the API name, except where S3's differ: S3 User Guide, "Policy
actions for Amazon S3 API operations"), the ARN of every resource of a type the SAR names for
that action that the call touches, and the context IAM has for it: the region, TLS, tags sent
with a create (``aws:RequestTag``), the tags and VPC of existing resources (``aws:ResourceTag``,
``ec2:Vpc``, learnt from every answer seen so far, as IAM reads them from the resource). Calls
AWS authorizes more than once get their extra requests (tag-on-create, PassRole, private DNS,
ownership controls), each with the API reference or user guide that says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.iam.evaluator import Request
from tests.iam.recording import Call
from tests.iam.sar import action_rows, arn_format, request

#: EC2 id prefixes and the SAR resource type they name.
EC2_IDS = {
    "vpc": "vpc",
    "subnet": "subnet",
    "igw": "internet-gateway",
    "rtb": "route-table",
    "sg": "security-group",
    "nat": "natgateway",
    "eipalloc": "elastic-ip",
    "vpce": "vpc-endpoint",
    "fl": "vpc-flow-log",
    "dopt": "dhcp-options",
    "acl": "network-acl",
    "eni": "network-interface",
}
#: Where EC2 answers hold objects (Describe* lists, Create* singles), and each one's id key.
OBJECTS = {
    "Vpc": "VpcId",
    "Vpcs": "VpcId",
    "Subnet": "SubnetId",
    "Subnets": "SubnetId",
    "InternetGateway": "InternetGatewayId",
    "InternetGateways": "InternetGatewayId",
    "RouteTable": "RouteTableId",
    "RouteTables": "RouteTableId",
    "SecurityGroups": "GroupId",
    "NatGateway": "NatGatewayId",
    "NatGateways": "NatGatewayId",
    "Addresses": "AllocationId",
    "VpcEndpoint": "VpcEndpointId",
    "VpcEndpoints": "VpcEndpointId",
    "FlowLogs": "FlowLogId",
    "DhcpOptions": "DhcpOptionsId",
    "NetworkAcls": "NetworkAclId",
}
_EC2_ID = re.compile(r"^([a-z]+)-[0-9a-f]{8,17}$")
#: Calls that need no permission (STS API reference, GetCallerIdentity).
FREE = {("sts", "GetCallerIdentity")}
#: S3 operations whose IAM action has another name (S3 User Guide, "Policy actions for Amazon
#: S3 API operations"); the value says whether the resource is the bucket or the object.
S3_ACTIONS = {
    "HeadBucket": ("ListBucket", "bucket"),
    "ListObjectsV2": ("ListBucket", "bucket"),
    "ListObjectVersions": ("ListBucketVersions", "bucket"),
    "GetBucketEncryption": ("GetEncryptionConfiguration", "bucket"),
    "PutBucketEncryption": ("PutEncryptionConfiguration", "bucket"),
    "GetPublicAccessBlock": ("GetBucketPublicAccessBlock", "bucket"),
    "PutPublicAccessBlock": ("PutBucketPublicAccessBlock", "bucket"),
    "ListBuckets": ("ListAllMyBuckets", None),
    "HeadObject": ("GetObject", "object"),
    "CreateMultipartUpload": ("PutObject", "object"),
    "UploadPart": ("PutObject", "object"),
    "CompleteMultipartUpload": ("PutObject", "object"),
}
#: Services whose name in botocore differs from the IAM prefix.
PREFIX = {"monitoring": "cloudwatch"}


@dataclass
class Translator:
    account: str
    region: str
    partition: str = "aws"
    principal: str = "arn:aws:iam::123456789012:role/deployer"
    #: What AWS knows of each EC2 resource so far: tags and VPC, by id.
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    vpcs: dict[str, str] = field(default_factory=dict)
    #: The KMS key each bucket encrypts new objects with (its default encryption).
    bucket_keys: dict[str, str] = field(default_factory=dict)
    #: What an association id stands for: the resources IAM authorizes a call naming it on.
    associations: dict[str, list[str]] = field(default_factory=dict)

    def requests(self, call: Call) -> list[Request]:
        """The requests IAM authorizes for ``call`` (then learns from its answer)."""
        if (call.service, call.operation) in FREE:
            return []
        built = list(self._requests(call))
        self._learn(call)
        return built

    def _base(self) -> dict[str, str]:
        return {"aws:RequestedRegion": self.region, "aws:SecureTransport": "true"}

    def _request(self, action: str, resources: Any, context: Any = None) -> Request:
        return request(action, resources, {**self._base(), **(context or {})}, self.principal)

    def _requests(self, call: Call) -> Iterator[Request]:
        if call.service == "ec2":
            yield from self._ec2(call)
        elif call.service == "s3":
            yield from self._s3(call)
        elif call.service == "iam":
            yield from self._iam(call)
        elif call.service == "logs":
            yield from self._logs(call)
        elif call.service == "rds":
            yield from self._rds(call)
        elif call.service == "kms":
            key = call.params["KeyId"]
            arn = key if key.startswith("arn:") and ":key/" in key else self._kms_key(call)
            alias = {"kms:RequestAlias": key} if "alias/" in key else {}
            yield self._request(f"kms:{call.operation}", [("key", arn)], alias)
        else:
            raise NotImplementedError(f"no IAM request model for {call}")

    # EC2: resources found by their ids anywhere in the parameters.

    def _ec2(self, call: Call) -> Iterator[Request]:
        action = f"ec2:{call.operation}"
        rows = action_rows(action)
        named = {t for t in rows if t}
        if not named:
            yield self._request(action, [], {"ec2:Region": self.region})
            return
        created = self._created(call)
        ids = set(_ec2_ids(call.params))
        for association in (call.params.get("AssociationId"),):
            ids.update(self.associations.get(association or "", []))
        found = [(EC2_IDS[i.split("-", 1)[0]], i) for i in sorted(ids)]
        if call.operation == "CreateTags" or call.operation == "DeleteTags":
            found = [(t, i) for t, i in found if i in call.params.get("Resources", [])]
        resources = [self._existing(action, t, i) for t, i in found if t in named]
        if call.params.get("DhcpOptionsId") == "default":
            # "default" is no options set (EC2 API reference, AssociateDhcpOptions).
            resources.append(("dhcp-options", self._arn("ec2", "dhcp-options", "default"), {}))
        request_tags = _request_tags(call)
        if created is not None:
            rtype, new_id = created
            resources.append((rtype, self._arn("ec2", rtype, new_id), request_tags))
        if call.operation == "CreateTags":
            for _rtype, _arn, keys in resources:
                keys.update(request_tags)
        missing = {t for t in named if rows[t]["required"]} - {r[0] for r in resources}
        for rtype in sorted(missing):  # e.g. ReleaseAddress of an address never described
            raise AssertionError(f"{call}: no {rtype} found in {call.params}")
        yield self._request(action, resources, {"ec2:Region": self.region})
        if created is not None and request_tags:
            # Tags sent with a create are authorized as CreateTags (EC2 User Guide, "Grant
            # permission to tag resources during creation").
            rtype, new_id = created
            yield self._request(
                "ec2:CreateTags",
                [(rtype, self._arn("ec2", rtype, new_id), dict(request_tags))],
                {"ec2:CreateAction": call.operation, "ec2:Region": self.region},
            )
        if call.operation == "CreateFlowLogs" and call.params.get("DeliverLogsPermissionArn"):
            # The flow log delivers through the role: iam:PassRole (VPC User Guide, "IAM roles
            # for publishing flow logs to CloudWatch Logs").
            yield self._request(
                "iam:PassRole",
                [("role", call.params["DeliverLogsPermissionArn"])],
                {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"},
            )
        if call.operation == "CreateVpcEndpoint" and call.params.get("PrivateDnsEnabled"):
            # Private DNS associates the VPC with an AWS-owned private hosted zone (VPC User
            # Guide, "Identity-based policies for VPC endpoints").
            yield self._request("route53:AssociateVPCWithHostedZone", [])

    def _created(self, call: Call) -> tuple[str, str] | None:
        specs = call.params.get("TagSpecifications") or []
        if not specs:
            return None
        rtype = specs[0]["ResourceType"]
        given = _ec2_ids(call.params)
        ids = [i for i in _ec2_ids(call.response) if EC2_IDS[i.split("-", 1)[0]] == rtype]
        new = [i for i in ids if i not in given]
        return rtype, (new[0] if new else "*")

    def _existing(self, action: str, rtype: str, rid: str) -> tuple[str, str, dict[str, Any]]:
        keys: dict[str, Any] = {}
        for k, v in self.tags.get(rid, {}).items():
            keys[f"aws:ResourceTag/{k}"] = v
            keys[f"ec2:ResourceTag/{k}"] = v
        vpc = rid if rtype == "vpc" else self.vpcs.get(rid)
        if vpc:
            keys["ec2:Vpc"] = self._arn("ec2", "vpc", vpc)
        return rtype, self._arn("ec2", rtype, rid), keys

    def _arn(self, service: str, rtype: str, rid: str) -> str:
        template = arn_format(service, rtype)
        head, _, _ = template.rpartition("${")
        return (
            head.replace("${Partition}", self.partition)
            .replace("${Region}", self.region)
            .replace("${Account}", self.account)
            + rid
        )

    def _learn(self, call: Call) -> None:
        for item in _objects(call.response):
            rid = item["id"]
            if isinstance(item.get("Tags"), list):
                self.tags[rid] = {t["Key"]: t["Value"] for t in item["Tags"]}
            if isinstance(item.get("VpcId"), str) and rid != item["VpcId"]:
                self.vpcs[rid] = item["VpcId"]
        for item in _dicts(call.response):
            if isinstance(item.get("RouteTableAssociationId"), str):
                parts = [item.get("RouteTableId"), item.get("SubnetId")]
                self.associations[item["RouteTableAssociationId"]] = [p for p in parts if p]
            if isinstance(item.get("AssociationId"), str) and item.get("AllocationId"):
                parts = [item["AllocationId"], item.get("NetworkInterfaceId")]
                self.associations[item["AssociationId"]] = [p for p in parts if p]
        created = self._created(call)
        if created is not None and call.error is None:
            self.tags[created[1]] = dict(_tag_list(call.params))
            if isinstance(call.params.get("VpcId"), str):
                self.vpcs[created[1]] = call.params["VpcId"]
        if call.operation == "CreateTags" and call.error is None:
            for rid in call.params["Resources"]:
                self.tags.setdefault(rid, {}).update(_tag_list(call.params))
        if call.operation == "DeleteTags" and call.error is None:
            for rid in call.params["Resources"]:
                for tag in call.params.get("Tags", []):
                    self.tags.get(rid, {}).pop(tag["Key"], None)

    # S3: the bucket or the object named by Bucket/Key.

    def _s3(self, call: Call) -> Iterator[Request]:
        name, target = S3_ACTIONS.get(call.operation, (call.operation, None))
        bucket = call.params.get("Bucket")
        if call.operation not in S3_ACTIONS:
            target = "object" if "Key" in call.params else "bucket"
        if call.operation in ("GetObject", "HeadObject") and call.params.get("VersionId"):
            name = "GetObjectVersion"
        if call.operation == "DeleteObject" and call.params.get("VersionId"):
            name = "DeleteObjectVersion"
        if call.operation == "DeleteObjects":
            for obj in call.params["Delete"]["Objects"]:
                action = "DeleteObjectVersion" if obj.get("VersionId") else "DeleteObject"
                yield self._request(f"s3:{action}", [("object", self._s3_arn(bucket, obj["Key"]))])
            return
        if target is None:
            yield self._request(f"s3:{name}", [])
            return
        arn = self._s3_arn(bucket, call.params["Key"] if target == "object" else None)
        yield self._request(f"s3:{name}", [(target, arn)])
        if call.operation == "PutBucketEncryption":
            rule = call.params["ServerSideEncryptionConfiguration"]["Rules"][0]
            key = rule["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID")
            if key:
                self.bucket_keys[bucket] = key
        key = self.bucket_keys.get(bucket)
        data_key = {"PutObject": "GenerateDataKey", "CreateMultipartUpload": "GenerateDataKey"}
        kms_action = data_key.get(call.operation) or (
            "Decrypt" if call.operation == "GetObject" else None
        )
        if call.operation == "GetObject" and call.response.get("SSEKMSKeyId"):
            key = call.response["SSEKMSKeyId"]  # the key the object was encrypted with
        if key and kms_action:
            # S3 asks KMS with the caller's permissions for SSE-KMS objects (S3 User Guide,
            # "Using server-side encryption with AWS KMS keys": permissions).
            yield self._request(
                f"kms:{kms_action}",
                [("key", key)],
                {"kms:ViaService": f"s3.{self.region}.amazonaws.com"},
            )
        if call.operation == "CreateBucket" and call.params.get("ObjectOwnership"):
            # CreateBucket with ObjectOwnership needs s3:PutBucketOwnershipControls too (S3 API
            # reference, CreateBucket: Permissions).
            yield self._request("s3:PutBucketOwnershipControls", [("bucket", arn)])
        tags = (call.params.get("CreateBucketConfiguration") or {}).get("Tags")
        if call.operation == "CreateBucket" and tags:
            # Tags sent with CreateBucket need s3:TagResource (S3 API reference,
            # CreateBucketConfiguration: Tags).
            context: dict[str, Any] = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
            context["aws:TagKeys"] = [t["Key"] for t in tags]
            yield self._request("s3:TagResource", [("bucket", arn)], context)

    def _s3_arn(self, bucket: str, key: str | None = None) -> str:
        arn = f"arn:{self.partition}:s3:::{bucket}"
        return f"{arn}/{key}" if key is not None else arn

    # IAM, CloudWatch Logs, RDS: resources named in the parameters.

    def _iam(self, call: Call) -> Iterator[Request]:
        if call.operation == "GetPolicy":
            yield self._request("iam:GetPolicy", [("policy", call.params["PolicyArn"])])
            return
        if call.operation == "RemoveRoleFromInstanceProfile":  # the profile, not the role
            name = call.params["InstanceProfileName"]
            profile = f"arn:{self.partition}:iam::{self.account}:instance-profile/{name}"
            yield self._request(
                "iam:RemoveRoleFromInstanceProfile", [("instance-profile", profile)]
            )
            return
        role = f"arn:{self.partition}:iam::{self.account}:role/{call.params['RoleName']}"
        context = {}
        if call.operation == "AttachRolePolicy":
            context["iam:PolicyARN"] = call.params["PolicyArn"]
        yield self._request(f"iam:{call.operation}", [("role", role)], context)
        if call.operation == "CreateRole" and call.params.get("Tags"):
            # Tags sent with CreateRole need iam:TagRole (IAM User Guide, "Permissions required
            # for tagging IAM entities").
            tags = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in call.params["Tags"]}
            tags["aws:TagKeys"] = [t["Key"] for t in call.params["Tags"]]
            yield self._request("iam:TagRole", [("role", role)], tags)

    def _logs(self, call: Call) -> Iterator[Request]:
        action = f"logs:{call.operation}"
        if "resourceArn" in call.params:
            group = call.params["resourceArn"].removesuffix(":*")
        elif "logGroupName" in call.params:
            group = self._arn("logs", "log-group", call.params["logGroupName"])
        else:
            yield self._request(action, [])
            return
        yield self._request(action, [("log-group", group)])
        if call.operation == "CreateLogGroup" and call.params.get("tags"):
            # Tags sent with CreateLogGroup need logs:TagResource (CloudWatch Logs API
            # reference, CreateLogGroup).
            yield self._request("logs:TagResource", [("log-group", group)])

    def _rds(self, call: Call) -> Iterator[Request]:
        action = f"rds:{call.operation}"
        if "ResourceName" in call.params:
            arn = call.params["ResourceName"]
        else:
            arn = self._arn("rds", "subgrp", call.params.get("DBSubnetGroupName", "*"))
        yield self._request(action, [("subgrp", arn)])
        if call.operation == "CreateDBSubnetGroup" and call.params.get("Tags"):
            # Tags sent with a create need rds:AddTagsToResource (RDS User Guide, "Tagging
            # Amazon RDS resources").
            yield self._request("rds:AddTagsToResource", [("subgrp", arn)])

    def _kms_key(self, call: Call) -> str:
        metadata = call.response.get("KeyMetadata") or {}
        return metadata.get("Arn") or f"arn:{self.partition}:kms:{self.region}:{self.account}:key/*"


def _ec2_ids(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, str):
        match = _EC2_ID.match(value)
        if match and match[1] in EC2_IDS:
            found.add(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if k not in ("ClientToken", "Tags", "TagSpecifications", "Description"):
                found |= _ec2_ids(v)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= _ec2_ids(item)
    return found


def _objects(response: Any) -> Iterator[dict[str, Any]]:
    """Every EC2 object in an answer, as its fields plus ``id``."""
    for item in _dicts(response):
        for key, id_key in OBJECTS.items():
            value = item.get(key)
            for obj in value if isinstance(value, list) else [value]:
                if isinstance(obj, Mapping) and isinstance(obj.get(id_key), str):
                    yield {**obj, "id": obj[id_key]}


def _dicts(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        yield value
        for v in value.values():
            yield from _dicts(v)
    elif isinstance(value, list):
        for item in value:
            yield from _dicts(item)


def _tag_list(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    tags = list(params.get("Tags") or [])
    for spec in params.get("TagSpecifications") or []:
        tags += spec.get("Tags", [])
    return [(t["Key"], t.get("Value", "")) for t in tags]


def _request_tags(call: Call) -> dict[str, Any]:
    pairs = _tag_list(call.params)
    if not pairs:
        return {}
    keys: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in pairs}
    keys["aws:TagKeys"] = [k for k, _ in pairs]
    return keys
