"""Reading botocore errors: AWS's code, not-found detection, and conversion to AwsError."""

from __future__ import annotations

from typing import Any

from provisioner.errors import AwsError


def error_code(exc: BaseException) -> str | None:
    """AWS's error code of a botocore ClientError, or None for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message") or exc)
    return str(exc)


def has_code(exc: BaseException, *codes: str) -> bool:
    return error_code(exc) in codes


def to_aws_error(exc: BaseException, doing: str) -> AwsError:
    """Wrap a botocore failure into the one error type the CLI knows how to print."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        WaiterError,
    )

    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, NoCredentialsError):
        return AwsError(
            f"{doing}: no AWS credentials found",
            code="NoCredentials",
            hint="configure the standard AWS chain (AWS_PROFILE, environment variables, "
            "SSO or an instance role), or use --local for the embedded emulator",
        )
    if isinstance(exc, ClientError):
        code = error_code(exc)
        op = getattr(exc, "operation_name", None)
        return AwsError(f"{doing}: {code}: {error_message(exc)}", code=code, operation=op)
    if isinstance(exc, WaiterError):
        reason = getattr(exc, "last_response", None) or {}
        detail = _waiter_detail(reason)
        return AwsError(f"{doing}: {exc}{detail}", code="WaiterError")
    if isinstance(exc, BotoCoreError):
        return AwsError(f"{doing}: {exc}", code=type(exc).__name__)
    return AwsError(f"{doing}: {type(exc).__name__}: {exc}")


def _waiter_detail(response: dict[str, Any]) -> str:
    for item in response.get("NatGateways", []) or []:
        if item.get("FailureCode"):
            return f" ({item['FailureCode']}: {item.get('FailureMessage', '')})"
    return ""
