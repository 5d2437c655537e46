"""IAM roles with their trust policy, inline policies and managed-policy attachments.

Roles are global and name-keyed: a role is read by ``GetRole(RoleName)``, so the same call finds a
role the state does not know (it is adopted when it carries this stack's ``smprov:stack`` tag). IAM
has no batch read: per role, one GetRole, one ListRolePolicies, one GetRolePolicy per inline
policy and one ListAttachedRolePolicies. A new role takes seconds to become usable by other
services; retrying that belongs to the consumer (flow logs, SageMaker), not here.
"""

from __future__ import annotations

import re
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
    wanted_name,
)
from provisioner.engine.model import FieldChange, Live
from provisioner.errors import ConfigError, NameTaken
from provisioner.kind_helpers.ec2 import ignore_missing
from provisioner.kind_helpers.policy import parse_policy, policy_json, policy_size, same_policy

NOT_FOUND = ("NoSuchEntity",)
#: IAM quotas (IAM User Guide, "IAM and AWS STS quotas"): inline role policies together, and the
#: trust policy at its default quota (raisable to 4,096 through Service Quotas). Whitespace is not
#: counted.
INLINE_POLICIES_MAX = 10_240
TRUST_POLICY_MAX = 2_048
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")


def role_problems(spec: Mapping[str, Any]) -> list[str]:
    """What AWS would reject in this role spec, found before any call is made."""
    name = spec["name"]
    problems: list[str] = []
    if not ROLE_NAME.match(name):
        problems.append(
            f"role name {name!r} must be 1-64 characters of letters, digits and +=,.@_-"
        )
    trust = policy_size(spec["assume_role_policy"])
    if trust > TRUST_POLICY_MAX:
        problems.append(
            f"role {name}: the trust policy is {trust} characters; IAM allows {TRUST_POLICY_MAX}"
        )
    inline = spec.get("inline_policies") or {}
    for policy_name in inline:
        if not POLICY_NAME.match(policy_name):
            problems.append(f"role {name}: inline policy name {policy_name!r} is not valid")
    total = sum(policy_size(doc) for doc in inline.values())
    if total > INLINE_POLICIES_MAX:
        problems.append(
            f"role {name}: inline policies total {total} characters (without whitespace); "
            f"IAM allows {INLINE_POLICIES_MAX} per role"
        )
    duration = int(spec.get("max_session_duration", 3600))
    if not 3600 <= duration <= 43200:
        problems.append(f"role {name}: max_session_duration must be 3600-43200 seconds")
    return problems


def _check(spec: Mapping[str, Any]) -> None:
    problems = role_problems(spec)
    if problems:
        raise ConfigError(
            problems, hint="attach large permission sets as managed policies (managed_policy_arns)"
        )


def _paginate(client: Any, method: str, key: str, **params: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(method).paginate(**params):
        items.extend(page.get(key, []))
    return items


class IamRole(Kind):
    name = "iam_role"
    reads_independently = True  # by its configured name
    label = "IAM role"
    grants = (
        Grant(
            "Roles",
            (
                "iam:GetRole",
                "iam:ListRolePolicies",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:CreateRole",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:ListInstanceProfilesForRole",
                "iam:DeleteRole",
            ),
        ),
        Grant("RolesOutOfInstanceProfiles", ("iam:RemoveRoleFromInstanceProfile",)),
        Grant("AttachManagedPolicies", ("iam:AttachRolePolicy",)),
    )
    name_field = "name"
    replace_on = frozenset({"name", "path"})
    unordered = frozenset({"managed_policy_arns"})

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        return ctx.read_each(items, lambda item: self._read_item(ctx, item, resolve))

    def _read_item(self, ctx: Ctx, item: ReadItem, resolve: Resolver) -> Live | None:
        name = wanted_name(item, resolve)
        if name is None:
            return None
        recorded = item.id == name
        expected = None
        if recorded:
            expected = sorted((item.spec or {}).get("inline_policies") or {})
        live = self._read_role(ctx, name, expected)
        if live is None:
            return None
        # A role of that name that is not ours is never adopted: creating it then fails
        # with a message naming the conflict instead of taking over someone's role. Ours: the
        # state records it, a create of ours asked for that name (its intent), or its tags.
        if (
            recorded
            or name == item.intended
            or (live.get("tags") or {}).get(STACK_TAG) == ctx.stack
        ):
            return live
        return None

    def _read_role(
        self, ctx: Ctx, name: str, expected_inline: Sequence[str] | None = None
    ) -> Live | None:
        """The role and its policies. IAM has no call returning them together: for a role the
        state records (``expected_inline``: the policy names it should have), GetRole, the two
        lists and a GetRolePolicy per expected policy go out at once (one round trip); for any
        other name, GetRole first (a name that is free costs one call)."""
        iam = ctx.client("iam")

        def get_policy(policy: str) -> Any:
            return iam.get_role_policy(RoleName=name, PolicyName=policy)

        def inline_policies() -> dict[str, Any]:
            listed, guessed = ctx.with_guesses(
                lambda: _paginate(iam, "list_role_policies", "PolicyNames", RoleName=name),
                {policy: lambda p=policy: get_policy(p) for policy in expected_inline or []},
            )
            documents = {p: doc for p, doc in guessed.items() if p in listed}
            rest = [policy for policy in listed if policy not in documents]
            documents.update(
                zip(
                    rest,
                    ctx.gather([lambda p=policy: get_policy(p) for policy in rest]),
                    strict=True,
                )
            )
            return {policy: parse_policy(documents[policy]["PolicyDocument"]) for policy in listed}

        def attached_policies() -> list[Any]:
            return _paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)

        try:
            if ctx.teardown:  # a teardown needs the role (and its tags), not its policies
                role = iam.get_role(RoleName=name)["Role"]
                inline, attached = {}, []
            elif expected_inline is None:
                role = iam.get_role(RoleName=name)["Role"]
                inline, attached = ctx.gather([inline_policies, attached_policies])
            else:
                role, inline, attached = ctx.gather(
                    [
                        lambda: iam.get_role(RoleName=name)["Role"],
                        inline_policies,
                        attached_policies,
                    ]
                )
        except Exception as exc:
            if has_code(exc, *NOT_FOUND):  # gone, or deleted between two calls
                return None
            raise
        return Live(
            role["RoleName"],
            {
                "arn": role["Arn"],
                "name": role["RoleName"],
                "path": role.get("Path", "/"),
                "description": role.get("Description") or "",
                "assume_role_policy": parse_policy(role.get("AssumeRolePolicyDocument")),
                "inline_policies": inline,
                "managed_policy_arns": sorted(p["PolicyArn"] for p in attached),
                "max_session_duration": role.get("MaxSessionDuration", 3600),
                "tags": tag_dict(role.get("Tags")),
            },
        )

    def diff(self, live: Live, spec: Mapping[str, Any]) -> list[FieldChange]:
        plain = {
            k: v for k, v in spec.items() if k not in ("assume_role_policy", "inline_policies")
        }
        changes = super().diff(live, plain)
        have_trust, want_trust = live.get("assume_role_policy"), spec["assume_role_policy"]
        if not same_policy(have_trust, want_trust):
            changes.append(FieldChange("assume_role_policy", have_trust, want_trust))
        have_inline = live.get("inline_policies") or {}
        want_inline = spec.get("inline_policies") or {}
        if set(have_inline) != set(want_inline) or not all(
            same_policy(have_inline[n], want_inline[n]) for n in want_inline
        ):
            changes.append(FieldChange("inline_policies", have_inline, want_inline))
        return changes

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        _check(spec)
        iam = ctx.client("iam")
        params: dict[str, Any] = {
            "RoleName": spec["name"],
            "Path": spec.get("path", "/"),
            "AssumeRolePolicyDocument": policy_json(spec["assume_role_policy"]),
            "MaxSessionDuration": int(spec.get("max_session_duration", 3600)),
            "Tags": tag_list(spec.get("tags") or {}),
        }
        if spec.get("description"):
            params["Description"] = spec["description"]
        try:
            role = iam.create_role(**params)["Role"]
        except Exception as exc:
            if has_code(exc, "EntityAlreadyExists"):
                # Made by this create after all (the answer was lost, botocore sent it
                # again): its tags say so. Adopt it and finish the job.
                found = self._read_role(ctx, spec["name"])
                if found is not None and made_by_this_state(ctx, found.get("tags") or {}, key):
                    return self.update(ctx, found, spec, self.diff(found, spec))
                raise NameTaken(
                    f"an IAM role named {spec['name']} already exists and is not part of stack "
                    f"{ctx.stack} (it has no smprov:stack={ctx.stack} tag)",
                    code="EntityAlreadyExists",
                    hint="IAM cannot rename a role: delete that one, set sagemaker_role_name or "
                    "flow_log_role_name to a free name, or choose another environment",
                ) from exc
            raise
        live = Live(
            role["RoleName"],
            {
                "arn": role["Arn"],
                "name": role["RoleName"],
                "path": role.get("Path", params["Path"]),
                "description": spec.get("description") or "",
                "assume_role_policy": dict(spec["assume_role_policy"]),
                "inline_policies": {},
                "managed_policy_arns": [],
                "max_session_duration": params["MaxSessionDuration"],
                "tags": dict(spec.get("tags") or {}),
            },
        )
        changes = [c for c in self.diff(live, spec) if c.path in _POLICY_FIELDS]
        return self.update(ctx, live, spec, changes) if changes else live

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        _check(spec)
        iam = ctx.client("iam")
        name = live.id
        attrs = dict(live.attrs)
        fields = {c.path for c in changes}
        if "assume_role_policy" in fields:
            iam.update_assume_role_policy(
                RoleName=name, PolicyDocument=policy_json(spec["assume_role_policy"])
            )
            attrs["assume_role_policy"] = dict(spec["assume_role_policy"])
        if "inline_policies" in fields:
            attrs["inline_policies"] = self._sync_inline(ctx, live, spec)
        if "managed_policy_arns" in fields:
            attrs["managed_policy_arns"] = self._sync_managed(ctx, live, spec)
        if fields & {"description", "max_session_duration"}:
            iam.update_role(
                RoleName=name,
                Description=spec.get("description") or "",
                MaxSessionDuration=int(spec.get("max_session_duration", 3600)),
            )
            attrs["description"] = spec.get("description") or ""
            attrs["max_session_duration"] = int(spec.get("max_session_duration", 3600))
        if "tags" in fields:
            to_set, to_unset = compare_tags(live.get("tags") or {}, spec.get("tags") or {})
            if to_set:
                iam.tag_role(RoleName=name, Tags=tag_list(to_set))
            if to_unset:
                iam.untag_role(RoleName=name, TagKeys=to_unset)
            attrs["tags"] = dict(spec.get("tags") or {})
        return Live(live.id, attrs)

    def _sync_inline(self, ctx: Ctx, live: Live, spec: Mapping[str, Any]) -> dict[str, Any]:
        iam = ctx.client("iam")
        have = live.get("inline_policies") or {}
        want = spec.get("inline_policies") or {}
        # Extra policies go first, so the role never exceeds IAM's aggregate size quota midway.
        for policy_name in sorted(set(have) - set(want)):
            ignore_missing(
                lambda p=policy_name: iam.delete_role_policy(RoleName=live.id, PolicyName=p),
                *NOT_FOUND,
            )
        for policy_name, document in sorted(want.items()):
            if policy_name in have and same_policy(have[policy_name], document):
                continue
            # Right after CreateRole the role may not be visible to every IAM endpoint yet.
            ctx.retry(
                lambda p=policy_name, d=document: iam.put_role_policy(
                    RoleName=live.id, PolicyName=p, PolicyDocument=policy_json(d)
                ),
                codes=NOT_FOUND,
                what=f"putting inline policy {policy_name} on role {live.id}",
            )
        return {n: dict(d) for n, d in want.items()}

    def _sync_managed(self, ctx: Ctx, live: Live, spec: Mapping[str, Any]) -> list[str]:
        iam = ctx.client("iam")
        have = set(live.get("managed_policy_arns") or ())
        want = set(spec.get("managed_policy_arns") or ())
        # Detach first: IAM caps attachments per role (10 by default).
        for arn in sorted(have - want):
            ignore_missing(
                lambda a=arn: iam.detach_role_policy(RoleName=live.id, PolicyArn=a), *NOT_FOUND
            )
        for arn in sorted(want - have):
            iam.attach_role_policy(RoleName=live.id, PolicyArn=arn)
        return sorted(want)

    def delete(self, ctx: Ctx, live: Live) -> None:
        iam = ctx.client("iam")
        name = live.id
        try:
            # Listed afresh: anything attached out of band would make DeleteRole fail.
            for policy in _paginate(
                iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name
            ):
                ignore_missing(
                    lambda a=policy["PolicyArn"]: iam.detach_role_policy(
                        RoleName=name, PolicyArn=a
                    ),
                    *NOT_FOUND,
                )
            for policy_name in _paginate(iam, "list_role_policies", "PolicyNames", RoleName=name):
                ignore_missing(
                    lambda p=policy_name: iam.delete_role_policy(RoleName=name, PolicyName=p),
                    *NOT_FOUND,
                )
            for profile in _paginate(
                iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name
            ):
                ignore_missing(
                    lambda p=profile["InstanceProfileName"]: iam.remove_role_from_instance_profile(
                        InstanceProfileName=p, RoleName=name
                    ),
                    *NOT_FOUND,
                )
        except Exception as exc:
            if has_code(exc, *NOT_FOUND):
                return None
            raise
        ignore_missing(lambda: iam.delete_role(RoleName=name), *NOT_FOUND)
        return None


_POLICY_FIELDS = frozenset({"inline_policies", "managed_policy_arns"})
