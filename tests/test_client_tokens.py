"""ClientToken: a create retried after a crash is the same request to AWS; a new create is not.

moto never honours ClientToken (moto-notes §3), so :class:`TokenLedger` plays AWS's part on top
of it with botocore event hooks: a request carrying a token AWS has already answered, with the
same parameters, gets the first answer again (nothing new is made); with other parameters it gets
``IdempotentParameterMismatch``. The ledger also records every token sent, and can hide a
resource from the stack's tag-filtered describes, which is how AWS's eventual consistency looks
to a run that resumes right after a crash: the refresh does not see what the killed run made, so
the engine creates again, and only the token stands between that retry and a duplicate.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from provisioner import blueprint, operations
from provisioner.aws.clients import Clients, is_read_operation
from provisioner.config import load_config
from provisioner.engine.contract import KEY_TAG, STACK_TAG
from provisioner.kinds import REGISTRY
from provisioner.store.local import LocalBackend
from tests.test_crash_matrix import (
    CONFIG,
    ENV,
    REGION,
    Account,
    Killed,
    KillSwitch,
    compare,
    fake_aws_env,
    fresh_account,
    run,
    stack_items,
)

ZONES = [f"{REGION}{letter}" for letter in "abcdef"]
#: AWS's limit for a ClientToken (EC2 "Ensuring idempotency").
TOKEN_MAX = 64


@dataclass(frozen=True)
class Sent:
    operation: str
    key: str | None
    token: str | None
    accepts_token: bool


@dataclass
class TokenLedger:
    """AWS's ClientToken semantics over moto, and a log of every mutating request."""

    sent: list[Sent] = field(default_factory=list)
    answers: dict[str, tuple[str, str, Any, Any]] = field(default_factory=dict)
    #: ``smprov:key`` values that tag-filtered describes do not return (not yet consistent).
    hidden: set[str] = field(default_factory=set)

    def install(self, clients: Clients) -> None:
        clients.add_hook("before-parameter-build.*.*", self._remember)
        clients.add_hook("before-call.*.*", self._replay)
        clients.add_hook("after-call.*.*", self._answered)

    def reset(self) -> None:
        self.sent.clear()
        self.answers.clear()
        self.hidden.clear()

    def tokens(self, key: str) -> list[str]:
        return [s.token for s in self.sent if s.key == key and s.token]

    def _remember(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        context["filters"] = params.get("Filters") or params.get("Filter") or []
        if is_read_operation(model.name):
            return
        tags = [t for spec in params.get("TagSpecifications") or [] for t in spec["Tags"]]
        key = next((t["Value"] for t in tags if t["Key"] == KEY_TAG), None)
        token = params.get("ClientToken")
        rest = {k: v for k, v in params.items() if k != "ClientToken"}
        context["token"] = token
        context["key"] = key
        context["request"] = json.dumps(rest, sort_keys=True, default=str)
        accepts = "ClientToken" in model.input_shape.members
        self.sent.append(Sent(model.name, key, token, accepts))

    def _replay(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        token = context.get("token")
        if not token or token not in self.answers:
            return None
        operation, request, http, parsed = self.answers[token]
        if operation == model.name and request == context["request"]:
            return http, copy.deepcopy(parsed)
        error = {"Code": "IdempotentParameterMismatch", "Message": f"token {token} reused"}
        return AWSResponse("https://ec2", 400, {}, None), {"Error": error}

    def _answered(
        self, model: Any, context: dict[str, Any], http_response: Any, parsed: Any, **_: Any
    ) -> None:
        token = context.get("token")
        if token and token not in self.answers and http_response.status_code < 300:
            self.answers[token] = (
                model.name,
                context["request"],
                http_response,
                copy.deepcopy(parsed),
            )
        if self.hidden and any(f.get("Name") == f"tag:{STACK_TAG}" for f in context["filters"]):
            for name, value in parsed.items():
                if isinstance(value, list):
                    parsed[name] = [item for item in value if not self._is_hidden(item)]

    def _is_hidden(self, item: Any) -> bool:
        if not isinstance(item, dict):
            return False
        return any(t["Key"] == KEY_TAG and t["Value"] in self.hidden for t in item.get("Tags", []))


@pytest.fixture(scope="module")
def ledger_account() -> Iterator[tuple[Account, TokenLedger]]:
    with fake_aws_env():
        clients = Clients(REGION, max_attempts=1)
        ledger = TokenLedger()
        ledger.install(clients)  # first, so it sees each answer before the kill switch acts
        yield Account(clients), ledger


@pytest.fixture
def setup(
    ledger_account: tuple[Account, TokenLedger], tmp_path: Path
) -> tuple[Account, TokenLedger, Path]:
    account, ledger = ledger_account
    ledger.reset()
    (tmp_path / "smprov.toml").write_text(CONFIG)
    return account, ledger, tmp_path


def token_keys() -> list[tuple[str, str]]:
    """(kind, first key) for every kind of the stack whose create sends a ClientToken."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "smprov.toml").write_text(CONFIG)
        config = load_config(None, cwd=Path(tmp)).resolve(ZONES)
    desired = blueprint.build(config, account="123456789012")
    first: dict[str, str] = {}
    for d in desired:
        if REGISTRY[d.kind].uses_token():
            first.setdefault(d.kind, d.key)
    return sorted(first.items())


@pytest.mark.parametrize(("kind", "key"), token_keys(), ids=lambda v: str(v))
def test_a_create_retried_after_a_crash_sends_the_same_token(
    setup: tuple[Account, TokenLedger, Path], kind: str, key: str
) -> None:
    account, ledger, workdir = setup
    with fresh_account(account) as baseline:
        account.switch = KillSwitch(
            when=lambda _op, ctx: ctx.get("key") == key and bool(ctx["token"])
        )
        with pytest.raises(Killed):
            run(account, workdir)
        (token,) = ledger.tokens(key)
        state = LocalBackend(workdir / "state" / f"{ENV}.json").read()
        assert state is not None
        assert key not in state.resources
        assert state.intents[key].token == token  # written before the call was sent
        made = ledger.answers[token][3]

        # The resumed run's refresh does not see it yet (AWS's reads are eventually consistent).
        ledger.hidden = {key}
        account.switch = KillSwitch()
        _plan, report, final = run(account, workdir)
        ledger.hidden = set()
        assert report.ok, [(node, r.message) for node, r in report.failed]
        assert ledger.tokens(key) == [token, token]
        assert final.resources[key].id in json.dumps(made, default=str)
        assert compare(stack_items(account.clients, baseline), final) == []


def test_every_call_that_accepts_a_token_sends_one(
    setup: tuple[Account, TokenLedger, Path],
) -> None:
    account, ledger, workdir = setup
    with fresh_account(account):
        run(account, workdir)
    accepting = [s for s in ledger.sent if s.accepts_token]
    assert accepting, "the stack makes no call that takes a ClientToken"
    assert [s for s in accepting if not s.token] == []
    keyed = {s.key for s in accepting}
    desired = {key for _kind, key in token_keys()}
    assert desired <= keyed
    tokens = [s.token for s in accepting]
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) <= TOKEN_MAX and t.isascii() for t in tokens if t)


def test_a_new_create_sends_a_new_token(setup: tuple[Account, TokenLedger, Path]) -> None:
    """After `down`, `up` makes new resources: reusing a token would make AWS return the old,
    deleted one (or refuse the request), so every token must differ from the first run's."""
    account, ledger, workdir = setup
    with fresh_account(account):
        run(account, workdir)
        first = {s.key: s.token for s in ledger.sent if s.token}
        run(account, workdir, operations.plan_down, delete_data=True, delete_logs=True)
        ledger.sent.clear()
        _plan, report, _final = run(account, workdir)
        assert report.ok
        second = {s.key: s.token for s in ledger.sent if s.token}
    assert second.keys() == first.keys()
    assert [k for k in first if first[k] == second[k]] == []
