"""The contract every resource kind follows: the same verbs, the same rules.

A kind is a small class that knows one AWS resource type (``provisioner/kinds/``). The engine
knows no AWS: it calls these verbs and records what they return. The contract lives here, with
the engine that calls it, so kinds depend on the engine and never the other way round.

Rules (the life of every kind in the registry -- create, read, update, delete twice, read of
what is gone, adoption -- is checked by tests/kinds/test_contract.py; the rest where noted):
1. ``read`` finds every resource of the kind the blueprint or the state mentions, and reads of a
   kind do not grow with its resources. EC2 kinds make one describe filtered on the
   ``smprov:stack`` tag (plus one by id for recorded resources whose tag went missing), so the
   same call finds resources the state does not know yet (a crash between create and record, a
   lost state file): they come back keyed by their ``smprov:key`` tag and the engine adopts them
   instead of creating a duplicate. Kinds AWS reads only by name (buckets, roles) read each
   resource by its name, all at once (``Ctx.read_each``). A resource in a terminal state
   (``deleted``, ``deleting``, ``failed``) reads as absent (counts: tests/test_call_budget.py).
2. Tags are written by the create call itself (``TagSpecifications``, ``Tags=``,
   ``CreateBucketConfiguration.Tags``) so a resource is never untagged, even for a moment; later
   changes go through ``aws.tags.compare_tags``. The VPC's default objects, made by AWS, are
   tagged when adopted.
3. ``create`` passes ``token`` as ``ClientToken`` where the API takes one (``uses_token``); the
   engine records the token as an intent in the state before the call, so a retried create after
   a crash is the same request to AWS.
4. Waits are bounded and use ``ctx.timing``; they raise AwsError with AWS's own failure message.
   A kind that waits says how it is polled (``Ec2Kind.polled``: its describe, its id filter, its
   ``failure`` reason), and the shared poller reads every waiting resource of the kind in one call
   per round (tests/aws/test_waiters.py).
5. ``delete`` of something already gone succeeds. ``update`` changes only fields not in
   ``replace_on`` (those force a replacement, decided by the planner).
6. Kinds never import each other, rich or typer; they know only ``Ctx``, boto3 and
   ``kind_helpers``.
7. A kind declares the IAM actions its verbs call (``grants``): `smprov permissions` assembles
   the deployer's policy from them (every action is used, every call allowed:
   tests/test_permissions.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from provisioner.aws.clients import Clients
from provisioner.aws.concurrent import gather, gather_settled
from provisioner.aws.read_cache import ReadCache
from provisioner.aws.retry import Timing, retry_when, wait_until
from provisioner.engine.model import UNKNOWN, FieldChange, Live

Resolver = Callable[[Any], Any]

STACK_TAG = "smprov:stack"
KEY_TAG = "smprov:key"
#: The lineage of the state that made the resource: only that state changes it silently.
LINEAGE_TAG = "smprov:lineage"


def _ignore(_message: str) -> None:
    return None


@dataclass(frozen=True)
class Ctx:
    """Everything a kind needs, passed explicitly (never global)."""

    clients: Clients
    stack: str
    region: str
    account: str
    #: The run's parallelism (the config's ``parallelism``, or ``--parallelism``): steps and
    #: calls at once; 1 keeps every call in order (``gather`` and the refresh included).
    parallelism: int
    partition: str = "aws"
    timing: Timing = field(default_factory=Timing)
    report: Callable[[str], None] = _ignore
    delete_data: bool = False
    delete_logs: bool = False
    #: Set during a refresh so kinds reading the same describe share one call.
    read_cache: ReadCache | None = None
    #: Reading for a teardown (`down`, `plan --destroy`): what exists and its id is all the plan
    #: needs, so kinds skip the reads that only serve a diff (a bucket's settings, a role's
    #: policies, tags read by a separate call).
    teardown: bool = False
    #: The lineage of the state this run writes (the ``smprov:lineage`` tag of what it makes).
    lineage: str | None = None

    def for_step(self, report: Callable[[str], None]) -> Ctx:
        """A copy whose ``report`` shows what one running step is doing or waiting for."""
        return dataclasses.replace(self, report=report)

    def client(self, service: str) -> Any:
        return self.clients(service)

    def gather(self, calls: Sequence[Callable[[], Any]]) -> list[Any]:
        """Independent calls at once (up to the run's parallelism); results in order."""
        return gather(calls, at_once=self.parallelism)

    def gather_settled(self, calls: Sequence[Callable[[], Any]]) -> list[Any]:
        """Like ``gather``, with each call's exception in place of its result."""
        return gather_settled(calls, at_once=self.parallelism)

    def with_guesses(
        self, main: Callable[[], Any], guesses: Mapping[Any, Callable[[], Any]]
    ) -> tuple[Any, dict[Any, Any]]:
        """``main`` together with reads sent on a guess (about resources the state records,
        before ``main`` says they exist): ``main``'s failure raises; a guess that failed is
        left out (its resource is gone, or the caller reads it again)."""
        keys = list(guesses)
        first, *answers = self.gather_settled([main, *guesses.values()])
        if isinstance(first, Exception):
            raise first
        return first, {
            key: answer
            for key, answer in zip(keys, answers, strict=True)
            if not isinstance(answer, Exception)
        }

    def read_each(
        self, items: Sequence[ReadItem], read_item: Callable[[ReadItem], Live | None]
    ) -> dict[str, Live]:
        """For kinds read one resource at a time (by name: buckets, roles): all at once."""
        found = self.gather([lambda item=item: read_item(item) for item in items])
        return {item.key: live for item, live in zip(items, found, strict=True) if live is not None}

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )

    def retry(
        self,
        fn: Callable[[], Any],
        *,
        codes: Sequence[str],
        what: str,
        timeout: float | None = None,
        message_contains: str | None = None,
    ) -> Any:
        return retry_when(
            fn,
            codes=codes,
            timeout=self.timing.consistency_timeout if timeout is None else timeout,
            timing=self.timing,
            what=what,
            message_contains=message_contains,
        )

    def wait(self, check: Callable[[], Any], *, what: str, timeout: float | None = None) -> Any:
        self.report(f"waiting for {what}")
        return wait_until(
            check,
            timeout=self.timing.ready_timeout if timeout is None else timeout,
            timing=self.timing,
            what=what,
        )


@dataclass(frozen=True)
class Grant:
    """IAM actions (``service:Action``) a kind's verbs call, and the statement of the deployer's
    policy (`smprov permissions`) that allows them.

    ``statement`` is the Sid of a statement ``provisioner/permissions.py`` scopes -- which
    resources, under which conditions: ``Ec2Read`` for describes, ``Ec2StackResources`` for
    changes to resources tagged as the stack's, ``Roles`` for the stack's roles, and so on -- or,
    with ``resource``, the kind's own statement on that ARN, where ``{partition}``,
    ``{region}``, ``{account}`` and ``{environment}`` are filled in.
    """

    statement: str
    actions: tuple[str, ...]
    #: An EC2 create: the resource type it makes (``vpc``), allowed only tagged as the stack's.
    creates: str | None = None
    resource: str | None = None
    #: For a kind behind a switch: the boolean setting that puts it in the stack. The policy
    #: grants the actions only when it is on.
    setting: str | None = None


@dataclass(frozen=True)
class ReadItem:
    """A key the engine wants read: its recorded id (if any) and its unresolved desired spec."""

    key: str
    id: str | None
    spec: Mapping[str, Any] | None
    #: The attributes the state recorded for it: what only smprov knows (e.g. the object
    #: versions it wrote), which a kind carries into the Live it reads.
    recorded: Mapping[str, Any] | None = None
    #: The name an unfinished create asked for (its intent, for name-keyed kinds): a resource
    #: of the account with that name is the one that create made, tagged or not.
    intended: str | None = None


class Kind:
    """Defaults shared by every kind; subclasses set the class attributes and the verbs."""

    name: ClassVar[str]
    #: Fields AWS cannot change in place: a change plans as a replacement.
    replace_on: ClassVar[frozenset[str]] = frozenset()
    #: Fields compared as sets (order does not matter).
    unordered: ClassVar[frozenset[str]] = frozenset()
    #: Spec fields used only at create time and never compared (e.g. the content source path).
    create_only: ClassVar[frozenset[str]] = frozenset()
    #: Spec fields the plan does not list: how smprov does its job (digests, a local path), not
    #: what the user asked for. A change of one shows as "changed".
    hidden: ClassVar[frozenset[str]] = frozenset()
    #: Deleting it keeps what it holds unless the user asks (log groups, buckets with data),
    #: so replacing it destroys nothing: no --allow-replace needed.
    retains_data: ClassVar[bool] = False
    #: The `down` flag that deletes what such a kind keeps (``--delete-data``).
    keep_flag: ClassVar[str] = ""
    #: Whether ``read`` needs no ids of other kinds (EC2 kinds read by the stack tag, name-keyed
    #: kinds by a name known from the config): such kinds are all read in the first wave.
    reads_independently: ClassVar[bool] = False
    #: The spec field holding the name AWS keys it by (name-keyed kinds: bucket, role, log
    #: group, DB subnet group): recorded with a create's intent.
    name_field: ClassVar[str | None] = None
    #: What the plan calls this kind in its output ("subnet", "NAT gateway").
    label: ClassVar[str] = ""
    #: AWS's typical seconds until a new one is usable / a deleted one is gone (NAT gateways:
    #: minutes). The executor starts the chains leading to long waits first.
    create_seconds: ClassVar[float] = 0.0
    delete_seconds: ClassVar[float] = 0.0
    #: The IAM actions its verbs call, by the statement of the deployer's policy that allows
    #: them (rule 7).
    grants: ClassVar[tuple[Grant, ...]] = ()

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        """Live resources for ``items`` (missing ones absent), plus any other resource of this
        stack and kind that AWS has (keyed by its ``smprov:key`` tag): those are adopted or, when
        no longer desired, deleted. ``resolve`` turns a spec's Refs into ids of resources the same
        refresh has already read (UNKNOWN when not known), for kinds found through their parent.
        """
        raise NotImplementedError

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        raise NotImplementedError

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        raise NotImplementedError(f"{self.name} cannot be updated in place")

    def delete(self, ctx: Ctx, live: Live) -> str | None:
        """Delete it (already gone is success). Return a reason instead to keep it: data the
        user did not ask to delete (``--delete-data``, ``--delete-logs``) stays, and so does its
        state entry."""
        raise NotImplementedError

    def keeps(self, live: Live, *, delete_data: bool, delete_logs: bool) -> str | None:
        """What a `down` with these flags would keep of ``live``, as far as the plan can tell
        (it reads no contents): a note for the plan, or None (it is deleted)."""
        return None

    def update_note(
        self, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> tuple[str, bool] | None:
        """What updating ``live`` would do to data smprov did not write (an object a user
        overwrote): a note for the plan, and whether that data would be lost (then `up` needs
        ``--allow-replace``). None: nothing of anyone else's is touched."""
        return None

    def find_tagged(self, ctx: Ctx, key: str, prefix: str) -> Live | None:
        """For a name-keyed kind whose names end in a generated value (a bucket's random
        suffix): the stack's resource ``key``, found by its tags among the names starting with
        ``prefix``, when the state that kept the value was lost."""
        raise NotImplementedError(f"{self.name} is not found by its tags")

    def uses_token(self) -> bool:
        """Whether ``create`` sends the engine's token to AWS as a ClientToken."""
        return False

    def diff(self, live: Live, spec: Mapping[str, Any]) -> list[FieldChange]:
        """Field-level differences between a resolved spec and what is live."""
        changes: list[FieldChange] = []
        for name, want in spec.items():
            if name in self.create_only:
                continue
            have = live.get(name)
            if name == "tags":
                want_tags = {k: v for k, v in (want or {}).items()}
                have_tags = {k: v for k, v in (have or {}).items() if not k.startswith("aws:")}
                if want_tags != have_tags:
                    changes.append(FieldChange("tags", have_tags, want_tags))
                continue
            if not self.same(name, have, want):
                changes.append(FieldChange(name, have, want, name in self.replace_on))
        return changes

    def same(self, name: str, have: Any, want: Any) -> bool:
        if want is UNKNOWN:
            return False
        if name in self.unordered and isinstance(want, list | tuple):
            if not isinstance(have, list | tuple):
                return False
            if UNKNOWN in want:
                return False
            return sorted(map(_sort_key, have)) == sorted(map(_sort_key, want))
        return _plain(have) == _plain(want)


class PutKind(Kind):
    """A kind whose create and update are one idempotent PUT of the whole desired value
    (a bucket policy, an S3 object): AWS replaces it as a whole either way."""

    def put(self, ctx: Ctx, spec: Mapping[str, Any]) -> Live:
        raise NotImplementedError

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        return self.put(ctx, spec)

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        return self.put(ctx, spec)


def made_by_this_state(ctx: Ctx, tags: Mapping[str, str], key: str) -> bool:
    """Whether a resource's tags say this state made it as ``key``: what a create whose answer
    was lost left behind, found by a create that AWS answered "already exists"."""
    return (
        tags.get(STACK_TAG) == ctx.stack
        and tags.get(KEY_TAG) == key
        and tags.get(LINEAGE_TAG) == ctx.lineage
    )


def wanted_name(item: ReadItem, resolve: Resolver, field: str = "name") -> str | None:
    """For name-keyed kinds (roles, buckets): the recorded name first -- so a renamed resource
    plans as a replacement, not as a second one beside an orphan -- then the name an unfinished
    create asked for (its intent), else the desired name."""
    name = item.id or item.intended
    if not name and item.spec is not None:
        name = resolve(item.spec[field])
    return name if isinstance(name, str) and name else None


def _plain(value: Any) -> Any:
    """Compare tuples and lists alike (specs use tuples, AWS answers use lists)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _sort_key(value: Any) -> str:
    import json

    return json.dumps(_plain(value), sort_keys=True, default=str)
