"""End to end: the real `smprov` command, in its own process, against moto's server over HTTP.

The emulator runs in this test's process (``ThreadedMotoServer`` on a free port); every `smprov`
is a child process that finds it through ``AWS_ENDPOINT_URL``, exactly as a user's shell would.
A WSGI wrapper around the emulator counts every request that reaches it by operation, so "the
second `up` changes nothing" is checked on the wire, not taken from smprov's word. No
``mock_aws`` here: it would intercept the calls before they reach the server (moto-notes §8).
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from provisioner.aws.clients import is_read_operation

SMPROV = [sys.executable, "-m", "provisioner.cli"]
WRITE_METHODS = ("PUT", "POST", "DELETE", "PATCH")


class CountingServer(ThreadedMotoServer):
    """moto's threaded server, with every request's operation name recorded."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # it logs every request
        self.operations: list[str] = []
        self._lock = threading.Lock()

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, self._count(app), True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    def _count(self, app: Any) -> Any:
        def counted(environ: dict[str, Any], start_response: Any) -> Any:
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size) if size else b""
            environ["wsgi.input"] = io.BytesIO(body)
            with self._lock:
                self.operations.append(_operation(environ, body))
            return app(environ, start_response)

        return counted

    @property
    def mutating(self) -> list[str]:
        with self._lock:
            return [op for op in self.operations if not is_read_operation(op)]

    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"


def _operation(environ: dict[str, Any], body: bytes) -> str:
    """The AWS operation of a request: JSON target, query ``Action``, or an S3 REST verb."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    query = parse_qs(environ.get("QUERY_STRING", ""))
    action = (form.get("Action") or query.get("Action") or [None])[0]
    if action:
        return action
    if environ["PATH_INFO"].startswith("/moto-api"):
        return "GetMotoApi"
    method = environ["REQUEST_METHOD"]
    return f"S3{method.title()}" if method in WRITE_METHODS else f"Get{method.title()}S3"


@pytest.fixture
def server(aws_env: None) -> Iterator[CountingServer]:
    srv = CountingServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def smprov(workdir: Path, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "COLUMNS": "200"}
    return subprocess.run(
        [*SMPROV, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_up_up_status_output_down_over_http(server: CountingServer, tmp_path: Path) -> None:
    endpoint = server.url()

    first = smprov(tmp_path, endpoint, "up", "--yes")
    assert first.returncode == 0, first.stderr
    assert len(server.mutating) > 20
    state = json.loads((tmp_path / "state" / "dev.json").read_text())
    assert state["endpoint"] == endpoint  # this state can never be applied to real AWS

    server.operations.clear()
    again = smprov(tmp_path, endpoint, "up", "--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changes"] == []
    assert server.mutating == []  # not one write reached the emulator
    assert len(server.operations) > 5  # it did read everything

    status = smprov(tmp_path, endpoint, "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)["resources"]
    assert {r["key"] for r in rows} == set(state["resources"])
    assert {r["status"] for r in rows} == {"exists"}

    output = smprov(tmp_path, endpoint, "output", "--json")
    assert output.returncode == 0, output.stderr
    values = json.loads(output.stdout)
    assert values["vpc_id"] == state["resources"]["vpc"]["id"]
    assert len(values["private_subnets"]) == 2

    down = smprov(tmp_path, endpoint, "down", "--yes", "--delete-data", "--delete-logs")
    assert down.returncode == 0, down.stderr
    assert json.loads((tmp_path / "state" / "dev.json").read_text())["resources"] == {}
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    tagged = [{"Name": "tag:smprov:stack", "Values": ["dev"]}]
    assert ec2.describe_vpcs(Filters=tagged)["Vpcs"] == []
    assert ec2.describe_subnets(Filters=tagged)["Subnets"] == []
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
    assert s3.list_buckets()["Buckets"] == []
