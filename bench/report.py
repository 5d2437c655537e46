"""Tables, target checks and ``bench/RESULTS.md``, from the runner's measurements."""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata

from bench.critical import median_costs
from bench.runner import OpResult

#: Operations AWS accepts only as a call of their own after the create (from the API references:
#: the create call has no parameter for the setting). One of these after a create is expected.
SEPARATE_SETTINGS = {
    "ModifyVpcAttribute": "DNS support/hostnames: not CreateVpc parameters, one per call",
    "AssociateDhcpOptions": "CreateVpc takes no DHCP options",
    "AttachInternetGateway": "CreateInternetGateway takes no VPC",
    "ModifySubnetAttribute": "MapPublicIpOnLaunch is not a CreateSubnet parameter",
    "PutRetentionPolicy": "CreateLogGroup takes no retention",
    "PutBucketEncryption": "CreateBucket takes no encryption",
    "PutBucketVersioning": "CreateBucket takes no versioning",
    "PutPublicAccessBlock": "CreateBucket takes no public access block",
    "PutBucketPolicy": "CreateBucket takes no policy",
    "PutRolePolicy": "CreateRole takes no inline policy",
    "AttachRolePolicy": "CreateRole takes no managed policy",
    "AuthorizeSecurityGroupIngress": "CreateSecurityGroup takes no rules",
    "AuthorizeSecurityGroupEgress": "CreateSecurityGroup takes no rules",
    "RevokeSecurityGroupEgress": "a new group's allow-all egress rule can only be revoked",
    "RevokeSecurityGroupIngress": "a default group's rules can only be revoked",
    "ReplaceNetworkAclEntry": "a default network ACL's entries can only be replaced",
    "DeleteNetworkAclEntry": "a default network ACL's entries can only be deleted",
    "CreateNetworkAclEntry": "entries are separate calls",
}


#: How the call that makes a resource is named (CreateTags is not one: it is a setting).
CREATE_PREFIXES = ("Create", "Allocate", "Put", "Associate", "Run", "Upload")


def is_create(operation: str) -> bool:
    return operation.startswith(CREATE_PREFIXES) and operation != "CreateTags"


def verdict(calls: Sequence[str]) -> str:
    """Whether one resource's mutating calls of a cold up are all needed: after the create, only
    settings AWS takes in a call of their own; a resource AWS made itself (a VPC's default
    security group) has no create, so each of its calls is such a setting. "EXTRA: ..." if not.
    """
    creates = [i for i, c in enumerate(calls) if is_create(c)]
    if not creates:
        return "settings of a resource AWS made (no create)"
    rest = [*calls[: creates[0]], *calls[creates[0] + 1 :]]
    extra = [c for c in rest if c not in SEPARATE_SETTINGS]
    if extra:
        return "EXTRA: " + ", ".join(extra)
    return "create + separate settings" if rest else "create"


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    ok: bool


def machine() -> list[tuple[str, str]]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("boto3", "botocore", "moto")
    )
    return [
        ("date (UTC)", time.strftime("%Y-%m-%d %H:%M", time.gmtime())),
        ("nproc", str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?")),
        ("CPU", cpu),
        ("load average (1, 5, 15 min) at the end", load),
        ("Python", platform.python_version()),
        ("packages", versions),
    ]


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "∞" if value == float("inf") else f"{value:.2f}"
    return str(value)


TARGET_STACK = "2 AZ redundant"
DEFAULT = "default"


class Results:
    """Every measurement of one benchmark run, and what follows from them."""

    def __init__(
        self,
        results: Sequence[OpResult],
        *,
        time_scale: float,
        model: Sequence[str],
        warm: float,
    ) -> None:
        #: Every run of a repeated scenario's operation (wall/bound ratios), before the median.
        self.spread: dict[tuple[str, int, str], list[float]] = {}
        self.results = self._medians(list(results))
        self.time_scale = time_scale
        self.model = list(model)
        self.warm = warm
        serial = [r for r in self.results if r.scenario.parallelism == 1 and r.scenario.simulated]
        #: Each operation's local cost (botocore + moto) with nothing else running.
        self.emulator = median_costs([t for r in serial for t in r.local_times])

    def _medians(self, results: list[OpResult]) -> list[OpResult]:
        """One result per scenario and operation: a repeated one's median run by wall time (its
        ratios kept in ``spread``), in the order first seen."""
        groups: dict[tuple[str, int, bool, str], list[OpResult]] = {}
        for r in results:
            s = r.scenario
            groups.setdefault((s.stack, s.parallelism, s.simulated, r.op), []).append(r)
        out = []
        for (stack, parallelism, _sim, op), runs in groups.items():
            ordered = sorted(runs, key=lambda r: r.wall)
            if len(runs) > 1:
                self.spread[(stack, parallelism, op)] = [r.ratio() for r in ordered]
            out.append(ordered[(len(ordered) - 1) // 2])
        return out

    def _repeat_note(self) -> str:
        runs = max((len(v) for v in self.spread.values()), default=1)
        if runs == 1:
            return ""
        return (
            f" The {TARGET_STACK} stack at parallelism 10 ran {runs} times: its rows are the "
            "median run of each operation, and the targets list every run's ratio."
        )

    def find(
        self, stack: str, op: str, *, parallelism: int = 10, simulated: bool = True
    ) -> OpResult | None:
        for r in self.results:
            s = r.scenario
            if (s.stack, s.parallelism, s.simulated, r.op) == (stack, parallelism, simulated, op):
                return r
        return None

    def simulated(self, parallelism: int | None = None) -> list[OpResult]:
        return [
            r
            for r in self.results
            if r.scenario.simulated and parallelism in (None, r.scenario.parallelism)
        ]

    # -- tables ---------------------------------------------------------------------------------

    def operations_table(self) -> str:
        rows = []
        for r in self.simulated():
            applies = len(r.graph) > 0
            rows.append(
                [
                    r.scenario.stack,
                    r.scenario.parallelism,
                    r.op,
                    r.wall,
                    r.cpu,
                    f"{r.reads} ({r.poll_reads})",
                    r.mutating,
                    r.bound().seconds,
                    r.ratio() if applies else "-",
                    r.ratio(self.emulator) if applies and self.emulator else "-",
                    f"{r.state_writes} ({r.state_write_seconds:.2f} s)",
                ]
            )
        return table(
            [
                "stack",
                "p",
                "operation",
                "wall s",
                "cpu s",
                "reads (polls)",
                "mutating",
                "bound s",
                "wall/bound",
                "wall/(bound+emu)",
                "state writes",
            ],
            rows,
        )

    def speedup_table(self) -> str:
        rows = []
        for ser in self.simulated(parallelism=1):
            par = self.find(ser.scenario.stack, ser.op)
            if par is None or ser.op not in ("cold up", "down"):
                continue
            rows.append([ser.scenario.stack, ser.op, par.wall, ser.wall, ser.wall / par.wall])
        return table(["stack", "operation", "p=10 wall s", "p=1 wall s", "speedup"], rows)

    def scale_table(self) -> str:
        rows = []
        for cold in self.simulated(parallelism=10):
            if cold.op != "cold up":
                continue
            row: list[object] = [cold.scenario.stack, cold.resources]
            for op in ("cold up", "no-change up", "plan", "down"):
                m = self.find(cold.scenario.stack, op)
                row.append(f"{m.wall:.2f} s, {m.requests} calls" if m else "-")
            rows.append(row)
        return table(["stack", "resources", "cold up", "no-change up", "plan", "down"], rows)

    def plain_table(self) -> str:
        rows = [
            (r.op, r.wall, r.cpu, r.reads, r.mutating, r.requests)
            for r in self.results
            if not r.scenario.simulated
        ]
        return table(["operation", "wall s", "cpu s", "reads", "mutating", "requests"], rows)

    def reads_table(self) -> str:
        noop = self.find(DEFAULT, "no-change up", simulated=False)
        if noop is None:
            return "(not measured)"
        rows: list[tuple[str, int, str]] = []
        for kind, ops in sorted(noop.reads_by_kind.items()):
            counted = Counter(ops)
            rows.append((kind, len(ops), ", ".join(f"{o} x{n}" for o, n in counted.items())))
        for kind in noop.kind_names:
            if kind not in noop.reads_by_kind:
                rows.append((kind, 0, "(shares another kind's describe)"))
        outside = Counter(noop.read_operations)
        for ops in noop.reads_by_kind.values():
            outside.subtract(ops)
        rest = ", ".join(f"{o} x{n}" for o, n in sorted(outside.items()) if n > 0)
        rows.append(("(start-up: identity, zones, preflight)", sum(outside.values()), rest))
        return table(["kind", "reads", "operations"], rows)

    def mutating_rows(self) -> list[tuple[str, list[str], str]]:
        """Resources whose cold up sent more than one mutating call, with a verdict."""
        cold = self.find(DEFAULT, "cold up", simulated=False)
        if cold is None:
            return []
        return [
            (key, calls, verdict(calls))
            for key, calls in sorted(cold.mutating_by_key.items())
            if len(calls) > 1
        ]

    def mutating_table(self) -> str:
        rows = [(k, ", ".join(c), v) for k, c, v in self.mutating_rows()]
        cold = self.find(DEFAULT, "cold up", simulated=False)
        if cold is not None and cold.helper_mutating:
            rows.append(
                (
                    "(boto3 transfer threads)",
                    ", ".join(cold.helper_mutating),
                    "the s3_object uploads (not attributable to a step's thread)",
                )
            )
        return table(["resource", "mutating calls", "verdict"], rows)

    def critical_paths(self) -> list[str]:
        return [
            f"- {r.scenario.stack}, {r.op}: {r.bound().describe()} "
            f"({r.bound().seconds:.2f} s; measured: "
            + ", ".join(f"{name} {sec:.2f} s" for name, sec in r.phases.items())
            + ")"
            for r in self.simulated(parallelism=10)
            if r.op in ("cold up", "down")
        ]

    # -- targets --------------------------------------------------------------------------------

    def targets(self) -> list[Target]:
        out: list[Target] = []
        for op in ("cold up", "down"):
            par = self.find(TARGET_STACK, op)
            ser = self.find(TARGET_STACK, op, parallelism=1)
            if par is not None:
                emu = f", {par.ratio(self.emulator):.2f}x of bound+emu" if self.emulator else ""
                runs = self.spread.get((TARGET_STACK, 10, op), [])
                spread = (
                    f"median of {len(runs)} runs ({', '.join(f'{x:.2f}' for x in runs)}){emu}"
                    if runs
                    else emu.lstrip(", ")
                )
                out.append(
                    Target(
                        f"{op}, {TARGET_STACK}: within 1.2x of the critical path",
                        f"{par.ratio():.2f}x of the model bound"
                        + (f"; {spread}" if spread else ""),
                        par.ratio() <= 1.2,
                    )
                )
            if par is not None and ser is not None:
                out.append(
                    Target(
                        f"{op}, {TARGET_STACK}: at least 3x faster than parallelism=1",
                        f"{ser.wall / par.wall:.2f}x",
                        ser.wall / par.wall >= 3,
                    )
                )
        for op in ("no-change up", "plan"):
            r = self.find(DEFAULT, op, simulated=False)
            if r is None:
                continue
            per_kind = r.refresh_reads / r.kinds
            out.append(
                Target(
                    f"{op}, default stack: <= 1 read call per resource kind on average",
                    f"{r.refresh_reads} refresh reads / {r.kinds} kinds = {per_kind:.2f}",
                    per_kind <= 1.0,
                )
            )
            out.append(
                Target(
                    f"{op}, default stack: <= 45 requests, 0 mutating",
                    f"{r.requests} requests ({r.reads} reads), {r.mutating} mutating",
                    r.requests <= 45 and r.mutating == 0,
                )
            )
        for op in ("cold up", "down"):
            r = self.find(DEFAULT, op, simulated=False)
            if r is not None:
                out.append(
                    Target(
                        f"{op}, default stack, plain in-process moto: < 3 s",
                        f"{r.wall:.2f} s",
                        r.wall < 3.0,
                    )
                )
        rows = self.mutating_rows()
        extra = [row for row in rows if row[2].startswith("EXTRA")]
        out.append(
            Target(
                "cold up: <= 1 mutating call per resource + separate settings",
                "all within" if not extra else "; ".join(f"{k}: {v}" for k, _c, v in extra),
                not extra,
            )
        )
        return out

    def targets_table(self) -> str:
        return table(
            ["target", "measured", "met"],
            [(t.name, t.measured, "yes" if t.ok else "NO") for t in self.targets()],
        )

    def notes(self) -> list[str]:
        """What the numbers say about where the time goes (computed, not written by hand)."""
        out: list[str] = []
        for op in ("cold up", "down"):
            run = self.find(TARGET_STACK, op)
            if run is None:
                continue
            bound = run.bound()
            chain = bound.seconds - run.call_latency
            phases = run.phases
            out.append(
                f"- {TARGET_STACK} {op} at p=10: {run.wall:.2f} s against a "
                f"{bound.seconds:.2f} s bound. Start-up {phases['start-up']:.2f} s and "
                f"refresh+plan {phases['refresh+plan']:.2f} s stand against the bound's one read "
                f"round of {run.call_latency:.2f} s (the refresh needs two rounds: the log group "
                "and the VPC's default objects are found through the VPC's id); apply "
                f"{phases['apply']:.2f} s against its chain of {chain:.2f} s. {run.cpu:.2f} s of "
                "CPU in this one Python process (smprov, botocore and in-process moto share one "
                f"interpreter lock): the {len(run.first_reads)} reads of start-up and refresh "
                "cost moto and botocore a few milliseconds of CPU each, one at a time, where AWS "
                "would answer them in parallel on its own machines."
            )
        cold = self.find(TARGET_STACK, "cold up")
        if cold is not None:
            out.append(
                f"- The cold up wrote the state {cold.state_writes} times "
                f"({cold.state_write_seconds:.2f} s in all): an intent before every create and a "
                "record after it, each a complete JSON document fsynced and renamed. The text is "
                "assembled from each record's kept JSON, and the file is written outside the "
                "recorder's lock, so changes made meanwhile share the next write."
            )
        noop = self.find(DEFAULT, "no-change up", simulated=False)
        if noop is not None:
            many = {k: len(v) for k, v in noop.reads_by_kind.items() if len(v) > 1}
            out.append(
                "- Reads: every EC2 kind costs one tag-filtered describe (routes and "
                "associations share the route tables'); kinds above one read: "
                + ", ".join(f"{k} {n}" for k, n in sorted(many.items()))
                + " (S3 has one GET per bucket setting, IAM lists and gets each role's "
                "policies, tags of log groups and DB subnet groups are a separate call, VPC DNS "
                "attributes one call each). A resource's reads are sent together, so each of "
                "these kinds costs one round trip when the state records its resources."
            )
        return out

    # -- the document ---------------------------------------------------------------------------

    def text(self) -> str:
        """The whole report, as printed and as written to RESULTS.md."""
        parts = [
            "# smprov benchmark results",
            "",
            "Generated by `python -m bench --write-results` (see bench/__init__.py); "
            "do not edit by hand.",
            "",
            "## Machine",
            "",
            table(["", ""], machine()),
            "",
            "## Model",
            "",
            "In-process moto (`mock_aws`, sped up and serialised by `provisioner.emulator` as "
            "the tests and `--local` run it) with AWS's timing simulated by botocore event hooks "
            "(`bench/model.py`): "
            + "; ".join(self.model)
            + f". The waits are AWS's typical durations divided by a time scale of "
            f"{self.time_scale:g}, and smprov's poll intervals and timeouts are divided by the "
            "same scale. A call keeps AWS's round trip: scaled down it would be shorter than "
            "moto's own CPU per call (1-3 ms), and the benchmark would measure the emulator. "
            "Each operation is one CLI invocation (own clients, lock, state file on local "
            f"disk). The emulator's start-up ({self.warm:.1f} s: importing moto, building a "
            "fresh account's region) happens before any timing, and what exists before an "
            "operation is frozen out of the garbage collector (`gc.freeze`), so a full "
            "collection over moto's 350,000 objects does not stop a timed operation."
            + self._repeat_note(),
            "",
            "- **bound**: the critical-path lower bound: one read round plus the longest chain "
            "of the plan's dependency graph, each step costing its calls' modelled latency and "
            "its modelled waits (`-` where the plan has nothing to apply).",
            "- **bound+emu**: the same with each call also costing its operation's median local "
            "cost (botocore + moto) measured in the serial runs, and the read round no less "
            "than the local cost of all its reads together (one interpreter runs them one at a "
            "time): what this machine allows. The targets are judged against **bound**.",
            "- **cpu s**: CPU time of the process (smprov, botocore and moto together).",
            "- **polls**: describes sent while waiting (NAT gateways through the batched poller: "
            "one call per round for every gateway waiting).",
            "",
            "## Targets",
            "",
            self.targets_table(),
            "",
            "## Operations, simulated AWS",
            "",
            self.operations_table(),
            "",
            "## Parallel against serial",
            "",
            self.speedup_table(),
            "",
            "## Scale (parallelism 10)",
            "",
            self.scale_table(),
            "",
            "## Default stack on plain in-process moto (no simulated latency or waits)",
            "",
            self.plain_table(),
            "",
            "## Reads of a no-change up, by kind (default stack)",
            "",
            self.reads_table(),
            "",
            "## Resources with more than one mutating call in a cold up (default stack)",
            "",
            self.mutating_table(),
            "",
            "## Critical paths",
            "",
            *self.critical_paths(),
            "",
            "## Where the time goes",
            "",
            *self.notes(),
            "",
        ]
        return "\n".join(parts)
