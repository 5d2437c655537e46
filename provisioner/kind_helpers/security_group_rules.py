"""Security group rules as flat, comparable values, and their reconciliation.

AWS groups rules into IpPermissions (one protocol and port range, many peers); smprov flattens
them into one rule per peer so a spec, the plan and the state show each rule on its own:
``{"protocol": "tcp", "from_port": 443, "to_port": 443, "peer": "10.0.0.0/16",
"description": "..."}``. ``peer`` is a CIDR (IPv4 or IPv6), ``self`` (the group itself),
another group's ``sg-`` id or a ``pl-`` prefix list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.aws.tags import tag_dict
from provisioner.engine.contract import Ctx
from provisioner.engine.model import Live

Rule = dict[str, Any]
SELF = "self"
# Peer kind -> (IpPermissions list, the field holding the peer).
PEER_FIELDS = {
    "ipv4": ("IpRanges", "CidrIp"),
    "ipv6": ("Ipv6Ranges", "CidrIpv6"),
    "group": ("UserIdGroupPairs", "GroupId"),
    "prefix_list": ("PrefixListIds", "PrefixListId"),
}


def rule(protocol: str, peer: Any, description: str, ports: tuple[int, int] | None = None) -> Rule:
    """A rule as specs write it (``peer`` may be a Ref until the plan resolves it)."""
    low, high = ports if ports is not None else (None, None)
    return {
        "protocol": protocol,
        "from_port": low,
        "to_port": high,
        "peer": peer,
        "description": description,
    }


def _peer_kind(peer: str) -> str:
    if peer == SELF or peer.startswith("sg-"):
        return "group"
    if peer.startswith("pl-"):
        return "prefix_list"
    return "ipv6" if ":" in peer else "ipv4"


def rules_of(permissions: Iterable[Mapping[str, Any]], group_id: str) -> list[Rule]:
    """Flatten DescribeSecurityGroups' IpPermissions(Egress) into rules."""
    out: list[Rule] = []
    for perm in permissions:
        protocol = str(perm.get("IpProtocol", "-1"))
        ports = None
        if protocol != "-1" and perm.get("FromPort") is not None:
            ports = (int(perm["FromPort"]), int(perm.get("ToPort", perm["FromPort"])))
        for list_name, field in PEER_FIELDS.values():
            for item in perm.get(list_name) or []:
                peer = str(item.get(field))
                if peer == group_id:
                    peer = SELF
                out.append(rule(protocol, peer, str(item.get("Description") or ""), ports))
    return sorted(out, key=identity)


def identity(r: Mapping[str, Any]) -> tuple[str, int, int, str]:
    """What makes two rules the same rule to AWS (the description is an attribute of it)."""
    return (
        str(r["protocol"]),
        -1 if r.get("from_port") is None else int(r["from_port"]),
        -1 if r.get("to_port") is None else int(r["to_port"]),
        str(r["peer"]),
    )


def permission(r: Mapping[str, Any], group_id: str, *, with_description: bool = True) -> Rule:
    """One rule as an IpPermissions item for authorize/revoke."""
    list_name, field = PEER_FIELDS[_peer_kind(str(r["peer"]))]
    peer: dict[str, Any] = {field: group_id if r["peer"] == SELF else r["peer"]}
    if with_description and r.get("description"):
        peer["Description"] = r["description"]
    perm: dict[str, Any] = {"IpProtocol": r["protocol"], list_name: [peer]}
    if r.get("from_port") is not None:
        perm["FromPort"] = int(r["from_port"])
        perm["ToPort"] = int(r["to_port"])
    return perm


def sync_rules(
    ctx: Ctx,
    group_id: str,
    *,
    egress: bool,
    have: Sequence[Mapping[str, Any]],
    want: Sequence[Mapping[str, Any]],
) -> None:
    """Make one direction's rules exactly ``want``: authorize the missing ones first (no window
    without access), update changed descriptions, then revoke the rest. No call is sent for a
    direction that already matches, so a converged group costs nothing."""
    ec2 = ctx.client("ec2")
    have_by = {identity(r): r for r in have}
    want_by = {identity(r): r for r in want}
    direction = "egress" if egress else "ingress"
    add = [permission(r, group_id) for k, r in want_by.items() if k not in have_by]
    relabel = [
        permission(r, group_id)
        for k, r in want_by.items()
        if k in have_by and (have_by[k].get("description") or "") != (r.get("description") or "")
    ]
    drop = [
        permission(r, group_id, with_description=False)
        for k, r in have_by.items()
        if k not in want_by
    ]
    if add:
        authorize = getattr(ec2, f"authorize_security_group_{direction}")
        _batch(authorize, group_id, add, "InvalidPermission.Duplicate")
    if relabel:
        getattr(ec2, f"update_security_group_rule_descriptions_{direction}")(
            GroupId=group_id, IpPermissions=relabel
        )
    if drop:
        revoke = getattr(ec2, f"revoke_security_group_{direction}")
        _batch(revoke, group_id, drop, "InvalidPermission.NotFound")


def apply_rules(ctx: Ctx, live: Live, spec: Mapping[str, Any], fields: set[str]) -> Live:
    """Sync the directions named in ``fields`` and return the group as it now is."""
    attrs = dict(live.attrs)
    for direction in ("ingress", "egress"):
        if direction in fields:
            want = [dict(r) for r in spec.get(direction) or []]
            have = live.get(direction) or []
            sync_rules(ctx, live.id, egress=direction == "egress", have=have, want=want)
            attrs[direction] = sorted(want, key=identity)
    return Live(live.id, attrs)


def _batch(call: Any, group_id: str, perms: list[Rule], tolerated: str) -> None:
    """One call for every rule; if AWS refuses it because one rule is already there (authorize)
    or already gone (revoke) -- the wanted outcome for that rule -- the call fails as a whole,
    so send the rules one by one and skip those."""
    try:
        call(GroupId=group_id, IpPermissions=perms)
        return
    except Exception as exc:
        if not has_code(exc, tolerated):
            raise
    if len(perms) > 1:
        for perm in perms:
            try:
                call(GroupId=group_id, IpPermissions=[perm])
            except Exception as exc:
                if not has_code(exc, tolerated):
                    raise


def group_live(raw: Mapping[str, Any]) -> Live:
    """A DescribeSecurityGroups item as a Live (shared by the default and the own groups)."""
    group_id = raw["GroupId"]
    return Live(
        group_id,
        {
            "vpc_id": raw.get("VpcId"),
            "name": raw.get("GroupName"),
            "description": raw.get("Description"),
            "ingress": rules_of(raw.get("IpPermissions") or [], group_id),
            "egress": rules_of(raw.get("IpPermissionsEgress") or [], group_id),
            "tags": tag_dict(raw.get("Tags")),
        },
    )
