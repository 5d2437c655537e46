"""Every AWS call smprov sends, with its parameters and AWS's answer, through botocore hooks."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    service: str  # botocore's service name: ec2, s3, iam, logs, rds, sts, kms
    operation: str  # the API operation: CreateVpc, PutObject, ...
    params: dict[str, Any]
    response: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # AWS's error code, if it refused

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}"


@dataclass
class Recording:
    calls: list[Call] = field(default_factory=list)
    #: False while a test's own calls go through smprov's clients (not recorded).
    active: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, clients: Any) -> None:
        """Record every call of a ``provisioner.aws.clients.Clients``."""
        clients.add_hook("provide-client-params.*.*", self._before)
        clients.add_hook("after-call.*.*", self._after)

    def attach_to_new_clients(self, patch: Any) -> None:
        """Record every ``Clients`` built from now on (the CLI builds its own), until ``patch``
        (a ``pytest.MonkeyPatch``) is undone."""
        from provisioner.aws.clients import Clients

        original = Clients.__init__

        def recorded_init(clients: Clients, *args: Any, **kwargs: Any) -> None:
            original(clients, *args, **kwargs)
            self.attach(clients)

        patch.setattr(Clients, "__init__", recorded_init)

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if not self.active:
            return
        call = Call(model.service_model.service_name, model.name, dict(params))
        context["smprov_recorded"] = call
        with self._lock:
            self.calls.append(call)

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = context.get("smprov_recorded")
        if call is not None:
            call.response = parsed
            call.error = (parsed.get("Error") or {}).get("Code")
