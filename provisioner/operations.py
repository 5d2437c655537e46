"""The operations behind the CLI: open a stack, plan, apply, destroy, inspect.

The CLI parses arguments and renders; this module wires config, AWS clients, the state backend,
the blueprint and the engine together, and knows no typer or rich.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner import blueprint, preflight
from provisioner.aws.clients import Clients
from provisioner.aws.concurrent import gather, gather_settled
from provisioner.aws.errors import to_aws_error
from provisioner.aws.retry import Timing
from provisioner.config import StackConfig, load_config, resolve_availability_zones, with_flag
from provisioner.engine.contract import KEY_TAG, LINEAGE_TAG, STACK_TAG, Ctx, Kind
from provisioner.engine.executor import ApplyReport, apply
from provisioner.engine.model import (
    Action,
    Desired,
    FieldChange,
    Live,
    Notice,
    Recorded,
    Refreshed,
    StepEvent,
    own_causes,
)
from provisioner.engine.ownership import ForeignStackError, foreign
from provisioner.engine.planner import Plan, make_plan
from provisioner.engine.refresh import refresh
from provisioner.errors import ConfigError, SmprovError, StateError, UsageError
from provisioner.kinds import REGISTRY
from provisioner.migrate import differences
from provisioner.store.backend import StateBackend
from provisioner.store.document import StateDocument, new_lineage
from provisioner.store.local import LocalBackend
from provisioner.store.recorder import Recorder

if TYPE_CHECKING:
    from provisioner.permissions import TerraformSource

LOCAL_STATE_DIR = Path("state") / "local"


@dataclass(frozen=True)
class Options:
    """What every command shares: where the config and state are, and which AWS."""

    config_path: Path | None = None
    state: str | None = None
    local: bool = False
    parallelism: int | None = None
    cwd: Path | None = None
    #: Check what only AWS can reveal about the config (e.g. endpoint services) before any
    #: change. Off for a teardown: a config that could not be created must not block `down`.
    preflight: bool = True
    #: Test and benchmark hooks: pre-built clients and timing (never set by the CLI).
    clients: Clients | None = None
    timing: Timing | None = None
    #: Hears what the user should know as it happens (the CLI prints it on stderr): e.g. that
    #: the local emulator is being started.
    say: Callable[[str], None] | None = None


@dataclass
class Stack:
    """An opened stack: resolved config, AWS identity, state backend and the blueprint."""

    config: StackConfig
    clients: Clients
    account: str
    partition: str
    endpoint: str | None
    backend: StateBackend
    timing: Timing
    #: The run of the local emulator the clients talk to (None: AWS, or not known).
    instance: str | None = None
    kinds: Mapping[str, Kind] = field(default_factory=lambda: REGISTRY)
    notices: list[Notice] = field(default_factory=list)
    #: What this run found about its state (a lock taken over, a state set aside): shown with
    #: every plan, a teardown's too.
    state_notices: list[Notice] = field(default_factory=list)
    #: The lineage of the state this run writes: the state's, or the one a new state will get
    #: (what the run makes is tagged with it from the first create).
    lineage: str = field(default_factory=new_lineage)

    @property
    def parallelism(self) -> int:
        return self.config.parallelism

    def new_state(self) -> StateDocument:
        """The empty state a first change writes, with the lineage the plan was made with."""
        cfg = self.config
        return StateDocument.new(
            cfg.environment,
            cfg.region,
            self.account,
            self.endpoint,
            lineage=self.lineage,
            instance=self.instance,
        )

    def ctx(self, **flags: Any) -> Ctx:
        return Ctx(
            clients=self.clients,
            stack=self.config.environment,
            region=self.config.region,
            account=self.account,
            partition=self.partition,
            timing=self.timing,
            parallelism=self.parallelism,
            lineage=self.lineage,
            **flags,
        )


def _identity(clients: Clients) -> tuple[str, str]:
    """The caller's account and partition, from STS (the one call every command makes)."""
    try:
        ident = clients("sts").get_caller_identity()
    except Exception as exc:
        raise to_aws_error(exc, "identifying the AWS account") from exc
    arn = ident.get("Arn", "arn:aws:")
    return ident["Account"], arn.split(":")[1] or "aws"


def _zones(clients: Clients) -> list[str]:
    try:
        answer = clients("ec2").describe_availability_zones(
            Filters=[
                {"Name": "zone-type", "Values": ["availability-zone"]},
                {"Name": "state", "Values": ["available"]},
            ]
        )
    except Exception as exc:
        raise to_aws_error(exc, "listing availability zones") from exc
    return [z["ZoneName"] for z in answer.get("AvailabilityZones", [])]


def _custom_endpoint(clients: Clients) -> str | None:
    """The endpoint the state belongs to: None for AWS itself, else the URL (emulator, proxy)."""
    url = clients("ec2").meta.endpoint_url or ""
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    if host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws")):
        return None
    return url.rstrip("/")


def state_backend_for(
    options: Options,
    config: StackConfig,
    clients: Clients | None = None,
    account: str | None = None,
) -> StateBackend:
    """``--state`` wins, then the ``state_backend`` setting, then ``state/<environment>.json``
    (``state/local/<environment>.json`` for the emulator, so the two never mix).

    An ``s3://bucket/key`` state uses the stack's clients (so ``--local`` and AWS_ENDPOINT_URL
    apply to it too) and the caller's account as the bucket's expected owner; both are made
    here when the caller has none yet."""
    where = options.state or config.state_backend
    base = options.cwd or Path.cwd()
    if where and where.startswith("s3://"):
        from provisioner.store.s3 import S3Backend, S3Location

        location = S3Location.parse(where)
        clients = clients or options.clients or _make_clients(options, config)
        owner = account or _identity(clients)[0]
        return S3Backend(location, clients("s3"), owner)
    if where:
        path = Path(where)
        return LocalBackend(path if path.is_absolute() else base / path)
    folder = LOCAL_STATE_DIR if options.local else Path("state")
    return LocalBackend(base / folder / f"{config.environment}.json")


def open_stack(
    options: Options,
    *,
    config: StackConfig | None = None,
    clients: Clients | None = None,
    backend: StateBackend | None = None,
) -> Stack:
    """Load and validate the config, connect, and check everything that can be checked before
    any change: the account, the region's zones, the AWS-side preflight, the blueprint. Every
    configuration problem, the file's and AWS's, is reported in one ConfigError. (``session``
    opens a stack under its lock, passing what it made to take the lock.)"""
    written = None
    if config is None:
        config, written = _load(options)
    invalid = written.invalid if written else frozenset()
    checks = preflight.applicable(invalid) if options.preflight else []
    try:
        clients = clients or options.clients or _make_clients(options, config)
        # The start-up reads need nothing of each other: one round trip (in order at
        # parallelism 1; a failure of the identity call, e.g. bad credentials, is the one shown).
        (account, partition), zones, *facts = gather(
            [
                lambda: _identity(clients),
                lambda: _zones(clients),
                *preflight.reads(clients, config, checks),
            ],
            at_once=config.parallelism,
        )
    except SmprovError:
        if written is not None:  # AWS could not be asked: the file's problems are the news
            raise written from None
        raise
    config, problems = _resolve_zones(config, zones, written)
    problems += preflight.judge(facts, config, checks)
    if problems:
        raise ConfigError(problems, written.hint if written else None)
    config = preflight.resolve(facts, config, checks)
    stack = Stack(
        config=config,
        clients=clients,
        account=account,
        partition=partition,
        endpoint=_custom_endpoint(clients),
        instance=clients.instance,
        backend=backend or state_backend_for(options, config, clients, account),
        timing=options.timing or Timing(),
        notices=blueprint.notices(config),
    )
    return stack


def _load(options: Options) -> tuple[StackConfig, ConfigError | None]:
    """The config, or (when the file has problems but a valid region, and the command checks
    the config against AWS) its valid part and the problems, to report with AWS's."""
    try:
        config, written = load_config(options.config_path, cwd=options.cwd), None
    except ConfigError as exc:
        if exc.partial is None or not options.preflight:
            raise
        config, written = exc.partial, exc
    if options.parallelism is not None:
        config = with_flag(config, "parallelism", options.parallelism, flag="--parallelism")
    return config, written


def _resolve_zones(
    config: StackConfig, zones: Sequence[str], written: ConfigError | None
) -> tuple[StackConfig, list[str]]:
    """The config bound to the region's zones, and the problems so far (the file's, then the
    zone names'). With problems in the file, the config stays unbound where it cannot be bound,
    and only the zone names are judged: the rest was already reported."""
    problems = list(written.problems) if written else []
    if written is None:
        try:
            return config.resolve(zones), problems
        except ConfigError as exc:
            return config, problems + exc.problems
    if "availability_zones" in written.invalid:
        return config, problems
    try:
        chosen = resolve_availability_zones(config, zones)
    except ConfigError as exc:
        return config, problems + exc.problems
    try:
        return config.with_zones(chosen), problems
    except ConfigError:
        return config, problems


@contextmanager
def session(
    options: Options, operation: str, *, config: StackConfig | None = None
) -> Iterator[tuple[Stack, StateDocument | None]]:
    """Open the stack under its state lock, taken before any AWS call: a run blocked by another
    makes none. (A state in S3 is locked with an S3 request, which needs the caller's account
    as the bucket's expected owner: that one identity call comes first.) A configuration with
    problems takes no lock: it is checked against AWS (read-only) and reported. ``config``, when
    given, is used instead of the file's (an import from Terraform derives it)."""
    if config is None:
        config, written = _load(options)
        if written is not None:
            open_stack(options)  # raises the ConfigError with every problem
            raise written
    clients: Clients | None = None
    account: str | None = None
    if (options.state or config.state_backend or "").startswith("s3://"):
        clients = options.clients or _make_clients(options, config)
        account = _identity(clients)[0]
    backend = state_backend_for(options, config, clients, account)
    with backend.lock(operation):
        stack = open_stack(options, config=config, clients=clients, backend=backend)
        _note_lock_takeover(stack)
        doc = unless_stale(stack, read_state(stack), set_aside=operation not in READ_ONLY)
        yield stack, doc


#: Operations that change nothing, not even the state file.
READ_ONLY = frozenset({"plan", "status"})


def unless_stale(
    stack: Stack, doc: StateDocument | None, *, set_aside: bool
) -> StateDocument | None:
    """The stack's state ``doc``, unless it was made against an earlier run of the local
    emulator: that run's resources went with it, so the state describes nothing that exists.
    Then it is ``set_aside`` (a local file is renamed ``<file>.stale-<time>``; a run that
    changes nothing only says it would), the run starts fresh, and its plan says so."""
    if doc is None or not (stack.instance and doc.instance) or doc.instance == stack.instance:
        return doc
    where = stack.backend.describe()
    said = (
        f"the emulator on {stack.endpoint} was restarted since {where} was written: the "
        "resources it records went with the old one"
    )
    if not set_aside:
        said += "; `smprov up --local` sets the state aside and starts fresh (planned as new)"
    elif isinstance(stack.backend, LocalBackend):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        moved = stack.backend.set_aside(f".stale-{stamp}")
        said += f"; set the state aside as {moved} and starting fresh"
    stack.state_notices.append(Notice("local emulator", said))
    return None


def make_clients(options: Options, config: StackConfig) -> Clients:
    """The clients ``options`` ask for (the embedded emulator with --local), in the config's
    region."""
    return _make_clients(options, config)


def _make_clients(options: Options, config: StackConfig) -> Clients:
    if options.local:
        from provisioner import local

        emulator = local.ensure_running(say=options.say)
        settings = local.client_settings(emulator.endpoint)
        endpoint = settings.pop("endpoint_url")
        return Clients(
            config.region, endpoint_url=endpoint, credentials=settings, instance=emulator.instance
        )
    return Clients(config.region)


def read_state(stack: Stack) -> StateDocument | None:
    """The stack's state, checked to belong to this stack, region, account and endpoint."""
    doc = stack.backend.read()
    if doc is None:
        return None
    where = stack.backend.describe()
    cfg = stack.config
    if doc.stack != cfg.environment:
        raise StateError(f"state {where} is for stack {doc.stack!r}, not {cfg.environment!r}")
    if doc.region != cfg.region:
        raise StateError(f"state {where} is for region {doc.region}, not {cfg.region}")
    if doc.account and doc.account != stack.account:
        raise StateError(
            f"state {where} belongs to AWS account {doc.account}, but the credentials in use are "
            f"for account {stack.account}",
            hint="use the profile of the state's account, or another --state",
        )
    if (doc.endpoint or None) != stack.endpoint:

        def name(endpoint: str | None) -> str:
            return f"the endpoint {endpoint}" if endpoint else "real AWS"

        hint = (
            "a state for the local emulator is never applied to AWS (or the reverse): "
            "use --local, or another --state"
        )
        port = _loopback_port(doc.endpoint)
        if port is not None:
            hint += (
                f"; the emulator of that state listened on port {port}: "
                f"SMPROV_LOCAL_PORT={port} smprov ... --local"
            )
        raise StateError(
            f"state {where} belongs to {name(doc.endpoint)}, but this run talks to "
            f"{name(stack.endpoint)}",
            hint=hint,
        )
    return doc


def intended_of(doc: StateDocument | None) -> dict[str, tuple[str, str]]:
    """Unfinished creates of name-keyed resources: key -> (kind, the name asked for)."""
    if doc is None:
        return {}
    return {key: (i.kind, i.name) for key, i in doc.intents.items() if i.name}


def _loopback_port(endpoint: str | None) -> str | None:
    """The port of an endpoint on 127.0.0.1 (the local emulator's), else None."""
    host, _, port = (endpoint or "").split("://", 1)[-1].split("/", 1)[0].partition(":")
    return port if host in ("127.0.0.1", "localhost") and port.isdigit() else None


def recorded_of(doc: StateDocument | None) -> dict[str, Recorded]:
    if doc is None:
        return {}
    return {
        key: Recorded(rec.kind, rec.id, frozenset(rec.depends_on), rec.attrs)
        for key, rec in doc.resources.items()
    }


def generated_data(stack: Stack, doc: StateDocument | None) -> dict[str, str]:
    """The generated values to build the blueprint with: the state's. One the state lost (a
    deleted state file) is taken from the resource that carries it, found in AWS by its tags,
    so the stack's resources are adopted, not made again; one AWS has not either is generated
    by the blueprint."""
    data = dict(doc.data) if doc is not None else {}
    lookups = blueprint.lost_data(stack.config, data)
    if not lookups:
        return data
    ctx = stack.ctx()

    def find(lookup: blueprint.Lookup) -> Live | None:
        kind = stack.kinds[lookup.kind]
        try:
            return kind.find_tagged(ctx, lookup.key, lookup.prefix)
        except SmprovError:
            raise
        except Exception as exc:
            raise to_aws_error(exc, f"finding the stack's {kind.label or kind.name}") from exc

    found = ctx.gather([lambda lookup=lookup: find(lookup) for lookup in lookups])
    blueprint.adopt_data(
        {lookup.key: live for lookup, live in zip(lookups, found, strict=True) if live}, data
    )
    return data


def build_blueprint(stack: Stack, doc: StateDocument | None) -> blueprint.Blueprint:
    """The run's blueprint, built once: generated values first, then the desired resources,
    tagged with the lineage of the state the run writes (the state's; a new state keeps the
    stack's fresh one)."""
    if doc is not None:
        stack.lineage = doc.lineage
    return blueprint.make(
        stack.config,
        account=stack.account,
        partition=stack.partition,
        data=generated_data(stack, doc),
        lineage=stack.lineage,
    )


def read_live(
    stack: Stack,
    bp: blueprint.Blueprint,
    doc: StateDocument | None,
    *,
    teardown: bool = False,
    owned: bool = True,
) -> Refreshed:
    """What AWS has of the blueprint and of the state, by key. With ``owned`` (every command
    but ``import``), a stack with resources made under another state is refused here, before
    any change (``engine.ownership``)."""
    found = refresh(
        stack.ctx(teardown=teardown),
        stack.kinds,
        bp.desired,
        recorded_of(doc),
        intended=intended_of(doc),
    )
    if owned:
        check_owner(stack, doc, found)
    return found


def check_owner(stack: Stack, doc: StateDocument | None, found: Refreshed) -> None:
    """Refuse a stack that holds resources of another state (see ``engine.ownership``)."""
    foreigners = foreign(
        found,
        recorded_of(doc),
        set(doc.intents) if doc is not None else set(),
        doc.lineage if doc is not None else None,
    )
    if foreigners:
        raise ForeignStackError(
            foreigners,
            stack=stack.config.environment,
            account=stack.account,
            region=stack.config.region,
            lineage=doc.lineage if doc is not None else None,
            state=stack.backend.describe(),
        )


def plan_up(stack: Stack, doc: StateDocument | None) -> tuple[Plan, Refreshed]:
    bp = build_blueprint(stack, doc)
    found = read_live(stack, bp, doc)
    plan = make_plan(
        bp.desired,
        found,
        recorded_of(doc),
        stack.kinds,
        notices=[*stack.state_notices, *stack.notices],
        data=bp.data,
    )
    plan = dataclasses.replace(plan, fresh={name: bp.data[name] for name in bp.generated})
    if doc is not None and doc.data.get(differences.IMPORT_MARK):
        plan = differences.named(plan)  # adopted from Terraform: say why each difference is
    return plan, found


def plan_down(stack: Stack, doc: StateDocument | None) -> tuple[Plan, Refreshed]:
    bp = build_blueprint(stack, doc)
    found = read_live(stack, bp, doc, teardown=True)
    plan = make_plan(
        [],
        found,
        recorded_of(doc),
        stack.kinds,
        notices=stack.state_notices,
        hints=bp.desired,
        data=bp.data,
    )
    return plan, found


@contextmanager
def locked(stack: Stack, operation: str) -> Iterator[StateDocument | None]:
    with stack.backend.lock(operation):
        _note_lock_takeover(stack)
        yield read_state(stack)


def _note_lock_takeover(stack: Stack) -> None:
    note = getattr(stack.backend, "last_lock_note", None)
    if note:  # a lock left by a smprov that died was taken over: say so with the plan
        stack.state_notices.append(Notice("state lock", note))


def execute(
    stack: Stack,
    plan: Plan,
    doc: StateDocument | None,
    *,
    on_event: Callable[[StepEvent], None] | None = None,
    cancel: threading.Event | None = None,
    delete_data: bool = False,
    delete_logs: bool = False,
) -> tuple[ApplyReport, StateDocument]:
    """Run the plan, recording every change; returns the report and the final state."""
    if doc is None:
        doc = stack.new_state()
    recorder = Recorder(stack.backend, doc)
    if plan.is_empty:
        return ApplyReport(), doc
    _save_data(recorder, doc, plan.data)
    for step in plan.steps:  # a resource an earlier `down` kept is the stack's again
        record = doc.resources.get(step.key)
        if record is not None and record.kept and step.action in (Action.NOOP, Action.UPDATE):
            recorder.keep(step.key, None)
    try:
        report = apply(
            plan,
            stack.ctx(delete_data=delete_data, delete_logs=delete_logs),
            recorder,
            stack.kinds,
            lineage=doc.lineage,
            intents={k: i.token for k, i in doc.intents.items()},
            intended={k: name for k, (_kind, name) in intended_of(doc).items()},
            serial=lambda: recorder.serial,
            on_event=on_event,
            cancel=cancel,
        )
    except BaseException:
        # Deletions are written in the background: land them, without masking what went wrong.
        with contextlib.suppress(Exception):
            recorder.flush()
        raise
    recorder.flush()  # every deletion on disk before the run is reported
    return report, recorder.doc


def _save_data(recorder: Recorder, doc: StateDocument, data: Mapping[str, str]) -> None:
    """Generated values the state does not hold yet (saved with the first change)."""
    for name, value in sorted(data.items()):
        if doc.data.get(name) != value:
            recorder.set_data(name, value)


def kept_in(
    plan: Plan, kinds: Mapping[str, Kind], *, delete_data: bool = False, delete_logs: bool = False
) -> dict[str, str]:
    """The deletions of ``plan`` that will keep their resource (data the user did not ask to
    delete, as far as known before the run), and why; and the replacements that will keep the
    old one, which then leaves the state (its new one takes the key)."""
    notes = {}
    for step in plan.changes:
        if step.live is None:
            continue
        kind = kinds[step.kind]
        if step.action is Action.DELETE:
            note = kind.keeps(step.live, delete_data=delete_data, delete_logs=delete_logs)
        elif step.action is Action.REPLACE and kind.retains_data:
            note = (
                f"the old {kind.label} stays in AWS if it holds data, outside the state: smprov "
                "will not delete it"
            )
        else:
            note = None
        if note:
            notes[step.key] = note
    return notes


def check_replacements(
    plan: Plan, allow_replace: bool, kinds: Mapping[str, Kind] = REGISTRY
) -> None:
    """Refuse a plan that would destroy resources in order to replace them, or overwrite data
    smprov did not write (an object a user changed, in an unversioned bucket), unless allowed.

    Kinds that keep their data when deleted (a log group without --delete-logs, a bucket holding
    data) are left out: replacing them destroys nothing, the old one stays in AWS.
    """
    replaced = plan.replacements()
    destroying = [s for s in replaced if not kinds[s.kind].retains_data]
    if destroying and not allow_replace:
        # The count is the plan's own ("N to replace"); the causes are the settings AWS cannot
        # change in place, the rest follows from them (a subnet of a new VPC is new too).
        # Those forced only by their own settings first (the VPC before its subnets).
        own = sorted(
            (s for s in replaced if own_causes(s)),
            key=lambda s: len(own_causes(s)) < sum(c.forces_replace for c in s.changes),
        )
        causes = [f"{s.key} ({', '.join(own_causes(s))})" for s in own]
        shown = ", ".join(causes[:5]) + (f" and {len(causes) - 5} more" if len(causes) > 5 else "")
        raise SmprovError(
            f"the plan replaces {len(replaced)} resource(s) (the -/+ lines above): AWS cannot "
            f"change {shown or 'them'} in place, and what is built on them is replaced with them",
            hint="replacing deletes the old resources (and whatever runs in them); "
            "re-run with --allow-replace if that is what you want",
        )
    lost = [s for s in plan.steps if s.loses_data]
    if lost and not allow_replace:
        raise SmprovError(
            "the plan overwrites data smprov did not write: "
            + "; ".join(f"{s.key}: {s.reason}" for s in lost),
            hint="keep a copy first, or turn bucket versioning on (bucket_versioning = true) so "
            "the overwritten version stays; re-run with --allow-replace to overwrite it anyway",
        )


def backend_only(options: Options) -> StateBackend:
    """The state backend, from the config alone (no AWS call, except STS for S3 state)."""
    return open_state(options)[1]


def open_state(options: Options) -> tuple[StackConfig, StateBackend]:
    """The config and its state backend, for the `state` commands (they need no stack)."""
    config = load_config(options.config_path, cwd=options.cwd)
    return config, state_backend_for(options, config)


def read_state_only(options: Options) -> tuple[StackConfig, StateDocument | None]:
    """Config and state without touching AWS (for `output`)."""
    config = load_config(options.config_path, cwd=options.cwd)
    return config, state_backend_for(options, config).read()


@dataclass(frozen=True)
class Takeover:
    """What ``import`` did: resources recorded, and those re-stamped from each former owner."""

    recorded: int
    #: Former ``smprov:lineage`` (None: none) -> keys now tagged with this state's lineage.
    restamped: Mapping[str | None, list[str]]


def adopt_into_state(stack: Stack, doc: StateDocument | None) -> Takeover:
    """``smprov import``: the explicit takeover. Finds the stack's resources (by tag, by name,
    or through their parent), stamps this state's lineage on each (so the state they came from
    no longer changes them), and records them all. Nothing else changes in AWS."""
    bp = build_blueprint(stack, doc)
    return take_over(stack, doc, bp, read_live(stack, bp, doc, owned=False))


def take_over(
    stack: Stack, doc: StateDocument | None, bp: blueprint.Blueprint, found: Refreshed
) -> Takeover:
    """Stamp this state's lineage (and the stack and key tags the blueprint gives) on every
    resource ``found`` that carries tags, then record each (duplicates found by tag are
    stamped but not recorded: the next `up` deletes them). Reusable by any importer that
    finds resources keyed by the blueprint's keys."""
    doc = doc or stack.new_state()
    recorder = Recorder(stack.backend, doc)
    _save_data(recorder, doc, bp.data)
    by_key = {d.key: d for d in bp.desired}
    restamped: dict[str | None, list[str]] = {}
    stamps: list[Callable[[], Live]] = []
    keys: list[str] = []
    for key, live in sorted(found.live.items()):
        have = live.attrs.get("tags")
        if not isinstance(have, Mapping):
            continue
        want = {**have, **_smprov_tags(by_key.get(key.split("#")[0])), LINEAGE_TAG: stack.lineage}
        if want == dict(have):
            continue
        restamped.setdefault(have.get(LINEAGE_TAG), []).append(key)
        kind = stack.kinds[found.kind_of[key]]
        change = [FieldChange("tags", dict(have), want)]
        stamps.append(
            lambda kind=kind, live=live, want=want, change=change: kind.update(
                stack.ctx(), live, {**live.attrs, "tags": want}, change
            )
        )
        keys.append(key)
    live_now = dict(found.live)
    failed: list[tuple[str, Exception]] = []
    for key, stamped in zip(keys, gather_settled(stamps, at_once=stack.parallelism), strict=True):
        if isinstance(stamped, Exception):
            failed.append((key, stamped))
            live_now.pop(key)  # still the other state's: not recorded as ours
        else:
            live_now[key] = stamped
    for key, live in sorted(live_now.items()):
        if "#" in key:  # a duplicate found by tag: the next `up` deletes it
            continue
        deps = sorted(by_key[key].depends_on) if key in by_key else []
        recorder.record(key, found.kind_of[key], live.id, dict(live.attrs), deps)
    recorder.flush()
    if failed:
        key, exc = failed[0]
        raise to_aws_error(exc, f"stamping this state's lineage on {key}") from exc
    return Takeover(len(recorder.doc.resources), restamped)


def _smprov_tags(desired: Desired | None) -> dict[str, str]:
    """The smprov tags the blueprint gives a resource (none for one it no longer wants)."""
    tags = (desired.spec.get("tags") or {}) if desired is not None else {}
    return {k: v for k, v in tags.items() if k in (STACK_TAG, KEY_TAG)}


def deployer_permissions(
    options: Options,
    account: str | None = None,
    *,
    config: StackConfig | None = None,
    terraform: TerraformSource | None = None,
) -> dict[str, Any]:
    """The least-privilege policy of the identity that runs smprov for this stack (``config``,
    else the configured one), with what an import from ``terraform`` needs. Changes nothing;
    asks STS for the account and partition unless ``account`` is given."""
    from provisioner.permissions import deployer_policy, partition_of

    config = config or load_config(options.config_path, cwd=options.cwd)
    partition = partition_of(config.region)
    if account is None:
        clients = options.clients or _make_clients(options, config)
        account, partition = _identity(clients)
        config = _key_arn(clients, config)
    elif not (len(account) == 12 and account.isdigit()):
        raise UsageError(f"--account {account!r}: an AWS account id is 12 digits")
    return deployer_policy(config, account, partition, state=options.state, terraform=terraform)


def _key_arn(clients: Clients, config: StackConfig) -> StackConfig:
    """``kms_key_id`` as the key's ARN, as the preflight resolves it (when AWS knows it)."""
    from provisioner.preflight import kms_key

    answer = kms_key.read(clients, config)
    return config if kms_key.judge(answer, config) else kms_key.resolve(answer, config)
