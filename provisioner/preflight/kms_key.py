"""``kms_key_id`` must name a KMS key this account can use for S3 encryption, and is resolved to
the key's ARN before anything uses it.

S3 resolves an alias or a bare key id in the account of whoever makes the request, so the
bucket's default encryption and the SageMaker role's grant both name the key by ARN:
``kms:DescribeKey`` answers for the alias, id or ARN given. An unknown key, one this account may
not describe, or one S3 cannot encrypt with (disabled, pending deletion, asymmetric, not for
encryption) is a configuration problem, reported before any change.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from provisioner.aws.errors import error_code, has_code, to_aws_error
from provisioner.config import StackConfig

#: Answers of DescribeKey that are about the key named, not about the call.
_KEY_PROBLEMS = ("NotFoundException", "AccessDeniedException", "InvalidArnException")


def read(clients: Any, config: StackConfig) -> dict[str, Any] | None:
    """The key's metadata, or ``{"Error": (code, message)}`` when AWS refused to describe it."""
    if not config.kms_key_id:
        return None
    try:
        return clients("kms").describe_key(KeyId=config.kms_key_id)["KeyMetadata"]
    except Exception as exc:
        if not has_code(exc, *_KEY_PROBLEMS):
            raise to_aws_error(exc, "checking kms_key_id") from exc
        message = getattr(exc, "response", {}).get("Error", {}).get("Message", "")
        return {"Error": (error_code(exc), message)}


def judge(key: dict[str, Any] | None, config: StackConfig) -> list[str]:
    if key is None:
        return []
    where = f"kms_key_id: {config.kms_key_id!r}"
    if "Error" in key:
        code, message = key["Error"]
        if code == "AccessDeniedException":
            return [f"{where} cannot be described with these credentials ({message})"]
        return [f"{where} is not a KMS key in {config.region} ({code}: {message})"]
    problems = []
    state = key.get("KeyState", "Enabled")
    if state != "Enabled":
        problems.append(f"{where} is {state}: S3 can only encrypt with an enabled key")
    if (
        key.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT"
        or key.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"
    ):
        problems.append(
            f"{where} is a {key.get('KeySpec')} key for {key.get('KeyUsage')}: S3 encrypts only "
            "with symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)"
        )
    return problems


def resolve(key: dict[str, Any] | None, config: StackConfig) -> StackConfig:
    """``config`` with ``kms_key_id`` as the key's ARN (an alias or key id names it only in the
    caller's account)."""
    if key is None or "Arn" not in key:
        return config
    return dataclasses.replace(config, kms_key_id=key["Arn"])
