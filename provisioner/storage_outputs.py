"""Outputs of the training-data half: bucket, folder and CSV URIs, the execution role, and the
``--format sagemaker`` document ready for CreateTrainingJob. Computed from the state alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner import keys
from provisioner.config import StackConfig

#: The folder training output goes to when the configured folders include it.
OUTPUT_FOLDER = "model-artifacts/"
#: The output key of the training security group (added by the endpoints/security part).
SECURITY_GROUP_OUTPUT = "training_security_group_id"


def _attr(resources: Mapping[str, Any], key: str, name: str) -> Any:
    rec = resources.get(key)
    return rec.attrs.get(name) if rec is not None else None


def storage_outputs(resources: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    bucket = resources.get(keys.BUCKET)
    name = bucket.id if bucket is not None else None
    folders = keys.folder_keys(config.folders)
    return {
        "bucket_name": name,
        "bucket_arn": _attr(resources, keys.BUCKET, "arn"),
        "s3_folder_uris": [
            f"s3://{name}/{folder}" for folder, key in folders.items() if key in resources and name
        ],
        "training_data_uri": _attr(resources, keys.CSV_OBJECT, "uri"),
        "sagemaker_role_arn": _attr(resources, keys.SAGEMAKER_ROLE, "arn"),
        "sagemaker_role_name": _attr(resources, keys.SAGEMAKER_ROLE, "name"),
    }


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
    group = values.get(SECURITY_GROUP_OUTPUT)
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
