"""Entry point of the embedded emulator (`--local`): moto's server, without bucket-policy checks.

moto 5.2 evaluates bucket policies on object calls wrongly: a statement whose condition does not
hold denies the request whatever its effect (see shared moto notes, section 6). The TLS-only
policy smprov attaches to the training bucket would therefore refuse every later object PUT and
GET in the emulator, while on AWS it refuses only plain-HTTP requests. The emulator enforces no
other S3 access control either (Block Public Access, ExpectedBucketOwner), so here it enforces no
bucket policy: policies are still stored, returned and reconciled exactly as on AWS.

``speed_up`` makes moto answer faster without changing any answer, and ``serialize_requests``
makes it answer one request at a time (see each).

This changes the emulator only; smprov sends AWS the same requests either way.
"""

from __future__ import annotations

import threading
from typing import Any


def disable_bucket_policy_checks() -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    def neutral(_bucket: object, _action: str, _resource: str) -> PermissionResult:
        return PermissionResult.NEUTRAL

    FakeBucket.get_permission = neutral  # type: ignore[method-assign,assignment]


def speed_up() -> None:
    """moto 5.2 lists a response class's methods with ``inspect.getmembers`` on every request:
    about half of an in-process EC2 call. A class's methods never change, so the list is kept
    per class. Answers are untouched; only the emulator's CPU time shrinks."""
    import functools

    import moto.core.responses as responses

    listing = responses.method_names_from_class
    if not hasattr(listing, "cache_info"):  # once per process
        responses.method_names_from_class = functools.cache(listing)  # type: ignore[assignment]


_request_lock = threading.RLock()


def serialize_requests() -> None:
    """moto's backends are not thread-safe: a ListObjectVersions that walks a bucket while
    another thread deletes one of its keys can crash (moto 5.2's S3 backend raises TypeError).
    AWS handles concurrent requests; smprov sends them (a parallel `down` deletes the folders at
    once), so the emulator takes them one at a time: in process (``mock_aws``, the tests and the
    benchmark) and in the server (``--local``). Only moto's own work is serialised; a caller's
    network wait (the benchmark's modelled latency) is not."""
    import functools

    from moto.core.botocore_stubber import BotocoreStubber
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    for cls, name in (
        (BotocoreStubber, "process_request"),
        (DomainDispatcherApplication, "__call__"),
    ):
        method = getattr(cls, name)
        if getattr(method, "_smprov_serialized", False):
            continue

        def one_at_a_time(*args: Any, __method: Any = method, **kwargs: Any) -> Any:
            with _request_lock:
                return __method(*args, **kwargs)

        functools.update_wrapper(one_at_a_time, method)
        one_at_a_time._smprov_serialized = True  # type: ignore[attr-defined]
        setattr(cls, name, one_at_a_time)


def main(argv: list[str] | None = None) -> None:
    disable_bucket_policy_checks()
    speed_up()
    serialize_requests()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()
