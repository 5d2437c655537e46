"""Entry point of the embedded emulator (`--local`): moto's server, answering as AWS does.

``emulator_fidelity.behave_like_aws`` teaches moto what AWS does that moto 5.2 does not (tags
applied at create, a NAT gateway's address freed, a DHCP options set kept, no bucket-policy
evaluation on object calls, ...): the code that talks to AWS needs no workaround. ``speed_up``
makes moto answer faster without changing any answer, and ``serialize_requests`` makes it answer
one request at a time per service (see each). ``IDENTITY_PATH`` tells smprov this server is its
emulator, and which run of it: a state made against an emulator that has since been restarted
describes resources that went with it (``provisioner.local``).

This changes the emulator only; smprov sends AWS the same requests either way.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from typing import Any

from provisioner.emulator_fidelity import behave_like_aws

#: Answered by smprov's emulator only: {"emulator": "smprov", "instance", "pid", "started"}.
IDENTITY_PATH = "/smprov-emulator"
#: This run of the emulator (a restart is a new instance, with an empty emulated account).
INSTANCE = uuid.uuid4().hex
_STARTED = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def speed_up() -> None:
    """moto 5.2 lists a response class's methods with ``inspect.getmembers`` on every request:
    about half of an in-process EC2 call. A class's methods never change, so the list is kept
    per class. Answers are untouched; only the emulator's CPU time shrinks."""
    import functools

    import moto.core.responses as responses

    listing = responses.method_names_from_class
    if not hasattr(listing, "cache_info"):  # once per process
        responses.method_names_from_class = functools.cache(listing)  # type: ignore[assignment]


_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()
#: The service of a SigV4 signature: "Credential=AKID/date/region/<service>/aws4_request".
_SERVICE_RE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


def _service_lock(authorization: Any) -> threading.RLock:
    """One lock per AWS service (moto keeps one backend per service), one for anything else."""
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    match = _SERVICE_RE.search(authorization) if isinstance(authorization, str) else None
    service = match.group(1) if match else ""
    with _locks_guard:
        return _locks.setdefault(service, threading.RLock())


def serialize_requests() -> None:
    """moto's backends are not thread-safe: a ListObjectVersions that walks a bucket while
    another thread deletes one of its keys can crash (moto 5.2's S3 backend raises TypeError).
    AWS handles concurrent requests; smprov sends them (a parallel `down` deletes the folders at
    once), so the emulator takes one request at a time per service (by the service of the
    request's signature): in process (``mock_aws``, the tests and the benchmark) and in the
    server (``--local``). Only moto's own work is serialised; a caller's network wait (the
    benchmark's modelled latency) is not, and different services' requests still overlap."""
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    stub = BotocoreStubber.process_request
    if not getattr(stub, "_smprov_serialized", False):

        def process_request(self: Any, request: Any) -> Any:
            with _service_lock(request.headers.get("Authorization")):
                return stub(self, request)

        process_request._smprov_serialized = True  # type: ignore[attr-defined]
        BotocoreStubber.process_request = process_request  # type: ignore[method-assign]

    app = DomainDispatcherApplication.__call__
    if not getattr(app, "_smprov_serialized", False):

        def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
            with _service_lock(environ.get("HTTP_AUTHORIZATION")):
                return app(self, environ, start_response)

        call._smprov_serialized = True  # type: ignore[attr-defined]
        DomainDispatcherApplication.__call__ = call  # type: ignore[method-assign]


def answer_identity() -> None:
    """Answer ``IDENTITY_PATH`` (in the emulator's process only: a moto server anyone else runs
    must not pass for smprov's emulator)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    app = DomainDispatcherApplication.__call__

    def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != IDENTITY_PATH:
            return app(self, environ, start_response)
        body = json.dumps(
            {"emulator": "smprov", "instance": INSTANCE, "pid": os.getpid(), "started": _STARTED}
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    DomainDispatcherApplication.__call__ = call  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    behave_like_aws()
    speed_up()
    serialize_requests()
    answer_identity()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()
