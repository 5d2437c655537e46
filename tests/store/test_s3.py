"""The S3 state backend on moto: bucket checks, conditional-write locking and state writes.

moto honours ``IfNoneMatch``/``IfMatch`` on put/delete (moto-notes section 6) but ignores
``ExpectedBucketOwner``; AWS's answer to a wrong owner is injected with an event hook.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from provisioner import operations
from provisioner.engine.model import StepStatus
from provisioner.errors import AwsError, LockError, StateError, UsageError
from provisioner.store.document import StateDocument
from provisioner.store.s3 import S3Backend, S3Location
from tests.harness import Harness

ACCOUNT = "123456789012"  # moto's account
BUCKET = "smprov-state-test"
KEY = "stacks/dev.json"
LOCK_KEY = KEY + ".lock"
T0 = "2026-11-25T17:00:00Z"
ALL_BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def make_doc(vpc_id: str = "vpc-1", serial: int = 0) -> StateDocument:
    doc = StateDocument.new("dev", "us-east-1", ACCOUNT, None)
    doc.put_resource("vpc", "vpc", vpc_id, {"cidr": "10.0.0.0/16"}, [], T0)
    doc.serial = serial
    return doc


@pytest.fixture
def s3(moto: None) -> Any:
    return boto3.client("s3", region_name="us-east-1")


def make_bucket(
    s3: Any,
    name: str = BUCKET,
    *,
    versioning: str | None = "Enabled",
    block: dict[str, bool] | None = ALL_BLOCKED,
    encrypted: bool = True,
) -> None:
    s3.create_bucket(Bucket=name)
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    if block is not None:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
    if encrypted:
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )


@pytest.fixture
def bucket(s3: Any) -> str:
    make_bucket(s3)
    return BUCKET


@pytest.fixture
def new_backend(s3: Any, bucket: str) -> Callable[[], S3Backend]:
    """Each call is a separate smprov process's backend on the same state object."""
    return lambda: S3Backend(S3Location(bucket, KEY), s3, ACCOUNT)


def stored(s3: Any, key: str = KEY) -> bytes | None:
    try:
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def put_foreign_lock(s3: Any, host: str = "build-7", pid: int = 4242) -> None:
    """A lock left by an smprov on another machine (its holder cannot be probed from here)."""
    body = {
        "id": "d5c3a1f0-0000-4000-8000-000000000000",
        "host": host,
        "pid": pid,
        "since": T0,
        "operation": "up",
        "version": "0.1.0",
    }
    s3.put_object(Bucket=BUCKET, Key=LOCK_KEY, Body=json.dumps(body).encode())


class LandThenFail:
    """An S3 client whose first PUT of ``key`` is stored, but answered with error ``code``: what
    smprov sees when the answer to a PUT that succeeded was lost on the way back."""

    def __init__(self, real: Any, key: str, code: str) -> None:
        self.real = real
        self.key = key
        self.code = code
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def put_object(self, **params: Any) -> Any:
        if params["Key"] == self.key and not self.fired:
            self.fired = True
            self.real.put_object(**params)
            error = {"Code": self.code, "Message": "the answer was lost"}
            status = 412 if self.code == "PreconditionFailed" else 500
            raise ClientError(
                {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
            )
        return self.real.put_object(**params)


# -- locations ---------------------------------------------------------------------------------


def test_location_parses_bucket_and_key() -> None:
    location = S3Location.parse("s3://team-state/stacks/dev.json")
    assert (location.bucket, location.key) == ("team-state", "stacks/dev.json")
    assert str(location) == "s3://team-state/stacks/dev.json"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("s3://Bad_Bucket/dev.json", "lower-case"),
        ("s3://team-state", "object key"),
        ("s3://team-state/stacks/", "object key"),
        ("/tmp/dev.json", "s3://bucket/key"),
    ],
)
def test_location_rejects_bad_urls(url: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        S3Location.parse(url)


# -- the bucket --------------------------------------------------------------------------------


def test_state_round_trips_through_one_object(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    backend = new_backend()
    assert backend.describe() == f"s3://{BUCKET}/{KEY}"
    assert backend.read() is None
    assert not backend.exists()
    doc = make_doc()
    backend.write(doc)
    assert backend.exists()
    assert stored(s3) == doc.to_json().encode()
    assert new_backend().read() == doc
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["ContentType"] == "application/json"


@pytest.mark.parametrize("status", [None, "Suspended"])
def test_refuses_a_bucket_without_versioning(s3: Any, status: str | None) -> None:
    make_bucket(s3, versioning=status)
    backend = S3Backend(S3Location(BUCKET, KEY), s3, ACCOUNT)
    with pytest.raises(StateError) as caught:
        backend.write(make_doc())
    expected = "suspended" if status else "not enabled"
    assert f"versioning is {expected}: smprov needs it" in caught.value.message
    assert caught.value.hint is not None
    assert f"put-bucket-versioning --bucket {BUCKET}" in caught.value.hint
    assert "Status=Enabled" in caught.value.hint
    assert stored(s3) is None


@pytest.mark.parametrize(
    ("block", "named"),
    [
        (None, "BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets"),
        ({**ALL_BLOCKED, "RestrictPublicBuckets": False}, "(RestrictPublicBuckets off)"),
    ],
)
def test_refuses_a_bucket_with_public_access_allowed(
    s3: Any, block: dict[str, bool] | None, named: str
) -> None:
    make_bucket(s3, block=block)
    backend = S3Backend(S3Location(BUCKET, KEY), s3, ACCOUNT)
    with pytest.raises(StateError) as caught, backend.lock("up"):
        pass
    assert "public access is not fully blocked" in caught.value.message
    assert named in caught.value.message
    assert caught.value.hint is not None
    assert "put-public-access-block" in caught.value.hint
    assert stored(s3, LOCK_KEY) is None


def test_every_bucket_problem_is_reported_at_once(s3: Any) -> None:
    make_bucket(s3, versioning=None, block=None)
    backend = S3Backend(S3Location(BUCKET, KEY), s3, ACCOUNT)
    with pytest.raises(StateError) as caught:
        backend.read()
    assert "versioning" in caught.value.message
    assert "public access" in caught.value.message


def test_missing_default_encryption_only_warns(s3: Any, caplog: pytest.LogCaptureFixture) -> None:
    make_bucket(s3, encrypted=False)
    backend = S3Backend(S3Location(BUCKET, KEY), s3, ACCOUNT)
    doc = make_doc()
    with caplog.at_level(logging.WARNING):
        backend.write(doc)
    assert f"bucket {BUCKET} reports no default encryption" in caplog.text
    assert backend.read() == doc


def test_encrypted_bucket_gives_no_warning(
    new_backend: Callable[[], S3Backend], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        new_backend().read()
    assert caplog.text == ""


def test_missing_bucket_is_a_state_error(s3: Any) -> None:
    backend = S3Backend(S3Location("no-such-state-bucket", KEY), s3, ACCOUNT)
    with pytest.raises(StateError, match="the state bucket no-such-state-bucket does not exist"):
        backend.read()


def test_the_bucket_is_checked_once_per_backend(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    calls: list[str] = []
    s3.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    backend = new_backend()
    with backend.lock("up"):
        backend.read()
        backend.write(make_doc())
    checks = [c for c in calls if c.startswith("GetBucket") or c == "GetPublicAccessBlock"]
    assert sorted(checks) == ["GetBucketEncryption", "GetBucketVersioning", "GetPublicAccessBlock"]


def test_every_call_names_the_expected_bucket_owner(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    owners: list[tuple[str, Any]] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        owners.append((model.name, params.get("ExpectedBucketOwner")))

    s3.meta.events.register("before-parameter-build.s3.*", note)
    backend = new_backend()
    with backend.lock("up"):
        backend.read()
        backend.write(make_doc())
    put_foreign_lock(boto3.client("s3", region_name="us-east-1"))  # not through the hook
    new_backend().unlock()
    backend.exists()
    assert {name for name, _ in owners} == {
        "GetBucketVersioning",
        "GetPublicAccessBlock",
        "GetBucketEncryption",
        "PutObject",
        "GetObject",
        "DeleteObject",
        "HeadObject",
    }
    assert all(owner == ACCOUNT for _, owner in owners)


def test_a_bucket_of_another_account_is_refused(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    """AWS answers 403 when ExpectedBucketOwner is not the owner; moto ignores the parameter."""

    def wrong_owner(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
        return AWSResponse("https://s3.amazonaws.com", 403, {}, None), error

    s3.meta.events.register("before-call.s3.GetBucketVersioning", wrong_owner)
    with pytest.raises(AwsError) as caught:
        new_backend().read()
    assert caught.value.code == "AccessDenied"
    assert caught.value.hint is not None
    assert f"must belong to account {ACCOUNT}" in caught.value.hint


def test_a_damaged_state_object_is_refused_and_left_alone(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b'{"serial": ')
    with pytest.raises(StateError, match="not valid JSON") as caught:
        new_backend().read()
    assert caught.value.hint is not None
    assert "never overwrites a damaged state" in caught.value.hint
    assert stored(s3) == b'{"serial": '


# -- locking -----------------------------------------------------------------------------------


def test_a_held_lock_names_its_holder(new_backend: Callable[[], S3Backend]) -> None:
    first, second = new_backend(), new_backend()
    with first.lock("up"), pytest.raises(LockError) as caught, second.lock("plan"):
        pass
    message = caught.value.message
    assert message.startswith(f"state s3://{BUCKET}/{KEY} is locked by pid {os.getpid()}")
    assert f"on host {socket.gethostname()}" in message
    assert message.endswith("(smprov up)")
    assert caught.value.hint is not None
    assert "smprov unlock" in caught.value.hint


def test_the_lock_object_describes_the_holder(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    with new_backend().lock("down"):
        body = json.loads(stored(s3, LOCK_KEY) or b"")
    assert body["operation"] == "down"
    assert body["pid"] == os.getpid()
    assert body["host"] == socket.gethostname()
    assert len(body["id"]) == 36


def test_the_lock_is_released_after_use_and_after_a_failure(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    backend = new_backend()
    with backend.lock("up"):
        assert stored(s3, LOCK_KEY) is not None
    assert stored(s3, LOCK_KEY) is None
    with pytest.raises(RuntimeError), backend.lock("up"):
        raise RuntimeError("boom")
    assert stored(s3, LOCK_KEY) is None
    with new_backend().lock("plan"):
        pass


def test_two_concurrent_processes_one_locks_the_other_fails_cleanly(
    new_backend: Callable[[], S3Backend],
) -> None:
    holding, tried = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        with new_backend().lock("up"):
            holding.set()
            tried.wait(5)
            outcome["first"] = "applied"

    def second() -> None:
        holding.wait(5)
        try:
            with new_backend().lock("up"):
                outcome["second"] = "applied"
        except LockError as exc:
            outcome["second"] = exc.message
        finally:
            tried.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert outcome["first"] == "applied"
    assert "is locked by" in outcome["second"]


def test_release_leaves_a_lock_someone_else_took_after_breaking_ours(
    new_backend: Callable[[], S3Backend], s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), new_backend().lock("up"):
        s3.delete_object(Bucket=BUCKET, Key=LOCK_KEY)  # `smprov unlock` run on another host
        put_foreign_lock(s3)  # ...which then took the lock itself
    assert "was broken and taken by another smprov" in caplog.text
    assert json.loads(stored(s3, LOCK_KEY) or b"")["host"] == "build-7"


def test_release_of_a_lock_removed_meanwhile_is_a_warning(
    new_backend: Callable[[], S3Backend], s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), new_backend().lock("up"):
        s3.delete_object(Bucket=BUCKET, Key=LOCK_KEY)
    assert "was already removed" in caplog.text


def test_a_retried_lock_create_that_had_landed_is_ours(s3: Any, bucket: str) -> None:
    """botocore retries a PUT whose answer was lost; the retry then fails its own If-None-Match."""
    client = LandThenFail(s3, LOCK_KEY, "PreconditionFailed")
    backend = S3Backend(S3Location(bucket, KEY), client, ACCOUNT)
    with backend.lock("up"):
        assert client.fired
        assert stored(s3, LOCK_KEY) is not None
    assert stored(s3, LOCK_KEY) is None


# -- writes under a broken lock ----------------------------------------------------------------


def test_if_match_stops_the_second_writer_after_a_broken_lock(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    new_backend().write(make_doc(serial=1))
    first, second = new_backend(), new_backend()
    with first.lock("up"):
        first_doc = first.read()
        assert first_doc is not None
        s3.delete_object(Bucket=BUCKET, Key=LOCK_KEY)  # the lock is broken
        with second.lock("up"):
            second_doc = second.read()
            assert second_doc is not None
            second_doc.serial = 2
            second.write(second_doc)
        first_doc.serial = 2
        first_doc.put_resource("subnet.a", "subnet", "subnet-1", {}, ["vpc"], T0)
        with pytest.raises(StateError) as caught:
            first.write(first_doc)
    assert caught.value.message == (
        f"the state s3://{BUCKET}/{KEY} changed under us: another smprov wrote serial 2; "
        "nothing was overwritten"
    )
    assert stored(s3) == second_doc.to_json().encode()
    with pytest.raises(StateError, match="changed under us"):
        first.write(first_doc)  # it stays refused: the ETag it knows is stale


def test_if_none_match_stops_a_second_creator(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    first, second = new_backend(), new_backend()
    assert first.read() is None
    assert second.read() is None
    second.write(make_doc("vpc-second", serial=1))
    with pytest.raises(StateError, match="another smprov wrote serial 1"):
        first.write(make_doc("vpc-first", serial=1))
    assert b"vpc-second" in (stored(s3) or b"")


def test_a_state_deleted_under_us_is_not_recreated(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    new_backend().write(make_doc())
    backend = new_backend()
    doc = backend.read()
    assert doc is not None
    s3.delete_object(Bucket=BUCKET, Key=KEY)
    doc.serial += 1
    with pytest.raises(StateError, match="was deleted under us; nothing was written"):
        backend.write(doc)
    assert stored(s3) is None


def test_a_write_whose_answer_was_lost_is_recognised(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    """The PUT landed but its answer never came (a 500 after botocore's retries). The next
    write finds our own body there, not another writer's, and goes on."""
    first = new_backend()
    first.write(make_doc(serial=1))
    client = LandThenFail(s3, KEY, "InternalError")
    backend = S3Backend(S3Location(BUCKET, KEY), client, ACCOUNT)
    backend.read()
    with pytest.raises(AwsError, match="writing the state"):
        backend.write(make_doc(serial=2))
    assert client.fired
    third = make_doc("vpc-3", serial=2)
    backend.write(third)
    assert stored(s3) == third.to_json().encode()
    assert new_backend().read() == third


def test_a_retried_write_that_had_landed_is_success(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    backend = new_backend()
    assert backend.read() is None
    doc = make_doc(serial=1)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=doc.to_json().encode())  # our first attempt
    backend.write(doc)
    doc.serial = 2
    backend.write(doc)
    assert new_backend().read() == doc


# -- unlock ------------------------------------------------------------------------------------


def test_unlock_without_a_lock_says_so(new_backend: Callable[[], S3Backend]) -> None:
    assert new_backend().unlock() == f"no lock on s3://{BUCKET}/{KEY}: nothing to remove"


def test_unlock_breaks_a_stale_lock_from_another_host(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    put_foreign_lock(s3)
    with pytest.raises(LockError, match="pid 4242 on host build-7"), new_backend().lock("up"):
        pass
    message = new_backend().unlock()
    assert message == (
        f"removed the lock on s3://{BUCKET}/{KEY} held by pid 4242 on host build-7 "
        f"since {T0} (smprov up)"
    )
    assert stored(s3, LOCK_KEY) is None
    with new_backend().lock("up"):
        pass


def test_unlock_refuses_a_holder_alive_on_this_host(
    new_backend: Callable[[], S3Backend], s3: Any
) -> None:
    with new_backend().lock("up"):
        with pytest.raises(LockError, match="held by a running process on this host"):
            new_backend().unlock()
        assert stored(s3, LOCK_KEY) is not None


def test_unlock_removes_an_unreadable_lock(new_backend: Callable[[], S3Backend], s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=LOCK_KEY, Body=b"not json")
    with pytest.raises(LockError, match="an unreadable lock object"), new_backend().lock("up"):
        pass
    assert "an unknown holder" in new_backend().unlock()
    assert stored(s3, LOCK_KEY) is None


# -- with the engine ---------------------------------------------------------------------------


def s3_config(harness: Harness) -> None:
    harness.write_config(f'state_backend = "s3://{BUCKET}/{KEY}"\n')


def test_up_keeps_its_state_in_s3_and_a_converged_up_only_locks(harness: Harness, s3: Any) -> None:
    make_bucket(s3)
    s3_config(harness)
    _plan, report, state = harness.up()
    assert report.ok
    assert "vpc" in state.resources
    assert stored(s3) == state.to_json().encode()
    assert not (harness.workdir / "state").exists()
    harness.log.clear()
    plan, _report, _state = harness.up()
    assert plan.is_empty
    assert harness.log.mutating == ["PutObject", "DeleteObject"]  # the lock, nothing else
    assert stored(s3, LOCK_KEY) is None


def test_a_run_stops_when_another_smprov_wrote_the_state(harness: Harness, s3: Any) -> None:
    """The lock was broken and another smprov wrote first: no step applies anything."""
    make_bucket(s3)
    s3_config(harness)
    other = StateDocument.new("dev", "us-east-1", ACCOUNT, None)
    other.serial = 3
    stk = harness.open(parallelism=1)
    with operations.locked(stk, "up") as doc:
        plan, _ = operations.plan_up(stk, doc)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=other.to_json().encode())
        harness.log.clear()
        try:
            report, _final = operations.execute(stk, plan, doc)
        except StateError as exc:  # raised directly when the blueprint records data first
            errors = {exc.message}
        else:
            assert report.count(StepStatus.DONE) == 0
            errors = {result.message for _node, result in report.failed}
    assert errors == {
        f"the state s3://{BUCKET}/{KEY} changed under us: another smprov wrote serial 3; "
        "nothing was overwritten"
    }
    assert set(harness.log.mutating) <= {"PutObject", "DeleteObject"}  # nothing in EC2
    assert stored(s3) == other.to_json().encode()
