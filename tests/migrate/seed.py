"""The Terraform seed fixture and its variants, as raw state documents.

``tests/fixtures/terraform-seed`` holds a state and ``terraform show -json`` written by a real
Terraform 1.11.4 apply (hashicorp/aws 5.100.0) of the configuration beside them, against a moto
server that is gone. Variants are made by editing the raw state as Terraform would have written
it for other inputs (one NAT gateway per zone), for a half-finished apply, or with resources that
are not part of the stack.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEED = Path(__file__).resolve().parent.parent / "fixtures" / "terraform-seed"
STATE_FILE = SEED / "terraform.tfstate"
SHOW_FILE = SEED / "show.json"

_fake = itertools.count(0xA0)


def load_state() -> dict[str, Any]:
    return json.loads(STATE_FILE.read_text())


def load_show() -> dict[str, Any]:
    return json.loads(SHOW_FILE.read_text())


def fake_id(prefix: str) -> str:
    """An id of AWS's shape no real resource has (17 hex digits after the prefix)."""
    return f"{prefix}-{next(_fake):017x}"


def instances(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(resource, instance) for every managed instance of a state v4 document."""
    for resource in doc["resources"]:
        if resource["mode"] != "managed":
            continue
        for instance in resource["instances"]:
            yield resource, instance


def address(resource: dict[str, Any], instance: dict[str, Any]) -> str:
    base = f"{resource['type']}.{resource['name']}"
    if resource.get("module"):
        base = f"{resource['module']}.{base}"
    index = instance.get("index_key")
    if index is None:
        return base
    return base + (f"[{index}]" if isinstance(index, int) else f"[{json.dumps(index)}]")


def find(doc: dict[str, Any], wanted: str) -> dict[str, Any]:
    """The instance at ``wanted``'s address (its attributes are edited in place)."""
    for resource, instance in instances(doc):
        if address(resource, instance) == wanted:
            return instance
    raise KeyError(wanted)


def block(doc: dict[str, Any], module: str, type_: str, name: str) -> dict[str, Any]:
    for resource in doc["resources"]:
        if (
            resource.get("module", "") == module
            and resource["type"] == type_
            and resource["name"] == name
            and resource["mode"] == "managed"
        ):
            return resource
    raise KeyError(f"{module}.{type_}.{name}")


def drop(doc: dict[str, Any], wanted: str) -> dict[str, Any]:
    """A copy without the instance at ``wanted`` (what a failed apply never made)."""
    out = copy.deepcopy(doc)
    for resource in out["resources"]:
        resource["instances"] = [i for i in resource["instances"] if address(resource, i) != wanted]
    out["resources"] = [r for r in out["resources"] if r["instances"]]
    return out


def taint(doc: dict[str, Any], wanted: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    find(out, wanted)["status"] = "tainted"
    return out


def with_resource(
    doc: dict[str, Any], module: str, type_: str, name: str, attributes: dict[str, Any]
) -> dict[str, Any]:
    """A copy with one more managed resource (a single instance)."""
    out = copy.deepcopy(doc)
    entry: dict[str, Any] = {
        "mode": "managed",
        "type": type_,
        "name": name,
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [{"schema_version": 0, "attributes": attributes, "dependencies": []}],
    }
    if module:
        entry["module"] = module
    out["resources"].append(entry)
    return out


def per_zone_nat(doc: dict[str, Any]) -> dict[str, Any]:
    """The same stack with ``vpc_redundancy = true`` (the module's one_nat_gateway_per_az):
    a NAT gateway, Elastic IP, private route table and default route per zone, each zone's
    private and database subnets on its own table, the S3 endpoint on every private table."""
    out = copy.deepcopy(doc)
    module = "module.vpc"
    subnets = block(out, module, "aws_subnet", "public")["instances"]
    zones = [s["attributes"]["availability_zone"] for s in subnets]
    eips = block(out, module, "aws_eip", "nat")["instances"]
    nats = block(out, module, "aws_nat_gateway", "this")["instances"]
    tables = block(out, module, "aws_route_table", "private")["instances"]
    routes = block(out, module, "aws_route", "private_nat_gateway")["instances"]
    env = tables[0]["attributes"]["tags"]["Name"].rsplit("-private", 1)[0]
    _name(tables[0], f"{env}-private-{zones[0]}")
    for i, zone in enumerate(zones[1:], start=1):
        eip = copy.deepcopy(eips[0])
        eip["index_key"] = i
        eip_id = fake_id("eipalloc")
        eip["attributes"].update(id=eip_id, allocation_id=eip_id, public_ip=f"127.0.0.{i + 10}")
        eip["attributes"]["arn"] = eip["attributes"]["arn"].rsplit("/", 1)[0] + f"/{eip_id}"
        _name(eip, f"{env}-{zone}")
        eips.append(eip)
        nat = copy.deepcopy(nats[0])
        nat["index_key"] = i
        nat_id = fake_id("nat")
        nat["attributes"].update(
            id=nat_id, allocation_id=eip_id, subnet_id=subnets[i]["attributes"]["id"]
        )
        _name(nat, f"{env}-{zone}")
        nats.append(nat)
        table = copy.deepcopy(tables[0])
        table["index_key"] = i
        table_id = fake_id("rtb")
        table["attributes"].update(id=table_id)
        table["attributes"]["arn"] = table["attributes"]["arn"].rsplit("/", 1)[0] + f"/{table_id}"
        _name(table, f"{env}-private-{zone}")
        tables.append(table)
        route = copy.deepcopy(routes[0])
        route["index_key"] = i
        route["attributes"].update(
            id=f"r-{table_id}1080289494", route_table_id=table_id, nat_gateway_id=nat_id
        )
        routes.append(route)
        for tier in ("private", "database"):
            assoc = find(out, f"{module}.aws_route_table_association.{tier}[{i}]")
            assoc["attributes"]["route_table_id"] = table_id
    s3 = find(out, 'module.vpc_endpoints.aws_vpc_endpoint.this["s3"]')
    s3["attributes"]["route_table_ids"] = sorted(t["attributes"]["id"] for t in tables)
    return out


def _name(instance: dict[str, Any], name: str) -> None:
    for field in ("tags", "tags_all"):
        instance["attributes"][field] = {**instance["attributes"][field], "Name": name}


def write(doc: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(doc, indent=2))
    return path
