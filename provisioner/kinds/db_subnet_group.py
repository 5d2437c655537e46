"""An RDS DB subnet group over the database subnets, named after the environment.

RDS keys subnet groups by name (lower-cased by AWS) and offers no tag filter on the describe, so
the read lists the region's groups once and picks the names it wants; tags come from one
ListTagsForResource per group found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.aws.tags import compare_tags, tag_dict, tag_list
from provisioner.engine.contract import (
    STACK_TAG,
    Ctx,
    Grant,
    Kind,
    ReadItem,
    Resolver,
    made_by_this_state,
)
from provisioner.engine.model import FieldChange, Live
from provisioner.errors import NameTaken
from provisioner.kind_helpers.ec2 import ignore_missing

NOT_FOUND = ("DBSubnetGroupNotFoundFault",)
# RDS may not see subnets EC2 made a moment ago.
CONSISTENCY = ("InvalidSubnet",)


class DbSubnetGroup(Kind):
    name = "db_subnet_group"
    reads_independently = True  # by its configured name
    label = "DB subnet group"
    grants = (
        Grant(
            "DbSubnetGroup",
            (
                "rds:CreateDBSubnetGroup",
                "rds:ModifyDBSubnetGroup",
                "rds:AddTagsToResource",
                "rds:RemoveTagsFromResource",
                "rds:DeleteDBSubnetGroup",
            ),
        ),
        Grant("FindDbSubnetGroups", ("rds:DescribeDBSubnetGroups", "rds:ListTagsForResource")),
    )
    name_field = "name"
    replace_on = frozenset({"name"})
    unordered = frozenset({"subnet_ids"})

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        wanted: dict[str, str] = {}
        for item in items:
            name = item.spec.get("name") if item.spec is not None else item.id
            if isinstance(name, str):
                wanted[name.lower()] = item.key
            if item.id:
                wanted.setdefault(item.id.lower(), item.key)
            if item.intended:
                wanted.setdefault(item.intended.lower(), item.key)
        if not wanted:
            return {}
        rds = ctx.client("rds")

        def tags_of(arn: str) -> dict[str, str]:
            return tag_dict(rds.list_tags_for_resource(ResourceName=arn).get("TagList", []))

        def describe_all() -> list[dict[str, Any]]:
            pages = rds.get_paginator("describe_db_subnet_groups").paginate()
            return [raw for page in pages for raw in page.get("DBSubnetGroups", [])]

        # DescribeDBSubnetGroups carries no tags. For the groups the state records, the tags
        # are asked with the describe (one round trip, not two); a gone group's answer is
        # dropped. A teardown reads no tags: they only serve a diff.
        guessed = (
            []
            if ctx.teardown
            else sorted({ctx.arn("rds", f"subgrp:{i.id.lower()}") for i in items if i.id})
        )
        raws, tags = ctx.with_guesses(
            describe_all, {arn: lambda a=arn: tags_of(a) for arn in guessed}
        )
        recorded = {item.id.lower() for item in items if item.id}
        # A group a create of ours asked for (its intent) is ours, tagged or not.
        recorded |= {item.intended.lower() for item in items if item.intended}
        out: dict[str, Live] = {}
        for raw in raws:
            name = raw["DBSubnetGroupName"].lower()
            key = wanted.get(name)
            if key is None or key in out:
                continue
            arn = raw.get("DBSubnetGroupArn") or ctx.arn(
                "rds", f"subgrp:{raw['DBSubnetGroupName']}"
            )
            if arn not in tags:  # found by its desired name, or a guess that missed
                tags[arn] = {} if ctx.teardown and name in recorded else tags_of(arn)
            if name not in recorded and tags[arn].get(STACK_TAG) != ctx.stack:
                # A group of that name that is not the stack's: never adopted (creating it
                # then fails, naming the conflict).
                continue
            out[key] = _live(raw, arn, tags[arn])
        return out

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        rds = ctx.client("rds")
        try:
            raw = ctx.retry(
                lambda: rds.create_db_subnet_group(
                    DBSubnetGroupName=spec["name"],
                    DBSubnetGroupDescription=spec["description"],
                    SubnetIds=list(spec["subnet_ids"]),
                    Tags=tag_list(spec["tags"]),
                )["DBSubnetGroup"],
                codes=CONSISTENCY,
                what=f"creating DB subnet group {spec['name']}",
            )
        except Exception as exc:
            if not has_code(exc, "DBSubnetGroupAlreadyExists"):
                raise
            return self._adopt_own(ctx, key, spec, exc)
        return _live(raw, raw.get("DBSubnetGroupArn") or "", dict(spec["tags"]))

    def _adopt_own(self, ctx: Ctx, key: str, spec: Mapping[str, Any], exc: Exception) -> Live:
        """ "Already exists": made by this create after all (its answer was lost and botocore
        sent it again) when its tags say so; then it is adopted and brought to the spec.
        Anyone else's group of that name is never taken over."""
        rds = ctx.client("rds")
        raws = rds.describe_db_subnet_groups(DBSubnetGroupName=spec["name"])["DBSubnetGroups"]
        for raw in raws:
            arn = raw.get("DBSubnetGroupArn") or ctx.arn("rds", f"subgrp:{spec['name'].lower()}")
            tags = tag_dict(rds.list_tags_for_resource(ResourceName=arn).get("TagList", []))
            if made_by_this_state(ctx, tags, key):
                live = _live(raw, arn, tags)
                changes = self.diff(live, spec)
                return self.update(ctx, live, spec, changes) if changes else live
        raise NameTaken(
            f"a DB subnet group named {spec['name']} already exists and is not part of stack "
            f"{ctx.stack} (it has no smprov:stack={ctx.stack} tag of this state)",
            code="DBSubnetGroupAlreadyExists",
            hint="RDS cannot rename a DB subnet group: delete that one, or choose another "
            "environment",
        ) from exc

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        rds = ctx.client("rds")
        fields = {c.path for c in changes}
        attrs = dict(live.attrs)
        if fields & {"description", "subnet_ids"}:
            # One call sets both (SubnetIds is required); never sent when only tags changed.
            raw = ctx.retry(
                lambda: rds.modify_db_subnet_group(
                    DBSubnetGroupName=live.id,
                    DBSubnetGroupDescription=spec["description"],
                    SubnetIds=list(spec["subnet_ids"]),
                )["DBSubnetGroup"],
                codes=CONSISTENCY,
                what=f"updating DB subnet group {live.id}",
            )
            attrs.update(_live(raw, live.get("arn"), live.get("tags") or {}).attrs)
        if "tags" in fields:
            to_set, to_unset = compare_tags(live.get("tags") or {}, spec["tags"])
            if to_set:
                rds.add_tags_to_resource(ResourceName=live.get("arn"), Tags=tag_list(to_set))
            if to_unset:
                rds.remove_tags_from_resource(ResourceName=live.get("arn"), TagKeys=to_unset)
            attrs["tags"] = dict(spec["tags"])
        return Live(live.id, attrs)

    def delete(self, ctx: Ctx, live: Live) -> None:
        rds = ctx.client("rds")
        ignore_missing(lambda: rds.delete_db_subnet_group(DBSubnetGroupName=live.id), *NOT_FOUND)


def _live(raw: Mapping[str, Any], arn: str, tags: Mapping[str, str]) -> Live:
    return Live(
        raw["DBSubnetGroupName"],
        {
            "name": raw["DBSubnetGroupName"],
            "description": raw.get("DBSubnetGroupDescription"),
            "subnet_ids": sorted(s["SubnetIdentifier"] for s in raw.get("Subnets", [])),
            "vpc_id": raw.get("VpcId"),
            "arn": arn,
            "tags": dict(tags),
        },
    )
