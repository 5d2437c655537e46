"""Everything a person sees: the plan table, live progress, status and output tables.

Diagnostics and progress go to stderr; stdout carries only data (tables a user asked for, or one
JSON document with --json), so ``smprov output --json | jq`` and CI parsing always work.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from provisioner.engine.model import Action, Phase, StepEvent, StepStatus

err = Console(stderr=True, highlight=False, soft_wrap=True)
# Piped output (scripts, CI logs) must never be cut at 80 columns: IDs are the point.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)


def warnings(notices: Sequence[Any]) -> None:
    for notice in notices:
        _labelled("warning:", "yellow", f"{notice.key}: {notice.message}")


def error(message: str, hint: str | None = None, *, console: Console | None = None) -> None:
    """An error as the user reads it, at the terminal's width: ``error: message`` (each line of
    the message wrapped, a list item continuing under its own text), then ``  hint: ...``."""
    console = console or err
    _labelled("error:", "red", message, console=console)
    if hint:
        wrapped(f"  hint: {hint}", hang=len("  hint: "), console=console)


def _labelled(label: str, style: str, message: str, *, console: Console | None = None) -> None:
    """``label message`` (``label`` in ``style``), every line cut at spaces to the width."""
    console = console or err
    first, *rest = message.splitlines() or [""]
    for index, part in enumerate(wrap_line(f"{label} {first}", console.width, len(label) + 1)):
        line = Text(part)
        if index == 0:
            line.stylize(style, 0, len(label))
        console.print(line, overflow="ignore", crop=False)
    for line in rest:
        indent = len(line) - len(line.lstrip(" "))
        hang = indent + (2 if line.lstrip(" ").startswith("- ") else 0)
        wrapped(line, hang=max(hang, 4), console=console)


def plan_table(
    plan: Any,
    *,
    title: str,
    show_noop: bool = False,
    kept: Mapping[str, str] | None = None,
    console: Console | None = None,
) -> None:
    """Print the plan (``render.plan``: one attribute per line, at the terminal's width), then
    its summary. ``kept``: the deletions (and replacements) that will keep their resource,
    and why."""
    from provisioner.kinds import REGISTRY
    from provisioner.render import plan as text

    console = console or err
    warnings(plan.notices)
    steps = [s for s in plan.steps if show_noop or s.action is not Action.NOOP]
    if not steps:
        console.print(
            f"[green]No changes.[/] {title} matches the configuration "
            f"({len(plan.steps)} resources)."
        )
        return
    console.print(Text(title, style="bold"))
    hidden = {name: kind.hidden for name, kind in REGISTRY.items()}
    kept = kept or {}
    lines = text.lines_of(steps, width=console.width, hidden=hidden, fresh=plan.fresh, kept=kept)
    for line, style in lines:
        console.print(Text(line, style=style), overflow="ignore", crop=False)
    replaced = sum(1 for key in kept if plan.step_by_key[key].action is Action.REPLACE)
    summary = text.summary(plan.summary(), kept=len(kept) - replaced, kept_replaced=replaced)
    wrapped(summary, console=console)


def summary_line(plan: Any) -> str:
    from provisioner.render import plan as text

    return text.summary(plan.summary())


class ProgressSink:
    """Turns StepEvents into live progress: one spinner line per running step (terminal), or
    one plain line per finished step (CI logs), plus, as Terraform does, a "still ..." line
    every ``every`` seconds for a step still running (a NAT gateway takes minutes on AWS: a log
    must not fall silent). Called from worker threads."""

    every = 10.0

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or err
        self._lock = threading.Lock()
        self._tasks: dict[tuple[str, Phase], Any] = {}
        self._progress: Any = None
        self._running: dict[tuple[str, Phase], tuple[str, float]] = {}
        self._done = threading.Event()

    @contextmanager
    def live(self) -> Iterator[ProgressSink]:
        if self.console.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            with self._progress:
                yield self
            self._progress = None
        else:
            ticker = threading.Thread(target=self._tick, daemon=True)
            ticker.start()
            try:
                yield self
            finally:
                self._done.set()
                ticker.join()

    def _tick(self) -> None:
        """Every ``every`` seconds, one line per step running longer than that (logs only)."""
        while not self._done.wait(self.every):
            now = time.monotonic()
            with self._lock:
                lines = [
                    f"  {verb} {key}: still running ({now - started:.0f}s elapsed)"
                    for (key, _phase), (verb, started) in sorted(self._running.items())
                    if now - started >= self.every
                ]
                for line in lines:
                    self.console.print(Text(line, style="dim"), overflow="ignore", crop=False)

    def __call__(self, event: StepEvent) -> None:
        node = (event.key, event.phase)
        verb = "destroy" if event.phase is Phase.DESTROY else event.action.value
        with self._lock:
            if event.status is StepStatus.RUNNING:
                self._running.setdefault(node, (verb, time.monotonic()))
                if self._progress is not None:
                    text = f"{verb} {event.key}: {event.message}"
                    if node in self._tasks:
                        self._progress.update(self._tasks[node], description=text)
                    else:
                        self._tasks[node] = self._progress.add_task(text, total=None)
                return
            self._running.pop(node, None)
            if node in self._tasks and self._progress is not None:
                self._progress.remove_task(self._tasks.pop(node))
            mark = {
                StepStatus.DONE: "[green]✓[/]",
                StepStatus.FAILED: "[red]✗[/]",
                StepStatus.SKIPPED: "[yellow]-[/]",
                StepStatus.CANCELLED: "[yellow]-[/]",
            }.get(event.status, "")
            extra = f" ({event.elapsed:.1f}s)" if event.elapsed >= 1 else ""
            message = step_message(event.key, event.phase, event.message)
            parts = wrap_line(f"{verb} {event.key}: {message}{extra}", self.console.width - 2, 2)
            self.console.print(Text.from_markup(mark).append(f" {parts[0]}"), crop=False)
            for part in parts[1:]:
                self.console.print(Text(f"  {part}"), overflow="ignore", crop=False)


def step_message(key: str, phase: Phase, message: str) -> str:
    """A step's message without the "apply KEY: " its error already carries (the line that
    shows it names the step itself)."""
    return message.removeprefix(f"{phase.value} {key}: ")


def say(text: str) -> None:
    """Something the user should know as it happens (e.g. the emulator starting), on stderr.
    A wait under way gives way: a line of work still under way (``local.Ongoing``: the emulator
    starting) shows progress itself until the next one, so the wait's line never lands between
    the two; after any other line the wait's clock starts again (starting the emulator is not
    slow reading)."""
    from provisioner.local import Ongoing

    waiting = Waiting.current
    if waiting is None:
        wrapped(text)
    else:
        waiting.interrupt(lambda: wrapped(text), hold=isinstance(text, Ongoing))


def apply_summary(
    report: Any,
    *,
    verb: str,
    interrupted: bool = False,
    hint: Callable[[Any], str | None] = lambda error: error.hint,
) -> None:
    done = report.count(StepStatus.DONE)
    failed = report.failed
    skipped = report.count(StepStatus.SKIPPED)
    cancelled = report.count(StepStatus.CANCELLED)
    if not failed and not cancelled:
        kept = sum(1 for r in report.results.values() if r.kept)
        also = f" ({kept} kept: see below)" if kept else ""
        err.print(f"[green]{verb} complete:[/] {done} step(s) done{also}.")
        return
    state = "interrupted" if interrupted else "incomplete"
    _labelled(
        f"{verb} {state}:",
        "red",
        f"{done} done, {len(failed)} failed, {skipped} skipped, {cancelled} not started. The "
        f"state records exactly what exists; run `smprov {verb}` again to continue.",
    )
    for (key, phase), result in failed:
        message = step_message(key, phase, result.message)
        error(f"{phase.value} {key}: {message}", hint(result.error) if result.error else None)


def kept_ending(report: Any, plan: Any, kinds: Mapping[str, Any], flags: str | None = "") -> None:
    """What a run kept (data the user did not ask to delete) and, for a `down` (``flags``: its
    --local, --config and --state; None for an `up`, whose state no longer lists it), the
    exact command that deletes it too."""
    kept = [(key, r.message) for (key, _phase), r in report.results.items() if r.kept]
    if not kept:
        return
    lines = [f"kept {len(kept)} resource(s) that hold data you did not ask to delete:"]
    lines += [f"  {key}: {message}" for key, message in sorted(kept)]
    if flags is not None:
        needed = sorted({kinds[plan.step_by_key[key].kind].keep_flag for key, _ in kept} - {""})
        lines.append(f"To delete them too: smprov down {' '.join(needed)}{flags}")
    for index, line in enumerate(lines):
        wrapped(line, style="yellow" if index == 0 else "")


def wrapped(line: str, *, style: str = "", hang: int = 4, console: Console | None = None) -> None:
    """Print ``line`` cut at spaces to the console's width (continuations indented)."""
    console = console or err
    for part in wrap_line(line, console.width, hang):
        console.print(Text(part, style=style), overflow="ignore", crop=False)


def wrap_line(line: str, width: int, hang: int) -> list[str]:
    """``line`` cut at spaces into lines of at most ``width`` (``render.plan.wrap``)."""
    from provisioner.render.plan import wrap

    return wrap(line, width, hang)


#: The outputs `up` ends with (all of them: `smprov output`).
UP_OUTPUTS = (
    "vpc_id",
    "private_subnets",
    "training_security_group_id",
    "bucket_name",
    "training_data_uri",
    "sagemaker_role_arn",
)


def up_ending(values: Mapping[str, Any], flags: str = "") -> None:
    """What `up` ends with, like `terraform apply`: the outputs a training job needs, and the
    next step (``flags``: this run's --local, --config and --state, for the commands shown)."""
    shown = {k: values[k] for k in UP_OUTPUTS if values.get(k) not in (None, [], "")}
    if shown:
        out.print("Outputs:")
        outputs_text(shown, indent="  ")
    wrapped(
        f"Next: `smprov output --format sagemaker{flags}` prints RoleArn, VpcConfig, "
        f"InputDataConfig and OutputDataConfig for CreateTrainingJob (`smprov output{flags}` "
        "lists every id).",
        hang=len("Next: "),
        console=out,
    )


class Waiting:
    """Says on stderr what smprov is waiting for, once that has taken ``after`` seconds: a
    spinner on a terminal, one line in a log. Nothing at all when the wait is short."""

    after = 2.0
    #: The wait under way, which ``say`` interrupts.
    current: Waiting | None = None

    def __init__(self, text: str, console: Console | None = None) -> None:
        self.text = text
        self.console = console or err
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._status: Any = None
        self._stopped = False
        self._shown = False
        self._armed = 0

    def __enter__(self) -> Waiting:
        Waiting.current = self
        self._arm()
        return self

    def _arm(self) -> None:
        self._armed += 1  # a timer that already fired but waits for the lock is out of date
        self._timer = threading.Timer(self.after, self._show, args=(self._armed,))
        self._timer.daemon = True
        self._timer.start()

    def interrupt(self, show: Callable[[], None], *, hold: bool = False) -> None:
        """Hide the wait, ``show`` something else, and wait ``after`` seconds again before
        showing it (a line already in a log is not repeated); with ``hold``, not until the
        next interruption."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            shown = self._shown
            if self._status is not None:
                self._status.stop()
                self._status = None
            show()
            if not (self._stopped or hold or (shown and not self.console.is_terminal)):
                self._arm()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _show(self, armed: int) -> None:
        with self._lock:
            if self._stopped or armed != self._armed:
                return
            self._shown = True
            if self.console.is_terminal:
                self._status = self.console.status(self.text)
                self._status.start()
            else:
                self.console.print(f"{self.text} ...", markup=False)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if Waiting.current is self:
                Waiting.current = None
            if self._timer is not None:
                self._timer.cancel()
            if self._status is not None:
                self._status.stop()
                self._status = None


def status_table(rows: Sequence[Mapping[str, Any]], *, console: Console | None = None) -> None:
    """The state's resources, one per line. Keys and ids are never cut (they are what a reader
    copies): when the terminal is too narrow, the kind column folds."""
    from rich import box

    table = Table(
        title="resources in the state",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for col in ("key", "kind", "id", "status"):
        table.add_column(col, no_wrap=col != "kind", overflow="fold")
    for row in rows:
        status = row["status"]
        style = {"exists": "green", "missing": "red", "drifted": "yellow", "kept": "cyan"}.get(
            status, ""
        )
        table.add_row(row["key"], row["kind"], row["id"], Text(status, style=style))
    (console or out).print(table)


def outputs_text(
    values: Mapping[str, Any], *, indent: str = "", console: Console | None = None
) -> None:
    """``name = value`` lines, names aligned: a list as ``a, b`` and a table as JSON when the
    line fits the terminal, else as a block, one item or entry per line."""
    console = console or out
    width = max((len(k) for k in values), default=0)
    for key, value in values.items():
        lead = f"{indent}{key.ljust(width)} = "
        for line in _output_lines(lead, value, console.width, indent):
            console.print(line, markup=False, overflow="ignore", crop=False)


def _output_lines(lead: str, value: Any, room: int, indent: str) -> list[str]:
    if isinstance(value, Mapping):
        inline = lead + json.dumps(value, sort_keys=True)
    elif isinstance(value, list | tuple):
        inline = lead + ", ".join(str(v) for v in value)
    else:
        return [lead + str(value)]
    if len(inline) <= room or not value:
        return [inline]
    inner = indent + "    "
    if isinstance(value, Mapping):
        width = max(len(str(k)) for k in value)
        body = [
            line
            for k, v in sorted(value.items())
            for line in _output_lines(f"{inner}{str(k).ljust(width)} = ", v, room, inner)
        ]
        return [lead + "{", *body, indent + "}"]
    return [lead + "[", *(f"{inner}{v}" for v in value), indent + "]"]


# --- JSON documents (--json): shaped here, printed by emit_json ----------------------------------


def error_doc(exc: Any) -> dict[str, Any]:
    """An expected failure (SmprovError) as data."""
    return {
        "message": exc.message,
        "hint": exc.hint,
        "code": getattr(exc, "code", None),
        "type": type(exc).__name__,
    }


def changes_doc(steps: Sequence[Any]) -> list[dict[str, Any]]:
    """Plan steps as plain data."""
    return [
        {
            "key": s.key,
            "kind": s.kind,
            "action": s.action.value,
            "id": s.live.id if s.live else None,
            "reason": s.reason,
            "changes": [
                {
                    "field": c.path,
                    "old": _jsonable(c.old),
                    "new": _jsonable(c.new),
                    "forces_replace": c.forces_replace,
                }
                for c in s.changes
            ],
        }
        for s in steps
    ]


def plan_doc(plan: Any, stack: str) -> dict[str, Any]:
    """`plan --json` (a value made for this plan reads "(random, chosen at apply)", as in the
    text: two plans of an unchanged world are the same document)."""
    from provisioner.render.plan import hide_fresh

    doc = {
        "ok": True,
        "stack": stack,
        "changes": changes_doc(plan.changes),
        "summary": {a.value: n for a, n in plan.summary().items()},
        "notices": [{"key": n.key, "message": n.message} for n in plan.notices],
    }
    fresh = getattr(plan, "fresh", {})
    return json.loads(hide_fresh(json.dumps(doc), fresh)) if fresh else doc


def resource_ids(doc: Any) -> dict[str, str]:
    """Key -> AWS id of every resource a state records."""
    return {k: r.id for k, r in doc.resources.items()} if doc is not None else {}


def unchanged_doc(doc: Any) -> dict[str, Any]:
    """`up --json` / `down --json` when there is nothing to do."""
    return {"ok": True, "changes": [], "resources": resource_ids(doc)}


def apply_doc(report: Any, final: Any, plan: Any) -> dict[str, Any]:
    """`up --json` / `down --json` after a run: the plan, each step's result, the errors and
    the resources the state now records."""
    return {
        "ok": not report.failed and report.ok,
        "changes": changes_doc(plan.changes),
        "results": [
            {"key": k, "phase": p.value, "status": r.status.value, "message": r.message}
            for (k, p), r in report.results.items()
        ],
        "errors": [
            {"key": k, "phase": p.value, **error_doc(r.error)}
            if r.error
            else {"key": k, "phase": p.value, "message": r.message}
            for (k, p), r in report.failed
        ],
        "resources": resource_ids(final),
    }


def status_rows(doc: Any, plan: Any, found: Any) -> list[dict[str, str]]:
    """Each resource the state records, and whether it still exists as configured: ``exists``,
    ``drifted`` (it differs from the configuration), ``kept`` (a `down` kept it: it holds data
    the user did not ask to delete) or ``missing``."""
    rows = []
    for key, rec in sorted((doc.resources if doc else {}).items()):
        step = plan.step_by_key.get(key)
        if key not in found.live:
            status = "missing"
        elif rec.kept:
            status = "kept"
        elif step is not None and step.changes:
            status = "drifted"
        else:
            status = "exists"
        rows.append({"key": key, "kind": rec.kind, "id": rec.id, "status": status})
    return rows


def status_doc(where: str, rows: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """`status --json`."""
    return {"ok": True, "state": where, "resources": list(rows)}


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        if isinstance(value, list | tuple):
            return [_jsonable(v) for v in value]
        if isinstance(value, Mapping):
            return {k: _jsonable(v) for k, v in value.items()}
        return repr(value)


def emit_json(document: Any) -> None:
    """The one JSON document a --json command prints on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def terraform_import(result: Any, *, json_mode: bool) -> None:
    """What ``import --from-terraform`` did: the summary on stderr, the hand-off on stdout
    (or everything as one JSON document)."""
    stack_map, handoff = result.stack_map, result.handoff
    if json_mode:
        emit_json(
            {
                "ok": True,
                "stack": stack_map.environment,
                "state": result.state,
                "config": str(result.config_path),
                "config_written": result.config_written,
                "adopted": {k: a.resource.address for k, a in stack_map.adopted.items()},
                "tagged": result.tagged,
                "part_of": [
                    {"address": p.resource.address, "key": p.key, "note": p.note}
                    for p in stack_map.part_of
                ],
                "kept": [{"address": k.resource.address, "note": k.note} for k in stack_map.kept],
                "left_alone": [
                    {"address": a.resource.address, "reason": a.reason}
                    for a in stack_map.left_alone
                ],
                "handoff": {
                    "file": str(result.handoff_path),
                    "removed": list(handoff.removed),
                    "state_rm": handoff.commands(),
                },
            }
        )
        return
    err.print(
        f"[green]imported[/] {len(stack_map.adopted)} resources of the Terraform stack into "
        f"{escape(result.state)} as stack {stack_map.environment} "
        f"({len(result.tagged)} tagged now; nothing else changed in AWS)"
    )
    what = "wrote" if result.config_written else "checked"
    err.print(f"{what} {escape(str(result.config_path))}: the Terraform inputs")
    sections = (
        (
            "managed as part of an adopted resource",
            [(p.resource.address, p.note) for p in stack_map.part_of],
        ),
        ("left in place, not tracked", [(k.resource.address, k.note) for k in stack_map.kept]),
        (
            "left alone (not smprov's: still Terraform's)",
            [(a.resource.address, a.reason) for a in stack_map.left_alone],
        ),
    )
    for title, rows in sections:
        if rows:
            err.print(f"{title}:")
            for address, note in rows:
                err.print(f"  {escape(address)}: {escape(note)}")
    err.print(
        f"[bold]hand-off[/] written to {escape(str(result.handoff_path))}: Terraform must apply "
        "it before any other terraform apply or destroy (printed below)"
    )
    err.print("next: smprov plan (each deliberate difference named), then smprov up")
    out.print(handoff.text(), markup=False, end="")
