"""Every kind in the registry keeps the contract of ``provisioner/engine/contract.py``.

Each kind's resource from the default stack is taken through its whole life with the kind's own
verbs (the default stack with every boolean setting on, so a kind behind a switch is covered),
against in-process moto (answering as ``--local`` runs it): create (tags written by the
create call itself, the engine's token sent as ClientToken where the API takes one) -> read (no
diff) -> update where it can change in place -> delete -> delete again (already gone is success)
-> read of the missing resource (absent) -> made again, then found by tag or by name as a key the
state does not know (adoption). The VPC's default objects are adopted, never made or deleted:
they stay readable after their delete. The prerequisites (what the resource refers to) are made
by the engine first, from the real blueprint.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from provisioner.config import CONFIG_KEYS
from provisioner.engine.contract import Ctx, Kind, ReadItem
from provisioner.engine.model import Desired, Live, resolve
from provisioner.kind_helpers.vpc_default import VpcDefault
from provisioner.kinds import REGISTRY
from tests.kinds.network_helpers import ACCOUNT, ZONES, MiniStack, Sent, desired_for

KINDS_DIR = Path(__file__).resolve().parents[2] / "provisioner" / "kinds"
#: Calls that tag an existing resource: a create that needs one left its resource untagged.
TAGGING_CALLS = frozenset(
    {
        "CreateTags",
        "TagResource",
        "TagRole",
        "TagLogGroup",
        "PutBucketTagging",
        "AddTagsToResource",
    }
)


#: The default stack with every switch on: a kind behind a boolean setting is covered too.
SWITCHES_ON = "\n".join(f"{k.name} = true" for k in CONFIG_KEYS if k.type == "boolean") + "\n"


def _blueprint(tmp_path: Path) -> dict[str, Desired]:
    from provisioner import blueprint
    from provisioner.config import load_config

    (tmp_path / "smprov.toml").write_text(SWITCHES_ON)
    config = load_config(None, cwd=tmp_path).resolve(ZONES)
    return {d.key: d for d in blueprint.build(config, account=ACCOUNT)}


def _representative(tmp_path: Path, kind: str) -> str:
    """The first resource of ``kind`` in the stack."""
    return next(d.key for d in _blueprint(tmp_path).values() if d.kind == kind)


def test_every_kind_of_the_registry_is_in_the_stack(tmp_path: Path) -> None:
    assert {d.kind for d in _blueprint(tmp_path).values()} == set(REGISTRY)


def _changed(kind: Kind, spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The spec with one field AWS changes in place, or None when the kind has none."""
    if "tags" in spec:
        return {**spec, "tags": {**spec["tags"], "contract": "updated"}}
    if "policy" in spec:
        policy = dict(spec["policy"])
        first = {**policy["Statement"][0], "Sid": "ContractUpdated"}
        return {**spec, "policy": {**policy, "Statement": [first, *policy["Statement"][1:]]}}
    return None


class Life:
    """One resource of one kind, taken through its life with the kind's verbs."""

    def __init__(self, stack: MiniStack, kind: Kind, desired: Desired) -> None:
        self.stack, self.kind, self.desired = stack, kind, desired
        self.lives = {
            key: Live(rec.id, stack.state.attrs.get(key, {}))
            for key, rec in stack.state.resources.items()
        }
        self.spec: dict[str, Any] = resolve(dict(desired.spec), self.lives)
        self.ctx: Ctx = stack.ctx(delete_data=True, delete_logs=True)

    def read(self, recorded_id: str | None, spec: Mapping[str, Any] | None = None) -> Live | None:
        item = ReadItem(self.desired.key, recorded_id, spec or self.desired.spec)
        found = self.kind.read(self.ctx, [item], lambda v: resolve(v, self.lives))
        return found.get(self.desired.key)

    def create(self, token: str) -> Live:
        return self.kind.create(self.ctx, self.desired.key, self.spec, token)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_a_kind_keeps_the_contract_through_its_whole_life(
    moto: None, tmp_path: Path, name: str
) -> None:
    kind = REGISTRY[name]
    key = _representative(tmp_path, name)
    desired = {d.key: d for d in desired_for(tmp_path, [key], SWITCHES_ON)}
    stack = MiniStack.start()
    stack.up([d for k, d in desired.items() if k != key])
    life = Life(stack, kind, desired[key])
    adopted_only = isinstance(kind, VpcDefault)

    # create: tagged by the create call itself, the engine's token as ClientToken
    sent = Sent()
    stack.clients.add_hook("before-parameter-build.*.*", sent.hook)
    stack.log.clear()
    live = life.create("contract-token-1")
    if not adopted_only:
        assert TAGGING_CALLS.isdisjoint(stack.log.mutating), stack.log.mutating
    if kind.uses_token():
        assert any(call.get("ClientToken") == "contract-token-1" for call in sent.calls)

    # read: the resource as created, no difference from its spec
    found = life.read(live.id)
    assert found is not None and found.id == live.id
    assert kind.diff(found, life.spec) == []

    # update, where AWS changes something in place
    changed = _changed(kind, life.spec)
    if changed is not None:
        changes = kind.diff(found, changed)
        assert changes and not any(c.forces_replace for c in changes)
        kind.update(life.ctx, found, changed, changes)
        found = life.read(live.id)
        assert found is not None and kind.diff(found, changed) == []
        life.spec = changed

    # delete, delete again (already gone is success), read of what is gone
    assert kind.delete(life.ctx, found) is None
    assert kind.delete(life.ctx, found) is None
    after = life.read(found.id)
    if adopted_only:  # AWS's own object, gone only with its VPC: forgotten, not deleted
        assert after is not None and after.id == found.id
    else:
        assert after is None

    # adoption: made again (or still there), found as a key the state does not know
    again = found if adopted_only else life.create("contract-token-2")
    adopted = life.read(None)
    assert adopted is not None and adopted.id == again.id


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(KINDS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_kinds_never_import_each_other_nor_the_cli_side(path: Path) -> None:
    if path.name == "__init__.py":  # the registry imports them all, by design
        return
    imported = _imports(path)
    assert not {m for m in imported if m.startswith("provisioner.kinds")}, imported
    assert not {m for m in imported if m.split(".")[0] in ("rich", "typer")}, imported
