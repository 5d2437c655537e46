"""``python -m bench [--write-results]``: run the benchmark, print the tables.

Runs offline: fake credentials, no AWS configuration of the developer's, every call caught by
in-process moto. Exit status 0 even when a target is missed (the table says so); 1 if an
operation failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _offline_environment() -> None:
    """Fake credentials and no profile, endpoint or config file: nothing can reach AWS."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    empty = Path(tempfile.mkdtemp(prefix="smprov-bench-aws-")) / "empty"
    empty.write_text("")
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            # smprov uses no AMI; moto's catalogue costs ~0.3 s per fresh account.
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        }
    )


def _zones(text: str) -> list[int]:
    zones = [int(z) for z in text.split(",") if z.strip()]
    if not zones or any(not 1 <= z <= 6 for z in zones):
        raise argparse.ArgumentTypeError("zones are 1 to 6, comma-separated")
    return zones


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--write-results", action="store_true", help=f"also write {RESULTS.name}")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=60.0,
        help="divide AWS's wait durations by this (default 60: a 2-minute NAT gateway takes 2 s; "
        "a call keeps its 50 ms)",
    )
    parser.add_argument(
        "--zones", type=_zones, default=[2, 3, 6], help="redundant stacks to run (default 2,3,6)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the 2-AZ stack at parallelism 10, whose targets are judged on the "
        "median run (default 3; this machine's noise moves one run by about 5%%)",
    )
    parser.add_argument(
        "--serial-zones",
        type=_zones,
        default=[2],
        help="of those, the ones also run at parallelism 1 (default 2; 2,3,6 takes ~2 min)",
    )
    args = parser.parse_args(argv)
    _offline_environment()

    from bench import runner
    from bench.model import AwsModel
    from bench.report import Results
    from bench.trace import Tracer

    started = time.monotonic()
    warm = runner.warm_emulator()
    scenarios = []
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    for zones in args.zones:
        runs = args.repeat if zones == 2 else 1
        scenarios += [runner.redundant_stack(zones)] * runs
        if zones in args.serial_zones:
            scenarios.append(runner.redundant_stack(zones, parallelism=1))
    scenarios.append(runner.default_stack(simulated=False))

    measured = []
    try:
        # One untimed pass on plain moto brings in every backend the stack uses.
        runner.run_scenario(runner.default_stack(simulated=False), time_scale=args.time_scale)
        for scenario in scenarios:
            print(f"running {scenario.label} ...", file=sys.stderr, flush=True)
            measured += runner.run_scenario(scenario, time_scale=args.time_scale)
    except runner.BenchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    model = AwsModel(args.time_scale, Tracer()).describe()
    results = Results(measured, time_scale=args.time_scale, model=model, warm=warm)
    text = results.text()
    print(text)
    print(f"benchmark took {time.monotonic() - started:.0f} s", file=sys.stderr)
    if args.write_results:
        RESULTS.write_text(text)
        print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
