"""A CloudWatch Logs log group (the VPC flow logs' destination), with its retention and tags.

Log groups have no id but their name, and the name holds the VPC id (``/aws/vpc-flow-log/<vpc>``),
so a group is found by the recorded name or, once the VPC is known, by the desired one. A log
group holds data: ``delete`` keeps it unless the user passed ``--delete-logs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.aws.tags import compare_tags
from provisioner.engine.contract import Ctx, Grant, Kind, ReadItem, Resolver
from provisioner.engine.model import FieldChange, Live
from provisioner.kind_helpers.ec2 import ignore_missing

NOT_FOUND = ("ResourceNotFoundException",)
# The executor reports "kept <name>: <this>" and what deletes it.
KEPT = "it holds flow-log data"


class LogGroup(Kind):
    name = "log_group"
    label = "log group"
    grants = (
        Grant(
            "FlowLogGroup",
            (
                "logs:CreateLogGroup",
                "logs:PutRetentionPolicy",
                "logs:ListTagsForResource",
                "logs:TagResource",
                "logs:UntagResource",
                "logs:DeleteLogGroup",
            ),
        ),
        Grant("FindLogGroups", ("logs:DescribeLogGroups",)),
    )
    name_field = "name"
    replace_on = frozenset({"name"})
    retains_data = True
    keep_flag = "--delete-logs"

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        wanted: dict[str, list[str]] = {}  # key -> names to look for, preferred first
        for item in items:
            names: list[str] = []
            desired = resolve(item.spec.get("name")) if item.spec is not None else None
            if isinstance(desired, str):
                names.append(desired)
            if item.intended:  # a create of ours that may have happened
                names.append(item.intended)
            if item.id:
                # Also when the desired name is not known: its VPC is gone (a `down` kept this
                # group). `down --delete-logs` must still find it; `up` replaces it with the
                # new VPC's group, and the replacement keeps the old one (delete says so).
                names.append(item.id)
            if names:
                wanted[item.key] = names
        every = sorted({n for names in wanted.values() for n in names})
        if not every:
            return {}
        logs = ctx.client("logs")

        def tags_of(name: str) -> dict[str, str]:
            arn = ctx.arn("logs", f"log-group:{name}")
            return logs.list_tags_for_resource(resourceArn=arn).get("tags", {})

        # DescribeLogGroups carries no tags. For the groups the state records, the tags are
        # asked with the describe (one round trip, not two); a gone group's answer is dropped.
        # A teardown reads no tags: they only serve a diff.
        recorded = [] if ctx.teardown else sorted({item.id for item in items if item.id})
        found, tags = ctx.with_guesses(
            lambda: self._describe(ctx, _common_prefix(every), set(every)),
            {name: lambda n=name: tags_of(n) for name in recorded},
        )
        out: dict[str, Live] = {}
        for key, names in wanted.items():
            raw = next((found[n] for n in names if n in found), None)
            if raw is None:
                continue
            name = raw["logGroupName"]
            arn = ctx.arn("logs", f"log-group:{name}")
            if name not in tags:  # found by its desired name, or a guess that missed
                tags[name] = {} if ctx.teardown else tags_of(name)
            out[key] = _live(name, arn, raw.get("retentionInDays"), tags[name])
        return out

    def _describe(self, ctx: Ctx, prefix: str, names: set[str]) -> dict[str, dict[str, Any]]:
        """The groups named in ``names``: one paginated call over their common prefix."""
        params: dict[str, Any] = {"logGroupNamePrefix": prefix} if prefix else {}
        pages = ctx.client("logs").get_paginator("describe_log_groups").paginate(**params)
        return {
            raw["logGroupName"]: raw
            for page in pages
            for raw in page.get("logGroups", [])
            if raw["logGroupName"] in names
        }

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        logs = ctx.client("logs")
        name = spec["name"]
        arn = ctx.arn("logs", f"log-group:{name}")
        try:
            logs.create_log_group(logGroupName=name, tags=dict(spec["tags"]))
        except Exception as exc:
            if not has_code(exc, "ResourceAlreadyExistsException"):
                raise
            # Left by a run that died before recording it, or kept by an earlier `down` of
            # the same VPC: take it over and put its settings right.
            logs.tag_resource(resourceArn=arn, tags=dict(spec["tags"]))
        self._set_retention(ctx, name, spec["retention_in_days"])
        return _live(name, arn, spec["retention_in_days"], spec["tags"])

    def _set_retention(self, ctx: Ctx, name: str, days: int) -> None:
        """Always a period: the config requires one of CloudWatch's (a group kept forever, e.g.
        adopted from Terraform, gets the configured one), so DeleteRetentionPolicy is never
        needed and the deployer is not granted it."""
        logs = ctx.client("logs")
        ctx.retry(
            lambda: logs.put_retention_policy(logGroupName=name, retentionInDays=int(days)),
            codes=NOT_FOUND,
            what=f"setting the retention of log group {name}",
        )

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        fields = {c.path for c in changes}
        attrs = dict(live.attrs)
        if "retention_in_days" in fields:
            self._set_retention(ctx, live.id, spec["retention_in_days"])
            attrs["retention_in_days"] = spec["retention_in_days"]
        if "tags" in fields:
            to_set, to_unset = compare_tags(live.get("tags") or {}, spec["tags"])
            logs = ctx.client("logs")
            if to_set:
                logs.tag_resource(resourceArn=live.get("arn"), tags=to_set)
            if to_unset:
                logs.untag_resource(resourceArn=live.get("arn"), tagKeys=to_unset)
            attrs["tags"] = dict(spec["tags"])
        return Live(live.id, attrs)

    def keeps(self, live: Live, *, delete_data: bool, delete_logs: bool) -> str | None:
        return None if delete_logs else "its flow logs stay; `--delete-logs` deletes them"

    def delete(self, ctx: Ctx, live: Live) -> str | None:
        if not ctx.delete_logs:
            return KEPT
        logs = ctx.client("logs")
        ignore_missing(lambda: logs.delete_log_group(logGroupName=live.id), *NOT_FOUND)
        return None


def _common_prefix(names: list[str]) -> str:
    """The longest string every name starts with (a logGroupNamePrefix, not a path)."""
    first, last = min(names), max(names)
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    return first[:size]


def _live(name: str, arn: str, days: int | None, tags: Mapping[str, str]) -> Live:
    """``arn`` is the group's ARN without the ``:*`` DescribeLogGroups appends: the form
    CreateFlowLogs' LogDestination and the tagging calls take."""
    return Live(
        name,
        {
            "name": name,
            "arn": arn,
            "retention_in_days": days,
            "tags": {k: v for k, v in tags.items() if not k.startswith("aws:")},
        },
    )
