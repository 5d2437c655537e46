"""The acceptance suite: smprov's whole lifecycle against a real AWS account, with a SageMaker
training job in VPC mode. Opt-in (``pytest -m aws``, ``SMPROV_ACCEPTANCE=1`` and credentials
that resolve; README "Permissions" says how to run it and what it costs). The same lifecycle code
runs against the emulator in every test run (tests/test_permissions.py), without the job.

A run uses a unique environment (``acc-<start>-<random>``), tags everything ``smprov-acceptance``,
and tears down even when a step fails; a run killed before its cleanup is swept by
``python -m tests.acceptance.sweep --older-than 6h``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.lifecycle import (
    SUITE_TAG,
    Lifecycle,
    delete_bucket,
    make_state_bucket,
    state_bucket_name,
    unique_environment,
)
from tests.acceptance.sweep import cli_runner

pytestmark = pytest.mark.aws

#: SageMaker's built-in XGBoost image, by region (SageMaker Developer Guide, "Docker Registry
#: Paths and Example Code", XGBoost).
XGBOOST_ACCOUNTS = {
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-2": "246618743249",
    "eu-west-1": "685385470294",
    "eu-central-1": "492215442770",
}
#: The smoke job's data: label first, no header (the XGBoost CSV format).
TRAIN_CSV = "".join(f"{i % 2},{i},{i * 2 % 7}\n" for i in range(40))
PERMISSION_WORDS = ("AccessDenied", "not authorized", "UnauthorizedOperation", "permission")


def _account() -> tuple[Any, str]:
    """The session the suite runs under; asked for (the conftest deselects it otherwise) but
    without credentials is a failure, so an opted-in CI job cannot pass without running."""
    import boto3

    session = boto3.session.Session()
    if session.get_credentials() is None:
        pytest.fail("acceptance suite: SMPROV_ACCEPTANCE=1 but no AWS credentials resolve")
    return session, session.region_name or "us-east-1"


@pytest.fixture
def lifecycle(tmp_path: Path) -> Iterator[Lifecycle]:
    _session, region = _account()
    from provisioner.aws.clients import Clients

    clients = Clients(region)
    account = clients("sts").get_caller_identity()["Account"]
    environment = unique_environment()
    bucket = state_bucket_name(environment, account)
    make_state_bucket(clients("s3"), bucket, region)
    run = cli_runner()
    (tmp_path / "train.csv").write_text(TRAIN_CSV)
    lc = Lifecycle(
        workdir=tmp_path,
        environment=environment,
        region=region,
        state_url=f"s3://{bucket}/{environment}.json",
        run_cli=lambda args: run(args, tmp_path),
        clients=clients,
        settings={"csv_source": "train.csv"},
    )
    try:
        yield lc
    finally:
        # Cleanup even after a failure: anything still standing goes (the sweeper catches what
        # this cannot, e.g. a run killed outright).
        lc.cleanup()
        if "smprov plan --destroy --detailed-exitcode -> 0" not in lc.log:
            lc.run_cli(["down", "--yes", "--delete-data", "--delete-logs"])
        delete_bucket(clients("s3"), bucket)


def smoke_training_job(lc: Lifecycle) -> None:
    """A VPC-mode job started from `smprov output --format sagemaker` must get past the
    start (its network interfaces made with the role) with no permission error."""
    sagemaker = lc.clients("sagemaker")
    account = XGBOOST_ACCOUNTS.get(lc.region)
    assert account, f"no XGBoost image account known for {lc.region}: add it to XGBOOST_ACCOUNTS"
    name = f"{lc.environment}-smoke"
    config = lc.training_config()
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": f"{account}.dkr.ecr.{lc.region}.amazonaws.com/sagemaker-xgboost:1.7-1",
            "TrainingInputMode": "File",
        },
        HyperParameters={"objective": "binary:logistic", "num_round": "3"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        Tags=[{"Key": SUITE_TAG, "Value": "true"}],
        **config,
    )
    reached = None
    deadline = time.monotonic() + 1500
    while time.monotonic() < deadline:
        job = sagemaker.describe_training_job(TrainingJobName=name)
        status, secondary = job["TrainingJobStatus"], job.get("SecondaryStatus")
        if status == "InProgress" and secondary not in ("Starting", "Pending"):
            reached = reached or secondary  # past the start: the ENIs exist
        if status in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(20)
    reason = job.get("FailureReason", "")
    assert not any(word.lower() in reason.lower() for word in PERMISSION_WORDS), reason
    assert status == "Completed" or reached, f"{status}/{secondary}: {reason}"
    if status == "InProgress":
        sagemaker.stop_training_job(TrainingJobName=name)
        waiter = sagemaker.get_waiter("training_job_completed_or_stopped")
        waiter.wait(TrainingJobName=name)


def test_the_whole_lifecycle_on_aws_with_a_training_job(lifecycle: Lifecycle) -> None:
    lifecycle.run(before_down=smoke_training_job)
    policy = lifecycle.permissions()
    assert policy["Statement"], "smprov permissions printed an empty policy"
