"""The subnet planner: exact default layouts, stability as zones are added, explicit subnets."""

from __future__ import annotations

import doctest
import itertools

import pytest

from provisioner import network
from provisioner.errors import ConfigError
from provisioner.network import plan_subnets, validate_layout, vpc_problems

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f")


def test_default_layout_two_zones() -> None:
    layout = plan_subnets("10.0.0.0/16", ZONES[:2])
    assert layout.private == (("us-east-1a", "10.0.0.0/20"), ("us-east-1b", "10.0.16.0/20"))
    assert layout.public == (("us-east-1a", "10.0.128.0/21"), ("us-east-1b", "10.0.136.0/21"))
    assert layout.database == (("us-east-1a", "10.0.192.0/21"), ("us-east-1b", "10.0.200.0/21"))
    assert layout.zones == ZONES[:2]


def test_default_layout_three_zones() -> None:
    layout = plan_subnets("10.0.0.0/16", ZONES[:3])
    assert [c for _, c in layout.private] == ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"]
    assert [c for _, c in layout.public] == ["10.0.128.0/21", "10.0.136.0/21", "10.0.144.0/21"]
    assert [c for _, c in layout.database] == ["10.0.192.0/21", "10.0.200.0/21", "10.0.208.0/21"]


def test_default_layout_six_zones() -> None:
    layout = plan_subnets("10.0.0.0/16", ZONES)
    assert layout.private == tuple(
        zip(ZONES, [f"10.0.{16 * i}.0/20" for i in range(6)], strict=True)
    )
    assert layout.public == tuple(
        zip(ZONES, [f"10.0.{128 + 8 * i}.0/21" for i in range(6)], strict=True)
    )
    assert layout.database == tuple(
        zip(ZONES, [f"10.0.{192 + 8 * i}.0/21" for i in range(6)], strict=True)
    )
    assert layout.cidr("database", "us-east-1f") == "10.0.232.0/21"


def test_adding_zones_never_moves_existing_subnets() -> None:
    layouts = [plan_subnets("10.20.0.0/16", ZONES[:n]) for n in range(1, 7)]
    for smaller, larger in itertools.pairwise(layouts):
        for tier in network.TIERS:
            grown = larger.tier(tier)
            assert grown[: len(smaller.tier(tier))] == smaller.tier(tier)


def test_twenty_bit_vpc_scales_the_layout() -> None:
    layout = plan_subnets("10.1.0.0/20", ZONES[:2])
    assert [c for _, c in layout.private] == ["10.1.0.0/24", "10.1.1.0/24"]
    assert [c for _, c in layout.public] == ["10.1.8.0/25", "10.1.8.128/25"]
    assert [c for _, c in layout.database] == ["10.1.12.0/25", "10.1.12.128/25"]


def test_smallest_vpc_for_the_automatic_layout_is_slash_23() -> None:
    layout = plan_subnets("192.168.0.0/23", ZONES[:2])
    assert [c for _, c in layout.private] == ["192.168.0.0/27", "192.168.0.32/27"]
    assert [c for _, c in layout.public] == ["192.168.1.0/28", "192.168.1.16/28"]
    assert [c for _, c in layout.database] == ["192.168.1.128/28", "192.168.1.144/28"]


def test_slash_24_vpc_asks_for_explicit_subnets() -> None:
    with pytest.raises(ConfigError) as err:
        plan_subnets("192.168.0.0/24", ZONES[:2])
    (problem,) = err.value.problems
    assert problem.startswith("vpc_cidr: 192.168.0.0/24 is too small")
    assert "public_subnets, private_subnets, database_subnets explicitly" in problem


def test_slash_24_vpc_works_with_explicit_subnets() -> None:
    layout = plan_subnets(
        "192.168.0.0/24",
        ZONES[:2],
        public=["192.168.0.0/28", "192.168.0.16/28"],
        private=["192.168.0.128/26", "192.168.0.192/26"],
        database=["192.168.0.32/28", "192.168.0.48/28"],
    )
    assert layout.cidr("private", "us-east-1b") == "192.168.0.192/26"


def test_more_zones_than_slots_is_an_error() -> None:
    problems = validate_layout("10.0.0.0/16", 9)
    assert problems == ["availability_zones: 9 zones but the automatic layout has 8 slots"]


def test_explicit_tier_alongside_computed_tiers() -> None:
    layout = plan_subnets("10.0.0.0/16", ZONES[:2], public=["10.0.250.0/24", "10.0.251.0/24"])
    assert layout.public == (("us-east-1a", "10.0.250.0/24"), ("us-east-1b", "10.0.251.0/24"))
    assert layout.private[0] == ("us-east-1a", "10.0.0.0/20")
    # the default database slots 10.0.192.0/21 and 10.0.200.0/21 do not reach 10.0.250.0
    assert layout.database[1] == ("us-east-1b", "10.0.200.0/21")


def test_explicit_subnet_outside_the_vpc() -> None:
    problems = validate_layout("10.0.0.0/16", 2, public=["10.0.240.0/24", "10.1.0.0/24"])
    assert problems == ["public_subnets: 10.1.0.0/24 is outside vpc_cidr 10.0.0.0/16"]


def test_explicit_subnets_overlapping_each_other_across_tiers() -> None:
    problems = validate_layout(
        "10.0.0.0/16",
        1,
        public=["10.0.128.0/24"],
        private=["10.0.0.0/17"],
        database=["10.0.128.128/25"],
    )
    assert problems == ["database_subnets: 10.0.128.128/25 overlaps public_subnets 10.0.128.0/24"]


def test_explicit_subnet_overlapping_a_computed_one_names_both_keys() -> None:
    problems = validate_layout("10.0.0.0/16", 2, database=["10.0.4.0/24", "10.0.250.0/24"])
    assert problems == [
        "database_subnets: 10.0.4.0/24 overlaps private subnet 10.0.0.0/20 "
        "(computed; set private_subnets to move it)"
    ]


def test_duplicate_subnet_within_a_tier() -> None:
    problems = validate_layout("10.0.0.0/16", 2, private=["10.0.0.0/20", "10.0.0.0/20"])
    assert problems == ["private_subnets: 10.0.0.0/20 overlaps private_subnets 10.0.0.0/20"]


def test_explicit_subnet_count_must_match_zones() -> None:
    problems = validate_layout("10.0.0.0/16", 3, private=["10.0.0.0/20", "10.0.16.0/20"])
    assert problems == [
        "private_subnets: 2 given but there are 3 availability zones "
        "(give one subnet per zone, in zone order)"
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("10.0.0.1/24", "'10.0.0.1/24' has host bits set (did you mean 10.0.0.0/24?)"),
        ("10.0.0.0", "'10.0.0.0' is not an IPv4 CIDR block like 10.0.0.0/16"),
        ("10.0.0.0/255.255.255.0", "is not an IPv4 CIDR block"),
        ("300.0.0.0/24", "'300.0.0.0/24' is not a valid IPv4 network"),
        ("10.0.0.0/29", "10.0.0.0/29 is /29; AWS allows /16 to /28"),
        (7, "7 is not an IPv4 CIDR block"),
    ],
)
def test_malformed_explicit_subnets(entry: object, expected: str) -> None:
    problems = validate_layout("10.0.0.0/16", 1, public=[entry])
    assert len(problems) == 1
    assert problems[0].startswith("public_subnets: ")
    assert expected in problems[0]


def test_all_problems_are_reported_together() -> None:
    problems = validate_layout(
        "10.0.0.0/16", 2, public=["10.9.0.0/24"], private=["bad", "10.0.0.0/20"]
    )
    assert problems == [
        "public_subnets: 1 given but there are 2 availability zones "
        "(give one subnet per zone, in zone order)",
        "public_subnets: 10.9.0.0/24 is outside vpc_cidr 10.0.0.0/16",
        "private_subnets: 'bad' is not an IPv4 CIDR block like 10.0.0.0/16",
    ]


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("10.0.0.0/16", []),
        ("10.0.0.0/28", []),
        ("10.0.0.0/15", ["vpc_cidr: 10.0.0.0/15 is /15; AWS allows /16 to /28"]),
        ("127.0.0.0/16", ["vpc_cidr: 127.0.0.0/16 lies in 127.0.0.0/8"]),
        ("172.17.0.0/16", ["vpc_cidr: 172.17.0.0/16 overlaps 172.17.0.0/16"]),
        ("10.0.0.1/16", ["vpc_cidr: '10.0.0.1/16' has host bits set"]),
    ],
)
def test_vpc_cidr_checks(cidr: str, expected: list[str]) -> None:
    problems = vpc_problems(cidr)
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)


def test_module_examples_hold() -> None:
    """The README quotes the module docstrings, so their examples must stay true."""
    result = doctest.testmod(network)
    assert result.attempted >= 8
    assert result.failed == 0
