"""The `smprov` command: parses arguments, calls provisioner.operations, renders results.

Heavy modules (boto3, the engine) are imported inside the commands, so `smprov --help` starts fast
and never imports boto3. Every expected failure is a SmprovError: printed as one message (plus a
hint) on stderr with exit code 1 (AWS/operation) or 2 (usage/configuration). A traceback is a bug.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from provisioner.errors import SmprovError, UsageError

#: Exit codes (README "Exit codes"): 0 success, 1 an AWS or operation error, 2 a usage or
#: configuration error, 3 changes present (`plan --detailed-exitcode`), 130 interrupted (Ctrl-C).
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHANGES = 3
EXIT_INTERRUPTED = 130

#: Commands other tools have, and what smprov does instead (an unknown command names it).
INSTEAD = {
    "apply": "use `smprov up` (shows the plan, asks, applies)",
    "destroy": "use `smprov down` (deletes the stack in dependency order)",
    "init": "smprov needs no init: `smprov plan` shows what `smprov up` would make",
    "validate": "use `smprov plan`: it checks the configuration first (exit 2 on a problem)",
    "refresh": "use `smprov plan` (reads AWS, changes nothing) or `smprov import` (records "
    "what exists in the state)",
    "show": "use `smprov status` (what the state holds) or `smprov output` (the ids)",
}


def _flags_as_flags(params: list[Any]) -> list[Any]:
    """typer 0.29 labels a flag ``<bool>`` in --help, as if it took a value (``--yes true`` is
    refused): a flag is shown bare, as every CLI shows one."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_as_flags(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_as_flags(super().get_params(ctx))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            instead = INSTEAD if ctx.parent is None else {}  # other tools' top-level commands
            ctx.fail(_unknown_command(name, self.list_commands(ctx), instead))  # usage: exit 2
        return super().resolve_command(ctx, args)


def _unknown_command(name: str, known: list[str], instead: Mapping[str, str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, [*known, *instead], n=1)
    if close and close[0] in known:
        return f"no command {name!r}: did you mean `{close[0]}`?"
    if close:
        return f"no command {name!r}: {instead[close[0]]}"
    return f"no command {name!r}: the commands are {', '.join(known)}"


class _Typer(typer.Typer):
    """Every command and group of smprov: flags shown as flags, -h as --help, and an unknown
    command answered with the one to use."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", _Group)
        kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
        kwargs.setdefault("no_args_is_help", True)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


app = _Typer(
    name="smprov",
    help="Provision the AWS network, storage and permissions for SageMaker training.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
local_app = _Typer(help="The embedded AWS emulator used by --local.")
app.add_typer(local_app, name="local")
state_app = _Typer(help="Copy a stack's state out of, or into, its configured backend.")
app.add_typer(state_app, name="state")


def _version(value: bool) -> None:
    if value:
        from provisioner import __version__

        typer.echo(f"smprov {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    _version_flag: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print smprov's version and exit.",
            callback=_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Provision the AWS network, storage and permissions for SageMaker training."""


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Configuration file (default: ./smprov.toml if present).",
        dir_okay=False,
    ),
]
StateOpt = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="State file or s3://bucket/key (default: state/<environment>.json).",
    ),
]
LocalOpt = Annotated[
    bool,
    typer.Option("--local", help="Use the embedded AWS emulator (moto) on 127.0.0.1."),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout (progress on stderr)."),
]
ParallelismOpt = Annotated[
    int | None,
    typer.Option(
        "--parallelism",
        help="Steps run at once (default: the config, else 10).",
        show_default=False,
    ),
]


@contextmanager
def _errors(json_mode: bool = False) -> Iterator[None]:
    """Turn expected failures into a message and an exit code; never a traceback."""
    from provisioner import render

    try:
        yield
    except SmprovError as exc:
        exc.hint = _hint(exc)
        if json_mode:
            render.emit_json({"ok": False, "error": render.error_doc(exc)})
        render.error(exc.message, exc.hint)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        render.err.print("[yellow]interrupted[/]")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _hint(exc: Any) -> str | None:
    """The error's hint; an endpoint's own failure points at the local emulator's log."""
    from provisioner.aws.errors import ENDPOINT_FAILURE

    if getattr(exc, "code", None) != ENDPOINT_FAILURE:
        return exc.hint
    from provisioner import local

    try:
        return f"{exc.hint}: {local.log_path()}"
    except SmprovError:
        return exc.hint


def _options(
    config: Path | None,
    state: str | None,
    local: bool,
    parallelism: int | None = None,
    *,
    teardown: bool = False,
) -> Any:
    from provisioner import render
    from provisioner.operations import Options

    return Options(
        config_path=config,
        state=state,
        local=local,
        parallelism=parallelism,
        preflight=not teardown,
        say=render.say,
    )


def _confirm(question: str, yes: bool, *, verb: str) -> None:
    """Ask on the terminal (``verb``: what --yes would do without asking). Ctrl-C at the
    prompt is an interruption (exit 130) like anywhere else; an empty answer is no."""
    if yes:
        return
    if not _stdin_is_terminal():
        raise UsageError(
            f"{question} needs confirmation, and stdin is not a terminal",
            hint=f"re-run with --yes to {verb} without asking",
        )
    from provisioner import render

    render.err.print(f"{question} [y/N]: ", end="", markup=False)
    try:
        answer = input()
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise SmprovError("cancelled: nothing was changed")


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@contextmanager
def _interruptible() -> Iterator[threading.Event]:
    """First Ctrl-C: stop starting new steps, let running ones finish and be recorded."""
    from provisioner import render

    cancel = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def handler(_sig: int, _frame: Any) -> None:
        if cancel.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        cancel.set()
        render.err.print("[yellow]interrupt: finishing running steps (Ctrl-C again to abort)[/]")

    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        signal.signal(signal.SIGINT, handler)
    try:
        yield cancel
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


def _run_plan(
    run: Callable[..., Any],
    stack: Any,
    plan: Any,
    doc: Any,
    *,
    json_mode: bool,
    verb: str,
    **flags: Any,
) -> Any:
    from provisioner import render

    sink = render.ProgressSink()
    with _interruptible() as cancel, sink.live():
        report, final = run(stack, plan, doc, on_event=sink, cancel=cancel, **flags)
    if not json_mode:
        render.apply_summary(report, verb=verb, interrupted=cancel.is_set(), hint=_hint)
    return report, final, cancel.is_set()


@app.command()
def plan(
    config: ConfigOpt = None,
    state: StateOpt = None,
    local: LocalOpt = False,
    json_out: JsonOpt = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 0: no changes, 3: changes, 1: an AWS or operation error, 2: a usage or "
            "configuration error, 130: interrupted.",
        ),
    ] = False,
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan what `down` would do.")] = False,
    show_unchanged: Annotated[
        bool,
        typer.Option("--show-unchanged", help="List resources with no change too."),
    ] = False,
) -> None:
    """Show what `up` would change (reads AWS, changes nothing)."""
    with _errors(json_out):
        from provisioner import operations, render

        options = _options(config, state, local, teardown=destroy)
        with _reading(local), operations.session(options, "plan") as (stk, doc):
            the_plan, _ = (operations.plan_down if destroy else operations.plan_up)(stk, doc)
        if json_out:
            render.emit_json(render.plan_doc(the_plan, stk.config.environment))
        else:
            render.plan_table(
                the_plan,
                title=f"stack {stk.config.environment}",
                show_noop=show_unchanged,
                kept=operations.kept_in(the_plan, stk.kinds),
            )
        if detailed_exitcode and not the_plan.is_empty:
            raise typer.Exit(EXIT_CHANGES)


@app.command()
def up(
    config: ConfigOpt = None,
    state: StateOpt = None,
    local: LocalOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
    allow_replace: Annotated[
        bool,
        typer.Option(
            "--allow-replace",
            help="Allow replacing resources AWS cannot update, and overwriting an object "
            "smprov did not write in an unversioned bucket.",
        ),
    ] = False,
    parallelism: ParallelismOpt = None,
) -> None:
    """Create or update the stack so that it matches the configuration."""
    with _errors(json_out):
        from provisioner import operations, render

        reading = _reading(local)
        with (
            reading,
            operations.session(_options(config, state, local, parallelism), "up") as (stk, doc),
        ):
            the_plan, _ = operations.plan_up(stk, doc)
            reading.stop()
            if not json_out:
                kept = operations.kept_in(the_plan, stk.kinds)
                render.plan_table(the_plan, title=f"stack {stk.config.environment}", kept=kept)
            if the_plan.is_empty:
                if json_out:
                    render.emit_json(render.unchanged_doc(doc))
                else:
                    _up_ending(doc, stk.config, config, state, local)
                return
            operations.check_replacements(the_plan, allow_replace, stk.kinds)
            _confirm(f"Apply these changes to stack {stk.config.environment}?", yes, verb="apply")
            run = _run_plan(operations.execute, stk, the_plan, doc, json_mode=json_out, verb="up")
        if not json_out:
            render.kept_ending(run[0], the_plan, stk.kinds, flags=None)
        _finish(*run, the_plan, json_out)
        if not json_out:
            _up_ending(run[1], stk.config, config, state, local)


def _up_ending(doc: Any, cfg: Any, config: Path | None, state: str | None, local: bool) -> None:
    from provisioner import render
    from provisioner.outputs import outputs

    render.up_ending(outputs(doc, cfg), _flags(config, state, local))


def _flags(config: Path | None, state: str | None, local: bool) -> str:
    """This run's --local, --config and --state, for the commands smprov suggests."""
    import shlex

    flags = " --local" if local else ""
    if config is not None:
        flags += f" --config {shlex.quote(str(config))}"
    if state is not None:
        flags += f" --state {shlex.quote(state)}"
    return flags


def _reading(local: bool) -> Any:
    """Progress after 2 s of reading the stack (a slow network or endpoint shows itself), naming
    what is read: AWS, or with --local the emulator."""
    from provisioner import render

    return render.Waiting(f"reading the stack from {'the local emulator' if local else 'AWS'}")


@app.command()
def down(
    config: ConfigOpt = None,
    state: StateOpt = None,
    local: LocalOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
    delete_data: Annotated[
        bool,
        typer.Option("--delete-data", help="Also delete the bucket and every object in it."),
    ] = False,
    delete_logs: Annotated[
        bool,
        typer.Option("--delete-logs", help="Also delete the flow-log log group."),
    ] = False,
    parallelism: ParallelismOpt = None,
) -> None:
    """Delete every resource of the stack, in dependency order."""
    with _errors(json_out):
        from provisioner import operations, render

        options = _options(config, state, local, parallelism, teardown=True)
        reading = _reading(local)
        with reading, operations.session(options, "down") as (stk, doc):
            the_plan, _ = operations.plan_down(stk, doc)
            reading.stop()
            kept = operations.kept_in(
                the_plan, stk.kinds, delete_data=delete_data, delete_logs=delete_logs
            )
            if not json_out:
                title = f"destroy stack {stk.config.environment}"
                render.plan_table(the_plan, title=title, kept=kept)
            if the_plan.is_empty:
                if json_out:
                    render.emit_json(render.unchanged_doc(doc))
                return
            _confirm(f"Delete stack {stk.config.environment}?", yes, verb="delete")
            run = _run_plan(
                operations.execute,
                stk,
                the_plan,
                doc,
                json_mode=json_out,
                verb="down",
                delete_data=delete_data,
                delete_logs=delete_logs,
            )
        if not json_out:
            render.kept_ending(run[0], the_plan, stk.kinds, _flags(config, state, local))
        _finish(*run, the_plan, json_out)


def _finish(report: Any, final: Any, interrupted: bool, the_plan: Any, json_mode: bool) -> None:
    from provisioner import render

    if json_mode:
        render.emit_json(render.apply_doc(report, final, the_plan))
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


@app.command()
def status(
    config: ConfigOpt = None,
    state: StateOpt = None,
    local: LocalOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """List the resources in the state and whether each still exists in AWS."""
    with _errors(json_out):
        from provisioner import operations, render

        with _reading(local):
            stk = operations.open_stack(_options(config, state, local))
            doc = operations.read_state(stk)
            the_plan, found = operations.plan_up(
                stk, operations.unless_stale(stk, doc, set_aside=False)
            )
        rows = render.status_rows(doc, the_plan, found)
        render.warnings(stk.state_notices)
        if json_out:
            render.emit_json(render.status_doc(stk.backend.describe(), rows))
            return
        if not rows:
            render.err.print(f"no resources in {stk.backend.describe()}")
            return
        render.status_table(rows)


@app.command()
def output(
    config: ConfigOpt = None,
    state: StateOpt = None,
    local: LocalOpt = False,
    json_out: JsonOpt = False,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="text, or sagemaker: JSON with RoleArn, VpcConfig, InputDataConfig and "
            "OutputDataConfig for CreateTrainingJob.",
        ),
    ] = "text",
) -> None:
    """Print the ids the next steps need (VPC, subnets, route tables, NAT gateways, ...)."""
    with _errors(json_out or output_format == "sagemaker"):
        from provisioner import render
        from provisioner.operations import read_state_only
        from provisioner.outputs import outputs

        if output_format not in ("text", "sagemaker"):
            raise UsageError(
                f"--format {output_format!r}: use text or sagemaker",
                hint="smprov output --format sagemaker prints CreateTrainingJob parameters",
            )
        cfg, doc = read_state_only(_options(config, state, local))
        if doc is None or not doc.resources:
            raise SmprovError(
                f"stack {cfg.environment} has no resources in its state",
                hint="run `smprov up` first (with --local for the emulator)",
            )
        values = outputs(doc, cfg)
        if output_format == "sagemaker":
            from provisioner.outputs import sagemaker_job_config

            job = sagemaker_job_config(values, cfg)
            if not job["VpcConfig"]["SecurityGroupIds"]:
                render.err.print(
                    "warning: the state has no training security group; CreateTrainingJob "
                    "needs at least one in VpcConfig.SecurityGroupIds",
                    markup=False,
                )
            render.emit_json(job)
        elif json_out:
            render.emit_json(values)
        else:
            render.outputs_text(values)


@app.command()
def permissions(
    config: ConfigOpt = None,
    state: StateOpt = None,
    local: LocalOpt = False,
    json_out: JsonOpt = False,
    account: Annotated[
        str | None,
        typer.Option("--account", help="Account id for the ARNs (default: the caller's, via STS)."),
    ] = None,
    from_terraform: Annotated[
        str | None,
        typer.Option(
            "--from-terraform",
            metavar="SOURCE",
            help="Also what `smprov import --from-terraform SOURCE` needs, for the stack that "
            "state describes (SOURCE is read, from S3 for s3://bucket/key).",
        ),
    ] = None,
) -> None:
    """Print the least-privilege IAM policy for running smprov against this stack.

    The policy is JSON either way; --json also makes errors JSON."""
    with _errors(json_out):
        from provisioner import operations, render

        options = _options(config, state, local)
        if from_terraform is not None:
            from provisioner.terraform_import import terraform_permissions

            render.emit_json(terraform_permissions(options, from_terraform, account))
            return
        render.emit_json(operations.deployer_permissions(options, account))


@app.command(name="import")
def import_(
    config: ConfigOpt = None,
    state: StateOpt = None,
    local: LocalOpt = False,
    from_terraform: Annotated[
        str | None,
        typer.Option(
            "--from-terraform",
            metavar="SOURCE",
            help="Adopt the stack a Terraform setup made: its state file (format 4), the output "
            "of `terraform show -json`, an S3 backend's s3://bucket/key, or - for stdin.",
        ),
    ] = None,
    handoff: Annotated[
        Path | None,
        typer.Option(
            "--handoff",
            help="Where to write what Terraform must do to let go (default: "
            "smprov-handoff.tf beside smprov.toml).",
            dir_okay=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Take the stack over, or adopt one a Terraform setup made (--from-terraform).

    Records the stack's resources (found by tag, name or parent) in this state and tags them
    with its lineage; nothing else changes in AWS.

    With --from-terraform: adopt the stack a Terraform setup made, in place (tags it, writes the
    state, smprov.toml and the hand-off; nothing else changes in AWS)."""
    with _errors(json_out):
        from provisioner import operations, render

        if from_terraform is not None:
            from provisioner.terraform_import import import_from_terraform

            options = _options(config, state, local)
            with _reading(local):
                result = import_from_terraform(options, from_terraform, handoff_path=handoff)
            render.terraform_import(result, json_mode=json_out)
            return
        if handoff is not None:
            raise UsageError("--handoff goes with --from-terraform")
        with (
            _reading(local),
            operations.session(_options(config, state, local), "import") as (stk, doc),
        ):
            done = operations.adopt_into_state(stk, doc)
        for former, keys in sorted(done.restamped.items(), key=lambda item: str(item[0])):
            owner = f"lineage {former}" if former else "no lineage"
            render.err.print(
                f"took over {len(keys)} resource(s) from {owner}: now lineage {stk.lineage}",
                markup=False,
                highlight=False,
            )
        if json_out:
            render.emit_json(
                {"ok": True, "imported": done.recorded, "state": stk.backend.describe()}
            )
        render.err.print(
            f"imported {done.recorded} resource(s) into {stk.backend.describe()}",
            markup=False,
            highlight=False,
        )


@app.command()
def unlock(
    config: ConfigOpt = None,
    state: StateOpt = None,
    local: LocalOpt = False,
) -> None:
    """Remove a stale state lock (S3: whoever holds it, unless alive on this host)."""
    with _errors():
        from provisioner import render
        from provisioner.operations import backend_only

        render.err.print(backend_only(_options(config, state, local)).unlock())


ForceOpt = Annotated[
    bool,
    typer.Option("--force", help="Copy even if the lineage differs or the serial goes back."),
]


@state_app.command("pull")
def state_pull(
    config: ConfigOpt = None,
    state: StateOpt = None,
    local: LocalOpt = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write it to this local state file (checked like push) instead of stdout.",
            dir_okay=False,
        ),
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Print the stack's state from its configured backend (e.g. S3) on stdout."""
    with _errors():
        from provisioner import render
        from provisioner.operations import open_state
        from provisioner.store.local import LocalBackend
        from provisioner.store.transfer import copy_state, read_required

        cfg, backend = open_state(_options(config, state, local))
        if out is None:
            sys.stdout.write(read_required(backend).to_json())
            return
        result = copy_state(
            backend,
            LocalBackend(out),
            stack=cfg.environment,
            region=cfg.region,
            operation="state pull",
            force=force,
        )
        render.err.print(result.describe(), markup=False, highlight=False)


@state_app.command("push")
def state_push(
    path: Annotated[Path, typer.Argument(help="The local state file to upload.", dir_okay=False)],
    config: ConfigOpt = None,
    state: StateOpt = None,
    local: LocalOpt = False,
    force: ForceOpt = False,
) -> None:
    """Write a local state file into the stack's configured backend, under its lock."""
    with _errors():
        from provisioner import render
        from provisioner.operations import open_state
        from provisioner.store.local import LocalBackend
        from provisioner.store.transfer import copy_state

        cfg, backend = open_state(_options(config, state, local))
        result = copy_state(
            LocalBackend(path),
            backend,
            stack=cfg.environment,
            region=cfg.region,
            operation="state push",
            force=force,
        )
        render.err.print(result.describe(), markup=False, highlight=False)


@local_app.command("stop")
def local_stop() -> None:
    """Stop the embedded emulator (its emulated resources are lost)."""
    with _errors():
        from provisioner import local, render

        render.err.print(local.stop())


@local_app.command("status")
def local_status() -> None:
    """Say whether the embedded emulator is running (exit 0 only when it is)."""
    with _errors():
        from provisioner import local, render

        running = local.is_running()
        render.err.print(
            f"local emulator on {local.endpoint_url(local.local_port())} is "
            + ("running" if running else "not running")
        )
        if not running:  # scripts can ask: `smprov local status || ...`
            raise typer.Exit(EXIT_ERROR)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
