"""Entry point of the embedded emulator (`--local`): moto's server, without bucket-policy checks.

moto 5.2 evaluates bucket policies on object calls wrongly: a statement whose condition does not
hold denies the request whatever its effect (see shared moto notes, section 6). The TLS-only
policy smprov attaches to the training bucket would therefore refuse every later object PUT and
GET in the emulator, while on AWS it refuses only plain-HTTP requests. The emulator enforces no
other S3 access control either (Block Public Access, ExpectedBucketOwner), so here it enforces no
bucket policy: policies are still stored, returned and reconciled exactly as on AWS.

``speed_up`` makes moto answer faster without changing any answer, and ``serialize_requests``
makes it answer one request at a time per service (see each). ``IDENTITY_PATH`` tells smprov
this server is its emulator, and which run of it: a state made against an emulator that has since
been restarted describes resources that went with it (``provisioner.local``).

This changes the emulator only; smprov sends AWS the same requests either way.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import threading
import time
import uuid
from typing import Any

#: Answered by smprov's emulator only: {"emulator": "smprov", "instance", "pid", "started"}.
IDENTITY_PATH = "/smprov-emulator"
#: This run of the emulator (a restart is a new instance, with an empty emulated account).
INSTANCE = uuid.uuid4().hex
_STARTED = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def disable_bucket_policy_checks() -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    def neutral(_bucket: object, _action: str, _resource: str) -> PermissionResult:
        return PermissionResult.NEUTRAL

    FakeBucket.get_permission = neutral  # type: ignore[method-assign,assignment]


def gateway_routes_follow_route_tables() -> None:
    """moto 5.2's ModifyVpcEndpoint edits a gateway endpoint's route-table list without adding
    or removing its routes, so the later DeleteVpcEndpoints fails (InvalidRoute.NotFound) on a
    table added by a modify, e.g. after `vpc_redundancy` is switched on. AWS adds and removes
    the prefix-list route with the table (moto notes, ModifyVpcEndpoint): so does the emulator."""
    from moto.ec2.models import EC2Backend

    modify = EC2Backend.modify_vpc_endpoint
    if getattr(modify, "_smprov_routes", False):
        return
    signature = inspect.signature(modify)

    def modify_vpc_endpoint(self: Any, *args: Any, **kwargs: Any) -> None:
        given = signature.bind(self, *args, **kwargs).arguments
        endpoint = self.describe_vpc_endpoints(vpc_end_point_ids=[given["vpc_id"]])[0]
        prefix_list = endpoint.destination_prefix_list_id
        known = set(endpoint.route_table_ids or [])
        modify(self, *args, **kwargs)
        if not prefix_list:
            return
        for table in given.get("add_route_tables") or []:
            if table not in known:
                self.create_route(
                    table, None, gateway_id=endpoint.id, destination_prefix_list_id=prefix_list
                )
        for table in given.get("remove_route_tables") or []:
            if table in known:
                self.delete_route(table, prefix_list)

    modify_vpc_endpoint._smprov_routes = True  # type: ignore[attr-defined]
    EC2Backend.modify_vpc_endpoint = modify_vpc_endpoint  # type: ignore[method-assign]


def repeated_endpoint_deletes_do_nothing() -> None:
    """moto 5.2 keeps a deleted VPC endpoint (state ``deleted``) and, asked to delete it again,
    deletes its gateway routes again: the second DeleteVpcEndpoints fails (InvalidRoute.NotFound).
    AWS reports an endpoint already gone as gone. A repeated delete is what botocore sends when
    the first one's answer was lost, so the emulator answers it as AWS does."""
    from moto.ec2.models import EC2Backend

    delete = EC2Backend.delete_vpc_endpoints
    if getattr(delete, "_smprov_once", False):
        return

    def delete_vpc_endpoints(self: Any, vpce_ids: list[str] | None = None) -> None:
        live = [
            vpce_id
            for vpce_id in vpce_ids or []
            if getattr(self.vpc_end_points.get(vpce_id), "state", None) != "deleted"
        ]
        delete(self, live)

    delete_vpc_endpoints._smprov_once = True  # type: ignore[attr-defined]
    EC2Backend.delete_vpc_endpoints = delete_vpc_endpoints  # type: ignore[method-assign]


def db_subnet_group_names_are_unique() -> None:
    """moto 5.2's CreateDBSubnetGroup silently replaces a group of the same name; AWS refuses
    (DBSubnetGroupAlreadyExists), which is what keeps smprov from taking over someone's group
    and what a create retried after a lost answer hears. The emulator refuses too."""
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import RDSBackend

    create = RDSBackend.create_subnet_group
    if getattr(create, "_smprov_unique", False):
        return

    def create_subnet_group(self: Any, subnet_name: str, *args: Any, **kwargs: Any) -> Any:
        if subnet_name.lower() in {name.lower() for name in self.subnet_groups}:
            raise RDSClientError(
                "DBSubnetGroupAlreadyExists", f"DB subnet group '{subnet_name}' already exists"
            )
        return create(self, subnet_name, *args, **kwargs)

    create_subnet_group._smprov_unique = True  # type: ignore[attr-defined]
    RDSBackend.create_subnet_group = create_subnet_group  # type: ignore[method-assign]


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
    disable_bucket_policy_checks()
    gateway_routes_follow_route_tables()
    repeated_endpoint_deletes_do_nothing()
    db_subnet_group_names_are_unique()
    speed_up()
    serialize_requests()
    answer_identity()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()
