"""`smprov output` for the training half, and `--format sagemaker` accepted by (moto's)
SageMaker CreateTrainingJob, end to end on in-process moto through the CLI."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner, Result

from provisioner import keys
from provisioner.blueprint.security import TRAINING_GROUP_OUTPUT
from provisioner.cli import app
from tests.harness import Harness

TRAINING_GROUP_KEY = "security_group.training"


def smprov(harness: Harness, *args: str) -> Result:
    config = harness.workdir / "smprov.toml"
    if not config.exists():
        config.write_text('environment = "dev"\n')
    state = harness.workdir / "state" / "dev.json"
    return CliRunner().invoke(
        app, ["output", *args, "--config", str(config), "--state", str(state)]
    )


def training_job(job: dict[str, Any]) -> dict[str, Any]:
    """What a user adds to the stack's part: the algorithm, instances and a time limit."""
    return {
        "TrainingJobName": "churn-xgboost-1",
        "AlgorithmSpecification": {
            "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "TrainingInputMode": "File",
        },
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        **job,
    }


def test_sagemaker_format_is_a_training_job_configuration(harness: Harness) -> None:
    _plan, _report, state = harness.up()
    text = smprov(harness)
    assert text.exit_code == 0, text.output
    values = json.loads(smprov(harness, "--json").stdout)
    bucket = state.resources[keys.BUCKET].id
    assert values["bucket_name"] == bucket
    assert values["s3_folder_uris"] == [
        f"s3://{bucket}/raw-data/",
        f"s3://{bucket}/processed-data/",
        f"s3://{bucket}/model-artifacts/",
    ]
    assert values["training_data_uri"] == f"s3://{bucket}/raw-data/sample.csv"
    assert values["sagemaker_role_arn"] == state.resources[keys.SAGEMAKER_ROLE].attrs["arn"]
    lines = {
        line.split(" = ")[0].strip(): line.split(" = ")[1] for line in text.stdout.splitlines()
    }
    assert lines["sagemaker_role_arn"] == values["sagemaker_role_arn"]

    result = smprov(harness, "--format", "sagemaker")
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["RoleArn"] == values["sagemaker_role_arn"]
    assert job["VpcConfig"]["Subnets"] == values["private_subnets"]
    assert len(job["VpcConfig"]["Subnets"]) >= 2
    (channel,) = job["InputDataConfig"]
    assert channel["ChannelName"] == "train"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{bucket}/raw-data/"
    assert job["OutputDataConfig"] == {"S3OutputPath": f"s3://{bucket}/model-artifacts/"}

    group = state.resources[TRAINING_GROUP_KEY].id
    if TRAINING_GROUP_OUTPUT in values:
        assert job["VpcConfig"]["SecurityGroupIds"] == [group]
    else:
        # The security part's output is not there yet: the list is empty and the CLI says so;
        # the stack's training group (which that output will name) completes the request.
        assert job["VpcConfig"]["SecurityGroupIds"] == []
        assert "no training security group" in result.stderr
        job["VpcConfig"]["SecurityGroupIds"] = [group]

    sagemaker = harness.clients("sagemaker")
    arn = sagemaker.create_training_job(**training_job(job))["TrainingJobArn"]
    described = sagemaker.describe_training_job(TrainingJobName=arn.rsplit("/", 1)[1])
    assert described["RoleArn"] == job["RoleArn"]
    assert described["VpcConfig"] == job["VpcConfig"]
    assert described["OutputDataConfig"]["S3OutputPath"] == f"s3://{bucket}/model-artifacts/"


def test_unknown_format_is_a_usage_error(harness: Harness) -> None:
    harness.up()
    result = smprov(harness, "--format", "yaml")
    assert result.exit_code == 2
    assert "use text or sagemaker" in result.output
