"""AWS-side checks of the configuration, run before any change: what only AWS can reveal
(an endpoint service missing from the region, a managed policy that does not exist).

Each check is a read and a judgement. The read is read-only and region-level (it needs no
availability zones), so it goes out in the start-up's one round, next to the identity and zone
reads; the judgement is pure and sees the zone-resolved configuration (or, when the zones could
not be resolved, the configuration as written). Every problem is a configuration problem: the
caller reports them together with the others, exit 2, before anything changes.

The checks also run when the configuration has other problems, on the keys that are valid, so
that one run reports everything (``skip`` names the keys that are not).

Adding a check: a module with ``read(clients, config)`` (return None when there is nothing to
ask, so the default stack's call budget stays as it is) and ``judge(facts, config) -> [str]``
(one line per problem, each starting with the configuration key), and a ``Check`` in CHECKS
naming the keys it judges; a check that also settles a value (``kms_key_id`` as the key's ARN)
gives ``resolve``. A teardown skips every check: a configuration that could not be created must
not block `down`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from provisioner.config import StackConfig
from provisioner.preflight import endpoint_services, kms_key, managed_policies


@dataclass(frozen=True)
class Check:
    """One AWS-side check of the configuration ``keys``: ``read`` asks AWS (read-only),
    ``judge`` turns the answer into problems."""

    keys: tuple[str, ...]
    read: Callable[[Any, StackConfig], Any]
    judge: Callable[[Any, StackConfig], list[str]]
    #: The configuration with what the read settled (only once ``judge`` found no problem).
    resolve: Callable[[Any, StackConfig], StackConfig] | None = None


CHECKS: tuple[Check, ...] = (
    Check(("region", "interface_endpoints"), endpoint_services.read, endpoint_services.judge),
    Check(("managed_policy_arns",), managed_policies.read, managed_policies.judge),
    Check(("kms_key_id",), kms_key.read, kms_key.judge, kms_key.resolve),
)


def applicable(skip: Collection[str] = (), checks: Sequence[Check] = CHECKS) -> list[Check]:
    """The checks that judge none of the ``skip`` keys (keys whose value is invalid)."""
    return [check for check in checks if not set(check.keys) & set(skip)]


def reads(
    clients: Any, config: StackConfig, checks: Sequence[Check] = CHECKS
) -> list[Callable[[], Any]]:
    """The checks' reads as calls to send together with the other start-up reads."""
    return [partial(check.read, clients, config) for check in checks]


def judge(facts: Sequence[Any], config: StackConfig, checks: Sequence[Check] = CHECKS) -> list[str]:
    """Every problem the checks find in what their reads returned (``facts``, in order)."""
    return [
        problem
        for check, answer in zip(checks, facts, strict=True)
        for problem in check.judge(answer, config)
    ]


def resolve(
    facts: Sequence[Any], config: StackConfig, checks: Sequence[Check] = CHECKS
) -> StackConfig:
    """``config`` with the values the checks' reads settled (call once ``judge`` is clean)."""
    for check, answer in zip(checks, facts, strict=True):
        if check.resolve is not None:
            config = check.resolve(answer, config)
    return config
