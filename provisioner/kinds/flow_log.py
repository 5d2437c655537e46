"""A VPC flow log delivering to a CloudWatch Logs group through an IAM role.

EC2 has no call that modifies a flow log: every setting but the tags forces a replacement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner.aws.tags import tag_dict, tag_specs
from provisioner.engine.contract import Ctx, Grant
from provisioner.engine.model import Live
from provisioner.errors import AwsError
from provisioner.kind_helpers.ec2 import Ec2Kind, ec2_grants, ignore_missing

NOT_FOUND = ("InvalidFlowLogId.NotFound",)
# What CreateFlowLogs answers while a new role is not yet assumable by the flow-logs service
# (IAM is eventually consistent); Terraform's aws_flow_log retries on the same code and message.
ROLE_NOT_READY_CODE = "InvalidParameter"
ROLE_NOT_READY_MESSAGE = "Unable to assume given IAM role"
FIELDS = {
    "resource_id": "ResourceId",
    "traffic_type": "TrafficType",
    "log_destination_type": "LogDestinationType",
    "log_destination": "LogDestination",
    "deliver_logs_permission_arn": "DeliverLogsPermissionArn",
    "max_aggregation_interval": "MaxAggregationInterval",
}


class FlowLog(Ec2Kind):
    name = "flow_log"
    label = "flow log"
    grants = (
        *ec2_grants(
            reads=("DescribeFlowLogs",),
            creates={"CreateFlowLogs": "vpc-flow-log"},
            changes=("DeleteFlowLogs",),
        ),
        Grant("PassFlowLogRole", ("iam:PassRole",)),  # CreateFlowLogs hands the role over
    )
    describe = "describe_flow_logs"
    result_key = "FlowLogs"
    id_field = "FlowLogId"
    id_filter = "flow-log-id"
    filter_param = "Filter"
    replace_on = frozenset(FIELDS)

    def uses_token(self) -> bool:
        return True

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        attrs: dict[str, Any] = {field: raw.get(aws) for field, aws in FIELDS.items()}
        attrs["status"] = raw.get("FlowLogStatus")
        attrs["tags"] = tag_dict(raw.get("Tags"))
        return Live(raw["FlowLogId"], attrs)

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        params = {
            "ResourceIds": [spec["resource_id"]],
            "ResourceType": "VPC",
            "TrafficType": spec["traffic_type"],
            "LogDestinationType": spec["log_destination_type"],
            "LogDestination": spec["log_destination"],
            "DeliverLogsPermissionArn": spec["deliver_logs_permission_arn"],
            "MaxAggregationInterval": int(spec["max_aggregation_interval"]),
            "ClientToken": token,
            "TagSpecifications": tag_specs("vpc-flow-log", spec["tags"]),
        }

        def create() -> str:
            answer = ec2.create_flow_logs(**params)
            failed = answer.get("Unsuccessful") or []
            if failed:
                # A per-resource failure comes back in a 200 answer; raise it as the ClientError
                # it would be for one resource, so the same retry applies to both forms.
                raise _client_error(failed[0].get("Error") or {}, "CreateFlowLogs")
            ids = answer.get("FlowLogIds") or []
            if not ids:
                raise AwsError(
                    f"CreateFlowLogs for {spec['resource_id']} returned no flow log id",
                    code="NoFlowLogId",
                )
            return str(ids[0])

        flow_log_id = ctx.retry(
            create,
            codes=(ROLE_NOT_READY_CODE,),
            message_contains=ROLE_NOT_READY_MESSAGE,
            what=f"creating the flow log of {spec['resource_id']}",
        )
        attrs = {field: spec[field] for field in FIELDS}
        attrs.update(status="ACTIVE", tags=dict(spec["tags"]))
        return Live(flow_log_id, attrs)

    def delete(self, ctx: Ctx, live: Live) -> None:
        ec2 = ctx.client("ec2")

        def delete() -> None:
            # An id AWS no longer knows (already deleted) is success, whether AWS reports it in
            # ``Unsuccessful`` or as the call's error.
            answer = ec2.delete_flow_logs(FlowLogIds=[live.id])
            for item in answer.get("Unsuccessful") or []:
                error = item.get("Error") or {}
                if error.get("Code") not in NOT_FOUND:
                    raise _client_error(error, "DeleteFlowLogs")

        ignore_missing(delete, *NOT_FOUND)


def _client_error(error: Mapping[str, Any], operation: str) -> Exception:
    from botocore.exceptions import ClientError

    body = {"Code": str(error.get("Code") or "Unknown"), "Message": str(error.get("Message", ""))}
    return ClientError({"Error": body}, operation)
