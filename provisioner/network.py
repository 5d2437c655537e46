"""Subnet planning for the stack's VPC: pure functions over :mod:`ipaddress`, no AWS.

The automatic layout gives every availability zone a fixed *slot* (slot ``i`` belongs to the
``i``-th zone), so adding a zone never moves the subnets of the zones before it: a subnet's CIDR
is immutable in AWS, and a layout that reshuffled on growth would replace every subnet. For a VPC
of prefix ``/p`` there are 8 slots per tier:

* the first half of the VPC holds the **private** subnets, ``/(p+4)`` each: slot ``i`` is the
  ``i``-th ``/(p+4)`` block of the VPC. Private is the largest tier because SageMaker training
  jobs place their network interfaces there;
* the third quarter holds the **public** subnets, ``/(p+5)`` each;
* the fourth quarter holds the **database** subnets, ``/(p+5)`` each.

>>> layout = plan_subnets("10.0.0.0/16", ["us-east-1a", "us-east-1b"])
>>> layout.private
(('us-east-1a', '10.0.0.0/20'), ('us-east-1b', '10.0.16.0/20'))
>>> layout.public
(('us-east-1a', '10.0.128.0/21'), ('us-east-1b', '10.0.136.0/21'))
>>> layout.database
(('us-east-1a', '10.0.192.0/21'), ('us-east-1b', '10.0.200.0/21'))

Any tier may instead be given explicitly (one CIDR per zone, in zone order); the other tiers are
still computed and every subnet, given or computed, must be disjoint from every other.
Problems are returned as strings that start with the configuration key they concern, so the
configuration loader can report them together with all its other problems.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

from provisioner.errors import ConfigError

Tier = Literal["public", "private", "database"]

TIERS: Final[tuple[Tier, ...]] = ("public", "private", "database")
"""Subnet tiers, in the order they are reported."""

TIER_KEYS: Final[dict[Tier, str]] = {
    "public": "public_subnets",
    "private": "private_subnets",
    "database": "database_subnets",
}
"""The configuration key that gives a tier's subnets explicitly."""

MIN_PREFIX: Final = 16
"""Largest VPC or subnet AWS allows (/16)."""

MAX_PREFIX: Final = 28
"""Smallest VPC or subnet AWS allows (/28)."""

SLOTS: Final = 8
"""Zones the automatic layout has room for; no AWS region has more."""

_CIDR_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}/\d{1,2}")

# Ranges that are not ordinary unicast space: AWS cannot route a VPC there.
_UNUSABLE = tuple(
    ipaddress.IPv4Network(n)
    for n in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
)

# AWS documents that some services (SageMaker among them) use 172.17.0.0/16 internally and may
# misbehave in a VPC that overlaps it; smprov exists for SageMaker, so it refuses that range.
_SAGEMAKER_RESERVED = ipaddress.IPv4Network("172.17.0.0/16")

Assignment = tuple[tuple[str, str], ...]
"""``(zone, cidr)`` pairs in zone order."""


@dataclass(frozen=True)
class SubnetLayout:
    """Every subnet of the stack: per tier, ``(zone, cidr)`` pairs in zone order."""

    public: Assignment
    private: Assignment
    database: Assignment

    def tier(self, tier: Tier) -> Assignment:
        """The ``(zone, cidr)`` pairs of one tier.

        >>> plan_subnets("10.0.0.0/16", ["eu-west-1a"]).tier("database")
        (('eu-west-1a', '10.0.192.0/21'),)
        """
        return {"public": self.public, "private": self.private, "database": self.database}[tier]

    @property
    def zones(self) -> tuple[str, ...]:
        """The zones the layout covers, in slot order."""
        return tuple(zone for zone, _ in self.private)

    def cidr(self, tier: Tier, zone: str) -> str:
        """The CIDR of ``tier``'s subnet in ``zone``; ``KeyError`` if the zone is not planned."""
        return dict(self.tier(tier))[zone]


def parse_network(value: object) -> ipaddress.IPv4Network:
    """Parse ``a.b.c.d/n`` strictly (host bits zero); ``ValueError`` says what is wrong.

    Only the canonical ``address/prefix`` form is accepted, so what the user wrote is exactly
    what AWS will show back.

    >>> parse_network("10.0.0.0/16")
    IPv4Network('10.0.0.0/16')
    >>> parse_network("10.0.0.1/16")
    Traceback (most recent call last):
    ...
    ValueError: '10.0.0.1/16' has host bits set (did you mean 10.0.0.0/16?)
    """
    if not isinstance(value, str) or not _CIDR_SHAPE.fullmatch(value):
        raise ValueError(f"{value!r} is not an IPv4 CIDR block like 10.0.0.0/16")
    try:
        return ipaddress.IPv4Network(value)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            loose = ipaddress.IPv4Network(value, strict=False)
            raise ValueError(f"{value!r} has host bits set (did you mean {loose}?)") from None
        raise ValueError(f"{value!r} is not a valid IPv4 network ({exc})") from None


def _size_problem(network: ipaddress.IPv4Network) -> str | None:
    if MIN_PREFIX <= network.prefixlen <= MAX_PREFIX:
        return None
    return f"{network} is /{network.prefixlen}; AWS allows /{MIN_PREFIX} to /{MAX_PREFIX}"


def vpc_problems(vpc_cidr: object) -> list[str]:
    """Problems with ``vpc_cidr`` itself (shape, size, usable range), each prefixed by the key.

    >>> vpc_problems("10.0.0.0/16")
    []
    >>> vpc_problems("10.0.0.0/8")
    ['vpc_cidr: 10.0.0.0/8 is /8; AWS allows /16 to /28']
    """
    try:
        vpc = parse_network(vpc_cidr)
    except ValueError as exc:
        return [f"vpc_cidr: {exc}"]
    size = _size_problem(vpc)
    if size:
        return [f"vpc_cidr: {size}"]
    for bad in _UNUSABLE:
        if vpc.overlaps(bad):
            return [f"vpc_cidr: {vpc} lies in {bad}, which is not usable unicast address space"]
    if vpc.overlaps(_SAGEMAKER_RESERVED):
        return [
            f"vpc_cidr: {vpc} overlaps {_SAGEMAKER_RESERVED}, which SageMaker uses internally "
            "(AWS advises against it); pick another range"
        ]
    return []


def automatic_subnets(vpc_cidr: str, zone_count: int) -> dict[Tier, list[str]]:
    """The computed CIDRs of every tier for the first ``zone_count`` slots.

    ``ValueError`` if the VPC is too small (smaller than /23) or ``zone_count`` exceeds the
    slots. Slot ``i`` never depends on ``zone_count``, which is what keeps the layout stable:

    >>> automatic_subnets("10.0.0.0/16", 3)["public"]
    ['10.0.128.0/21', '10.0.136.0/21', '10.0.144.0/21']
    >>> automatic_subnets("10.0.0.0/16", 2)["public"]
    ['10.0.128.0/21', '10.0.136.0/21']
    >>> automatic_subnets("192.168.4.0/23", 1)
    {'public': ['192.168.5.0/28'], 'private': ['192.168.4.0/27'], 'database': ['192.168.5.128/28']}
    """
    vpc = parse_network(vpc_cidr)
    if vpc.prefixlen + 5 > MAX_PREFIX:
        raise ValueError(
            f"{vpc} is too small for the automatic layout (it needs /{MAX_PREFIX - 5} or larger)"
        )
    if zone_count > SLOTS:
        raise ValueError(f"{zone_count} zones requested; the automatic layout has {SLOTS} slots")
    base = int(vpc.network_address)
    size = vpc.num_addresses

    def slots(start: int, prefix: int) -> list[str]:
        step = 2 ** (32 - prefix)
        return [
            str(ipaddress.IPv4Network((base + start + i * step, prefix))) for i in range(zone_count)
        ]

    p = vpc.prefixlen
    return {
        "public": slots(size // 2, p + 5),
        "private": slots(0, p + 4),
        "database": slots(size // 2 + size // 4, p + 5),
    }


class _Placed(NamedTuple):
    tier: Tier
    network: ipaddress.IPv4Network
    computed: bool


def _overlap_problem(first: _Placed, second: _Placed) -> str | None:
    """The problem if two subnets overlap, worded from the side the user wrote."""
    if (first.computed and second.computed) or not first.network.overlaps(second.network):
        return None
    mine, theirs = (first, second) if second.computed else (second, first)
    if theirs.computed:
        return (
            f"{TIER_KEYS[mine.tier]}: {mine.network} overlaps {theirs.tier} subnet "
            f"{theirs.network} (computed; set {TIER_KEYS[theirs.tier]} to move it)"
        )
    return (
        f"{TIER_KEYS[mine.tier]}: {mine.network} overlaps {TIER_KEYS[theirs.tier]} {theirs.network}"
    )


def validate_layout(
    vpc_cidr: str,
    zone_count: int,
    public: Sequence[object] | None = None,
    private: Sequence[object] | None = None,
    database: Sequence[object] | None = None,
) -> list[str]:
    """Every problem with the subnets for ``zone_count`` zones, each prefixed by its key.

    ``vpc_cidr`` must already be valid (see :func:`vpc_problems`). Explicit tiers are checked
    for shape, size (/16../28), containment in the VPC and count; every subnet, explicit or
    computed, is checked against every other for overlap.

    >>> for problem in validate_layout("10.0.0.0/16", 2, public=["10.0.0.0/24", "10.1.0.0/24"]):
    ...     print(problem)
    public_subnets: 10.1.0.0/24 is outside vpc_cidr 10.0.0.0/16
    public_subnets: 10.0.0.0/24 overlaps private subnet 10.0.0.0/20 (computed; set \
private_subnets to move it)
    """
    vpc = parse_network(vpc_cidr)
    given: dict[Tier, Sequence[object] | None] = {
        "public": public,
        "private": private,
        "database": database,
    }
    problems: list[str] = []
    placed: list[_Placed] = []  # every subnet that parsed, in report order

    missing = [tier for tier in TIERS if given[tier] is None]
    if missing and zone_count > SLOTS:
        problems.append(
            f"availability_zones: {zone_count} zones but the automatic layout has {SLOTS} slots"
        )
    elif missing:
        try:
            computed = automatic_subnets(vpc_cidr, zone_count)
        except ValueError as exc:
            keys = ", ".join(TIER_KEYS[t] for t in missing)
            problems.append(f"vpc_cidr: {exc}; set {keys} explicitly")
            computed = {}
        for tier in missing:
            placed.extend(
                _Placed(tier, ipaddress.IPv4Network(c), True) for c in computed.get(tier, [])
            )

    for tier in TIERS:
        entries = given[tier]
        if entries is None:
            continue
        key = TIER_KEYS[tier]
        if len(entries) != zone_count:
            problems.append(
                f"{key}: {len(entries)} given but there are {zone_count} availability zones "
                "(give one subnet per zone, in zone order)"
            )
        for entry in entries:
            try:
                subnet = parse_network(entry)
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
                continue
            size = _size_problem(subnet)
            if size:
                problems.append(f"{key}: {size}")
            elif not subnet.subnet_of(vpc):
                problems.append(f"{key}: {subnet} is outside vpc_cidr {vpc}")
            else:
                placed.append(_Placed(tier, subnet, False))

    for j, later in enumerate(placed):
        problems.extend(p for earlier in placed[:j] if (p := _overlap_problem(earlier, later)))
    return problems


def plan_subnets(
    vpc_cidr: str,
    zones: Sequence[str],
    public: Sequence[str] | None = None,
    private: Sequence[str] | None = None,
    database: Sequence[str] | None = None,
) -> SubnetLayout:
    """The subnet of every tier in every zone; ``ConfigError`` listing all problems if invalid.

    Explicit tiers are used as given (``zones[i]`` gets the ``i``-th CIDR); the others come from
    the slot scheme described in the module docstring.

    >>> plan_subnets("10.0.0.0/20", ["us-west-2a"], public=["10.0.15.0/24"]).public
    (('us-west-2a', '10.0.15.0/24'),)
    """
    problems = vpc_problems(vpc_cidr)
    if not problems:
        problems = validate_layout(vpc_cidr, len(zones), public, private, database)
    if problems:
        raise ConfigError(problems)
    computed = (
        automatic_subnets(vpc_cidr, len(zones)) if None in (public, private, database) else {}
    )
    given: dict[Tier, Sequence[str] | None] = {
        "public": public,
        "private": private,
        "database": database,
    }

    def assign(tier: Tier) -> Assignment:
        cidrs = given[tier]
        chosen = [str(parse_network(c)) for c in cidrs] if cidrs is not None else computed[tier]
        return tuple(zip(zones, chosen, strict=True))

    return SubnetLayout(
        public=assign("public"), private=assign("private"), database=assign("database")
    )
