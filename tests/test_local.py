"""The --local emulator: a real moto server process, started, reused and stopped as a user would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import boto3
import pytest

from provisioner import local
from provisioner.errors import SmprovError, UsageError

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_LOOKING_KEY = "AKIAREALKEYDONOTSEND"
REAL_LOOKING_SECRET = "real-secret-must-not-leave-this-process"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A free port and a private SMPROV_HOME; whatever the test started is stopped afterwards."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("SMPROV_HOME", str(tmp_path / "home"))
    chosen = _free_port()
    monkeypatch.setenv("SMPROV_LOCAL_PORT", str(chosen))
    yield chosen
    local.stop()


def _pid_file(tmp_path: Path, port: int) -> Path:
    return tmp_path / "home" / f"emulator-{port}.pid"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_emulator_lifecycle_start_reuse_stop(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", REAL_LOOKING_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", REAL_LOOKING_SECRET)
    pid_file = _pid_file(tmp_path, port)
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{_dead_pid()}\n")  # left behind by a crashed run: must not matter

    emulator = local.ensure_running()

    assert emulator.started
    assert emulator.endpoint == f"http://127.0.0.1:{port}" == local.endpoint_url(port)
    assert emulator.pid is not None
    assert pid_file.read_text().strip() == str(emulator.pid)
    assert local.is_running()

    ec2 = boto3.client("ec2", region_name="us-east-1", **local.client_settings(emulator.endpoint))
    sent: list[str] = []
    ec2.meta.events.register(
        "before-send", lambda request, **_: sent.append(request.headers["Authorization"].decode())
    )
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    assert sent and all("Credential=smprov-local/" in h for h in sent)
    assert not any(REAL_LOOKING_KEY in h for h in sent)

    again = local.ensure_running()

    assert not again.started
    assert again.pid == emulator.pid
    assert again.endpoint == emulator.endpoint
    vpcs = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert [v["CidrBlock"] for v in vpcs] == ["10.42.0.0/16"]
    sts = boto3.client("sts", region_name="us-east-1", **local.client_settings(again.endpoint))
    assert sts.get_caller_identity()["Account"] == local.LOCAL_ACCOUNT

    message = local.stop()

    assert message == f"local emulator on 127.0.0.1:{port} stopped (pid {emulator.pid})"
    with pytest.raises(ProcessLookupError):
        os.kill(emulator.pid, 0)
    assert not local.is_running()
    assert not pid_file.exists()
    assert local.stop() == f"no local emulator is running on 127.0.0.1:{port}"


def test_server_gets_no_aws_credentials_and_can_attach_managed_policies(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", REAL_LOOKING_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", REAL_LOOKING_SECRET)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "210987654321")

    emulator = local.ensure_running()

    assert emulator.pid is not None
    environ = Path(f"/proc/{emulator.pid}/environ").read_bytes().split(b"\0")
    assert not [v for v in environ if v.startswith(b"AWS_") or REAL_LOOKING_SECRET.encode() in v]
    assert b"MOTO_IAM_LOAD_MANAGED_POLICIES=true" in environ
    iam = boto3.client("iam", region_name="us-east-1", **local.client_settings(emulator.endpoint))
    iam.create_role(RoleName="trainer", AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    policy_arn = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
    iam.attach_role_policy(RoleName="trainer", PolicyArn=policy_arn)
    attached = iam.list_attached_role_policies(RoleName="trainer")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [policy_arn]
    role_arn = iam.get_role(RoleName="trainer")["Role"]["Arn"]
    assert role_arn == f"arn:aws:iam::{local.LOCAL_ACCOUNT}:role/trainer"


def test_stop_cleans_a_stale_pid_file(port: int, tmp_path: Path) -> None:
    pid_file = _pid_file(tmp_path, port)
    pid_file.parent.mkdir(parents=True)
    stale = _dead_pid()
    pid_file.write_text(f"{stale}\n")

    message = local.stop()

    assert message == (
        f"no local emulator is running on 127.0.0.1:{port} (removed stale pid file for pid {stale})"
    )
    assert not pid_file.exists()


def test_stop_never_signals_a_process_that_is_not_our_server(port: int, tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pid_file = _pid_file(tmp_path, port)
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(str(bystander.pid))

        message = local.stop()

        assert "removed stale pid file" in message
        assert bystander.poll() is None
        assert not pid_file.exists()
    finally:
        bystander.kill()
        bystander.wait()


class _NotMoto(BaseHTTPRequestHandler):
    """An HTTP server that answers every GET with 200 and JSON, just not moto's."""

    def do_GET(self) -> None:
        body = b'{"hello": "world"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


def test_port_held_by_another_http_server_is_a_clear_error(port: int, tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", port), _NotMoto)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(SmprovError) as caught:
            local.ensure_running()
        assert local.is_running() is False
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert f"port {port}" in caught.value.message
    assert "not smprov's emulator" in caught.value.message
    assert caught.value.hint is not None and "SMPROV_LOCAL_PORT" in caught.value.hint
    assert not _pid_file(tmp_path, port).exists()


def test_server_that_dies_while_starting_reports_its_log(port: int, tmp_path: Path) -> None:
    with socket.socket() as squatter:  # bound but not listening: refuses connections, blocks bind
        squatter.bind(("127.0.0.1", port))

        with pytest.raises(SmprovError) as caught:
            local.ensure_running()

    assert "exited with code" in caught.value.message
    assert "in use" in caught.value.message  # moto's own words, quoted from the log
    assert not _pid_file(tmp_path, port).exists()


@pytest.mark.parametrize("value", ["abc", "80", "1023", "65536", "-1", "45.5"])
def test_invalid_port_is_a_usage_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMPROV_LOCAL_PORT", value)

    for call in (local.ensure_running, local.stop, local.is_running):
        with pytest.raises(UsageError) as caught:
            call()
        assert caught.value.exit_code == 2
        assert "SMPROV_LOCAL_PORT" in caught.value.message
        assert repr(value) in caught.value.message


def test_default_port_and_runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMPROV_LOCAL_PORT", raising=False)
    monkeypatch.delenv("SMPROV_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert local.local_port() == 4599
    assert local.runtime_dir() == tmp_path / "xdg" / "smprov"

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert local.runtime_dir() == tmp_path / "user" / ".cache" / "smprov"


def test_missing_server_extra_gives_the_install_hint(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = local.importlib.util.find_spec
    monkeypatch.setattr(
        local.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "flask" else real_find_spec(name, *a),
    )

    with pytest.raises(SmprovError) as caught:
        local.ensure_running()

    assert caught.value.hint == "pip install 'smprov[local]'"
    assert "flask" in caught.value.message
    assert not local.is_running()


def test_concurrent_processes_start_one_server_without_importing_moto(port: int) -> None:
    script = (
        "import json, sys\n"
        "from provisioner.local import ensure_running\n"
        "e = ensure_running()\n"
        "print(json.dumps({'started': e.started, 'pid': e.pid, 'moto': 'moto' in sys.modules}))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [json.loads(proc.communicate(timeout=30)[0]) for proc in procs]

    assert all(proc.returncode == 0 for proc in procs)
    assert sorted(r["started"] for r in results) == [False, True]
    assert results[0]["pid"] == results[1]["pid"] is not None
    assert not any(r["moto"] for r in results)
    assert local.is_running()
    # stopped from a third process, as `smprov local stop` would
    assert local.stop() == f"local emulator on 127.0.0.1:{port} stopped (pid {results[0]['pid']})"
    assert not local.is_running()


def test_a_changed_csv_uploads_again_on_the_emulator(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TLS-only bucket policy must not lock smprov out of its own bucket in local rehearsals
    (moto alone would refuse the second upload: see provisioner/emulator.py)."""
    import boto3
    from typer.testing import CliRunner

    from provisioner.cli import app

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "smprov.toml").write_text('csv_source = "data.csv"\n')
    (work / "data.csv").write_text("label,x\n1,2\n")
    runner = CliRunner()
    try:
        first = runner.invoke(app, ["up", "--local", "--yes"])
        assert first.exit_code == 0, first.output
        (work / "data.csv").write_text("label,x\n1,2\n0,5\n")
        second = runner.invoke(app, ["up", "--local", "--yes"])
        assert second.exit_code == 0, second.output
        assert "s3_object.csv" in second.output
        s3 = boto3.client(
            "s3", region_name="us-east-1", **local.client_settings(local.endpoint_url(port))
        )
        bucket = next(
            b["Name"]
            for b in s3.list_buckets()["Buckets"]
            if b["Name"].startswith("dev-sagemaker-")
        )
        body = s3.get_object(Bucket=bucket, Key="raw-data/data.csv")["Body"].read()
        assert body == b"label,x\n1,2\n0,5\n"
        assert s3.get_bucket_policy(Bucket=bucket)["Policy"]  # still attached
    finally:
        local.stop()


def test_local_status_exits_0_only_when_the_emulator_runs(port: int) -> None:
    from typer.testing import CliRunner

    from provisioner.cli import app

    stopped = CliRunner().invoke(app, ["local", "status"])
    assert stopped.exit_code == 1
    assert f"127.0.0.1:{port} is not running" in stopped.output
    local.ensure_running()
    running = CliRunner().invoke(app, ["local", "status"])
    assert running.exit_code == 0, running.output
    assert "is running" in running.output


def test_a_start_is_said_and_the_emulator_knows_its_instance(port: int) -> None:
    said: list[str] = []
    emulator = local.ensure_running(say=said.append)
    assert said == [
        f"starting the local emulator on 127.0.0.1:{port} ...",
        f"started the local emulator on 127.0.0.1:{port} (pid {emulator.pid}); "
        "`smprov local stop` ends it",
    ]
    assert emulator.instance is not None and len(emulator.instance) == 32
    again = local.ensure_running(say=said.append)
    assert len(said) == 2  # reused: nothing to say
    assert again.instance == emulator.instance
    local.stop()
    restarted = local.ensure_running()
    assert restarted.instance != emulator.instance  # a new run: an empty account


def test_a_moto_server_that_is_not_smprovs_emulator_is_refused(port: int) -> None:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        with pytest.raises(SmprovError) as caught:
            local.ensure_running()
        assert local.is_running() is False
    finally:
        server.stop()
    assert caught.value.message == (
        f"port {port} on 127.0.0.1 is held by a moto server that is not smprov's emulator"
    )
    assert "SMPROV_LOCAL_PORT" in (caught.value.hint or "")


def test_identity_path_is_the_emulators() -> None:
    from provisioner import emulator

    assert local.IDENTITY_PATH == emulator.IDENTITY_PATH


def test_a_restarted_emulator_sets_the_old_state_aside(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's own command after `smprov local stop`: it used to fail every time with the
    emulator's HTML error page, until the state file was deleted by hand."""
    from typer.testing import CliRunner

    from provisioner.cli import app

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "smprov.toml").write_text("interface_endpoints = []\n")
    runner = CliRunner()
    first = runner.invoke(app, ["up", "--local", "--yes"])
    assert first.exit_code == 0, first.output
    assert f"started the local emulator on 127.0.0.1:{port}" in first.output
    state = work / "state" / "local" / "dev.json"
    made = json.loads(state.read_text())
    assert len(made["instance"]) == 32

    local.stop()
    planned = runner.invoke(app, ["plan", "--local"])
    assert planned.exit_code == 0, planned.output
    text = " ".join(planned.output.split())
    assert "was restarted since" in text and "`smprov up --local` sets the state aside" in text
    assert state.exists()  # a plan changes nothing
    assert "<" not in planned.output

    again = runner.invoke(app, ["up", "--local", "--yes"])
    assert again.exit_code == 0, again.output
    assert "set the state aside as" in " ".join(again.output.split())
    [stale] = (work / "state" / "local").glob("dev.json.stale-*")
    assert json.loads(stale.read_text())["lineage"] == made["lineage"]
    fresh = json.loads(state.read_text())
    assert fresh["instance"] != made["instance"] and fresh["lineage"] != made["lineage"]
    assert runner.invoke(app, ["plan", "--local", "--detailed-exitcode"]).exit_code == 0

    local.stop()  # and `down` after a restart: nothing to delete, the state set aside too
    gone = runner.invoke(app, ["down", "--local", "--yes"])
    assert gone.exit_code == 0, gone.output
    text = " ".join(gone.output.split())
    assert "was restarted since" in text and "set the state aside as" in text, text
    assert len(list((work / "state" / "local").glob("dev.json.stale-*"))) == 2
    assert "Traceback" not in gone.output and "<" not in gone.output
