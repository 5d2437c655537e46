"""What `smprov output` prints: the ids and names the next steps (training jobs, CI) need, and
the ``--format sagemaker`` document ready for CreateTrainingJob.

Computed from the state alone (no AWS call). Each part of the blueprint declares its own values
(``blueprint.OUTPUTS``), next to the resources they come from: a new kind adds its values there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner import blueprint
from provisioner.blueprint.security import TRAINING_GROUP_OUTPUT
from provisioner.config import StackConfig
from provisioner.store.document import StateDocument

#: The folder training output goes to when the configured folders include it.
OUTPUT_FOLDER = "model-artifacts/"


def outputs(doc: StateDocument | None, config: StackConfig) -> dict[str, Any]:
    resources = doc.resources if doc is not None else {}
    return {"stack": config.environment, **blueprint.outputs(resources, config)}


def output_folder(config: StackConfig) -> str:
    """``model-artifacts/`` when configured, else the last folder (the first holds the input)."""
    return OUTPUT_FOLDER if OUTPUT_FOLDER in config.folders else config.folders[-1]


def sagemaker_job_config(values: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    """The CreateTrainingJob parameters the stack decides (add the algorithm, resources and
    stopping condition): role, VPC placement, a ``train`` channel on the CSV's folder, and the
    output path. Without a training security group in the state ``SecurityGroupIds`` is empty,
    which CreateTrainingJob rejects: the CLI says so."""
    bucket = values.get("bucket_name")
    output: dict[str, Any] = {"S3OutputPath": f"s3://{bucket}/{output_folder(config)}"}
    if config.kms_key_id:
        output["KmsKeyId"] = config.kms_key_id
    group = values.get(TRAINING_GROUP_OUTPUT)
    return {
        "RoleArn": values.get("sagemaker_role_arn"),
        "VpcConfig": {
            "Subnets": list(values.get("private_subnets") or []),
            "SecurityGroupIds": [group] if group else [],
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{bucket}/{config.folders[0]}",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": output,
    }
