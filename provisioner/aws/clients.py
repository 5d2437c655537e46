"""One boto3 session and one client per service, shared by every worker thread.

boto3 clients are thread-safe; sessions are not, so the session is only touched under a lock while
a client is first built. Throttling and 5xx responses are retried by botocore's ``standard`` retry
mode, configured here once: no kind writes its own retry loop for them.

A connection that cannot be made is another matter: nothing listens there (a wrong
AWS_ENDPOINT_URL, an emulator that is not running) or there is no route (no network, a proxy or
firewall). Ten tries with a 10 s connect timeout made that half a minute of silence; such a
request never reached AWS, so it gets a short connect timeout and two tries, and the error says
so within seconds. Throttling keeps its ten.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

MUTATING_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup")
#: Seconds to wait for a TCP (and TLS) connection; a request that has one is never cut short by it.
CONNECT_TIMEOUT = 2.0
#: Tries of a request whose connection fails (botocore waits up to 1 s between them).
CONNECT_ATTEMPTS = 2

_loader_lock = threading.Lock()
_loader: Any = None


def _shared_loader() -> Any:
    """One botocore data loader per process: service models (EC2's is megabytes of JSON) are
    parsed once, not once per session. Loaders only cache immutable model data."""
    global _loader
    with _loader_lock:
        if _loader is None:
            from botocore.loaders import create_loader

            _loader = create_loader()
        return _loader


def is_read_operation(operation_name: str) -> bool:
    """Read-only AWS operations are named Describe*/Get*/List*/Head*; every other one mutates."""
    return operation_name.startswith(MUTATING_PREFIXES)


class Clients:
    """Lazily built, shared boto3 clients for one region and (optionally) one custom endpoint."""

    def __init__(
        self,
        region: str,
        *,
        endpoint_url: str | None = None,
        credentials: dict[str, str] | None = None,
        max_attempts: int = 10,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = 60.0,
        instance: str | None = None,
    ) -> None:
        import boto3
        import botocore.session
        from botocore.config import Config

        self.region = region
        self.endpoint_url = endpoint_url
        #: Which run of the server behind ``endpoint_url`` (the local emulator's instance).
        self.instance = instance
        core = botocore.session.get_session()
        core.register_component("data_loader", _shared_loader())
        self._session = boto3.session.Session(
            region_name=region, botocore_session=core, **(credentials or {})
        )
        self._config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=50,
            user_agent_appid="smprov",
        )
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._hooks: list[tuple[str, Callable[..., Any]]] = []

    def __call__(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                kwargs: dict[str, Any] = {"config": self._config}
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                client = self._session.client(service, **kwargs)
                # Before the standard retry handler of the service, so its False wins.
                name = client.meta.service_model.service_id.hyphenize()
                client.meta.events.register_first(f"needs-retry.{name}", _few_connect_tries)
                client.meta.events.register(f"before-parse.{name}", _page_is_no_answer)
                for event, handler in self._hooks:
                    client.meta.events.register(event, handler)
                self._clients[service] = client
        return client

    def add_hook(self, event: str, handler: Callable[..., Any]) -> None:
        """Register a botocore event handler on every client, present and future.

        Used for call counting, the benchmark's latency model and fault injection in tests.
        """
        with self._lock:
            self._hooks.append((event, handler))
            for client in self._clients.values():
                client.meta.events.register(event, handler)


def _page_is_no_answer(response_dict: dict[str, Any], **_: Any) -> None:
    """A 5xx answered with an HTML page (a failing emulator, a proxy's error page) is read as
    the bare status it is: botocore treats only a body starting ``<html>`` that way, and fails
    on ``<!doctype html>`` with a parser error that quotes the whole page (and is not retried)."""
    body = response_dict.get("body") or b""
    failed = response_dict.get("status_code", 0) >= 500 and isinstance(body, bytes)
    if failed and body.lstrip()[:9].lower().startswith((b"<!doctype", b"<html")):
        response_dict["body"] = b""


def _few_connect_tries(attempts: int, caught_exception: Exception | None = None, **_: Any) -> Any:
    """No more retries once a connection failed ``CONNECT_ATTEMPTS`` times (None: the standard
    retry mode decides, as for everything else)."""
    from botocore.exceptions import ConnectionError as BotocoreConnectionError

    if isinstance(caught_exception, BotocoreConnectionError) and attempts >= CONNECT_ATTEMPTS:
        return False
    return None
