"""Reading botocore errors: AWS's code, not-found detection, and conversion to AwsError.

No HTML or XML page ever reaches the user: an endpoint that fails inside (an emulator's 500, a
proxy's error page) answers with one, and the error says instead, in one line, which call failed
and that the endpoint (not AWS's rules) is the cause.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from provisioner.errors import AwsError

#: The code of an error that is the endpoint's failure, not an AWS refusal.
ENDPOINT_FAILURE = "EndpointFailure"
ENDPOINT_FAILURE_HINT = (
    "the endpoint failed while answering (this is not an AWS error code); with --local, the "
    "emulator's log says why"
)
_MARKUP = re.compile(r"<\s*(?:!doctype|html|head|body|\?xml|[A-Za-z]+(?:Response|Error)\b)", re.I)


def error_code(exc: BaseException) -> str | None:
    """AWS's error code of a botocore ClientError, or None for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def error_message(exc: BaseException) -> str:
    """AWS's message, or (for a page instead of an AWS error) what happened, in one line."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = str(response.get("Error", {}).get("Message") or exc)
        if is_markup(message):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return f"the endpoint answered with a page, not an AWS error (HTTP {status})"
        return message
    return str(exc)


def is_markup(text: str) -> bool:
    """An HTML or XML document (an error page), not a message."""
    return bool(_MARKUP.search(text))


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
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from botocore.parsers import ResponseParserError

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
        if code and code.isdigit():  # an HTTP status, no AWS error code: the endpoint failed
            return AwsError(
                f"{doing}: {op} failed inside the endpoint (HTTP {code}: {error_message(exc)})",
                code=ENDPOINT_FAILURE,
                operation=op,
                hint=ENDPOINT_FAILURE_HINT,
            )
        return AwsError(f"{doing}: {code}: {error_message(exc)}", code=code, operation=op)
    if isinstance(exc, WaiterError):
        reason = getattr(exc, "last_response", None) or {}
        detail = _waiter_detail(reason)
        return AwsError(f"{doing}: {exc}{detail}", code="WaiterError")
    if isinstance(exc, BotocoreConnectionError):
        return _unreachable(exc, doing)
    if isinstance(exc, ResponseParserError):
        return AwsError(
            f"{doing}: the endpoint answered with something that is not an AWS response",
            code=ENDPOINT_FAILURE,
            hint=ENDPOINT_FAILURE_HINT,
        )
    if isinstance(exc, BotoCoreError):
        return AwsError(f"{doing}: {exc}", code=type(exc).__name__)
    return AwsError(f"{doing}: {type(exc).__name__}: {exc}")


def _waiter_detail(response: dict[str, Any]) -> str:
    for item in response.get("NatGateways", []) or []:
        if item.get("FailureCode"):
            return f" ({item['FailureCode']}: {item.get('FailureMessage', '')})"
    return ""


def _unreachable(exc: Exception, doing: str) -> AwsError:
    """A connection that could not be made: where to, the likely cause, what to check."""
    kwargs = getattr(exc, "kwargs", {}) or {}
    url = str(kwargs.get("endpoint_url") or "the endpoint")
    detail = str(kwargs.get("error") or exc)
    if "Name or service not known" in detail or "resolve" in detail or "nodename" in detail:
        cause = "its host name does not resolve (no network or DNS, or a wrong endpoint)"
    elif "refused" in detail:
        cause = "the connection was refused: nothing listens there"
    elif "timed out" in detail.lower() or "timeout" in type(exc).__name__.lower():
        cause = "no answer in time: no route to it (network, proxy or firewall)"
    elif "No route to host" in detail or "Network is unreachable" in detail:
        cause = "no route to it (network, proxy or firewall)"
    else:
        cause = detail
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    if host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws")):
        hint = "check the network connection, any proxy (HTTPS_PROXY) or firewall, and the region"
    else:
        hint = (
            "this is not an AWS endpoint: check that it runs (`smprov local status` for --local, "
            "on SMPROV_LOCAL_PORT), or unset AWS_ENDPOINT_URL to reach AWS itself"
        )
    return AwsError(
        f"{doing}: cannot connect to {url}: {cause}", code=type(exc).__name__, hint=hint
    )


def was_retried(answer: Any) -> bool:
    """Whether botocore sent the request more than once before this answer (or error): an
    attempt whose answer was lost (a 5xx or a reset connection) may have taken effect."""
    response = getattr(answer, "response", answer)
    meta = response.get("ResponseMetadata") if isinstance(response, Mapping) else None
    return bool((meta or {}).get("RetryAttempts"))
