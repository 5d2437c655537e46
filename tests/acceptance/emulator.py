"""The lifecycle's emulator side: moto's server in this process, the CLI in this process too
(so botocore hooks see every call), found through ``AWS_ENDPOINT_URL`` as a user's shell would."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.acceptance.lifecycle import Lifecycle, Result, make_state_bucket, state_bucket_name
from tests.iam.recording import Recording

ACCOUNT = "123456789012"
REGION = "us-east-1"


@contextmanager
def emulated_lifecycle(workdir: Path, environment: str) -> Iterator[tuple[Lifecycle, Recording]]:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from typer.testing import CliRunner

    from provisioner.aws.clients import Clients
    from provisioner.cli import app
    from provisioner.emulator_fidelity import behave_like_aws

    recording = Recording()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as patch:
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        empty = workdir / "aws-empty-config"
        empty.write_text("")
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            patch.delenv(name, raising=False)
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        }.items():
            patch.setenv(name, value)
        # As `--local` runs moto (provisioner/emulator.py; the test fixtures apply it too).
        behave_like_aws()
        own = Clients(REGION, endpoint_url=endpoint)  # out-of-band changes: not recorded
        recording.attach_to_new_clients(patch)
        patch.chdir(workdir)
        bucket = state_bucket_name(environment, ACCOUNT)
        make_state_bucket(own("s3"), bucket, REGION)
        runner = CliRunner()

        def run(args: Sequence[str]) -> Result:
            result = runner.invoke(app, list(args), input="")
            return Result(result.exit_code, result.stdout, result.stderr)

        lifecycle = Lifecycle(
            workdir=workdir,
            environment=environment,
            region=REGION,
            state_url=f"s3://{bucket}/{environment}.json",
            run_cli=run,
            clients=own,
        )
        try:
            yield lifecycle, recording
        finally:
            server.stop()
