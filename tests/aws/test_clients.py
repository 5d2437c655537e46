"""aws/clients.py: an endpoint that cannot be reached fails within seconds with a message that
says where and why; throttling keeps its ten tries."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from provisioner.aws.clients import CONNECT_ATTEMPTS, CONNECT_TIMEOUT, Clients
from provisioner.aws.errors import to_aws_error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens


def test_a_refused_connection_is_tried_twice_and_named(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0.0)
    url = f"http://127.0.0.1:{_closed_port()}"
    clients = Clients("us-east-1", endpoint_url=url)
    sent: list[str] = []
    clients.add_hook("before-send.*", lambda **kw: sent.append(kw["request"].url))
    with pytest.raises(Exception) as raised:
        clients("sts").get_caller_identity()
    assert len(sent) == CONNECT_ATTEMPTS == 2
    error = to_aws_error(raised.value, "identifying the AWS account")
    assert error.message == (
        f"identifying the AWS account: cannot connect to {url}/: the connection was refused: "
        "nothing listens there"
    )
    assert "AWS_ENDPOINT_URL" in (error.hint or "")


def test_connect_timeout_is_short_and_throttling_keeps_ten_tries(aws_env: None) -> None:
    config: Any = Clients("us-east-1")("ec2").meta.config
    assert config.connect_timeout == CONNECT_TIMEOUT <= 2.5
    assert config.retries["total_max_attempts"] >= 10  # unchanged: throttling rides out bursts
    assert config.read_timeout == 60  # a slow answer is not a missing route


def test_an_unresolvable_aws_host_says_so() -> None:
    from botocore.exceptions import EndpointConnectionError

    exc = EndpointConnectionError(
        endpoint_url="https://ec2.us-east-1.amazonaws.com/",
        error="Failed to resolve 'ec2.us-east-1.amazonaws.com' (Name or service not known)",
    )
    error = to_aws_error(exc, "listing availability zones")
    assert "its host name does not resolve" in error.message
    assert "HTTPS_PROXY" in (error.hint or "")


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Any:
        yield self._body


PAGE = (
    b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    b"<h1>Internal Server Error</h1><p>The server encountered an internal error.</p>"
)


@pytest.mark.parametrize(
    ("service", "operation", "call"),
    [
        ("ec2", "DescribeNetworkAcls", lambda c: c.describe_network_acls()),  # EC2's XML
        ("sts", "GetCallerIdentity", lambda c: c.get_caller_identity()),  # query XML
        ("s3", "ListBuckets", lambda c: c.list_buckets()),  # REST XML
        ("logs", "DescribeLogGroups", lambda c: c.describe_log_groups()),  # JSON
    ],
)
def test_an_error_page_becomes_one_line_naming_the_call(
    aws_env: None, service: str, operation: str, call: Any
) -> None:
    """An emulator's 500 is an HTML page; it never reaches the user, whatever the protocol."""
    from botocore.awsrequest import AWSResponse

    from provisioner.aws.errors import ENDPOINT_FAILURE

    clients = Clients("us-east-1", max_attempts=1)
    page = AWSResponse("http://127.0.0.1:1", 500, {"Content-Type": "text/html"}, _Body(PAGE))
    clients.add_hook(f"before-send.{service}.*", lambda **_: page)
    with pytest.raises(Exception) as raised:
        call(clients(service))
    error = to_aws_error(raised.value, "reading default network ACLs")
    assert error.message == (
        f"reading default network ACLs: {operation} failed inside the endpoint "
        "(HTTP 500: Internal Server Error)"
    )
    assert "<" not in error.message and "\n" not in error.message
    assert error.code == ENDPOINT_FAILURE
    assert "emulator's log" in (error.hint or "")


@pytest.mark.parametrize(
    "errno", ["[Errno 113] No route to host", "[Errno 101] Network is unreachable"]
)
def test_no_route_is_said_in_words_not_urllib3s(errno: str) -> None:
    """A network without a route to the endpoint (the issue's "no route to AWS") reads as one,
    not as urllib3's connection repr."""
    from botocore.exceptions import EndpointConnectionError

    exc = EndpointConnectionError(
        endpoint_url="https://sts.us-east-1.amazonaws.com/",
        error=f"AWSHTTPConnection(host='sts.us-east-1.amazonaws.com', port=443): Failed to "
        f"establish a new connection: {errno}",
    )
    error = to_aws_error(exc, "identifying the AWS account")
    assert error.message == (
        "identifying the AWS account: cannot connect to https://sts.us-east-1.amazonaws.com/: "
        "no route to it (network, proxy or firewall)"
    )
    assert "HTTPS_PROXY" in (error.hint or "")
