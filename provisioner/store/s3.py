"""The S3 state backend: one object per stack, locked and written with S3 conditional requests.

Like Terraform's S3 backend with ``use_lockfile``: the lock is a second object, ``<key>.lock``,
created with ``If-None-Match: *`` so exactly one creator wins. The state itself is written with
``If-Match`` on the ETag this backend last read (``If-None-Match: *`` when there was none), so
even after a lock was broken two writers can never overwrite each other. A write is one PUT, so
it is atomic. Before first use the bucket is checked: versioned (every state ever written can be
restored) and public access blocked; missing default encryption is only warned about.
``ExpectedBucketOwner`` (the caller's own account) goes on every call, so a bucket name that
someone else registered is never trusted with the state.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from provisioner.aws.errors import has_code, to_aws_error
from provisioner.config import validate_bucket_name
from provisioner.errors import AwsError, LockError, SmprovError, StateError, UsageError
from provisioner.store.backend import LockInfo
from provisioner.store.document import DAMAGED_HINT, StateDocument
from provisioner.store.local import _alive

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
PUBLIC_ACCESS_SETTINGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
# A failed condition is 412 PreconditionFailed; 409 ConditionalRequestConflict means another
# conditional write on the same key was in flight at that moment. Either way someone else won.
_CONFLICT_CODES = ("PreconditionFailed", "412", "ConditionalRequestConflict")
_MISSING_CODES = ("NoSuchKey", "404", "NotFound")
_DENIED_CODES = ("AccessDenied", "403", "Forbidden")


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/key``: where one stack's state object lives."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """Split and check an ``s3://bucket/key`` URL (``--state`` is not validated elsewhere)."""
        if not url.startswith("s3://"):
            raise UsageError(f"--state {url}: not an s3://bucket/key URL")
        bucket, _slash, key = url.removeprefix("s3://").partition("/")
        problems = [f"bucket {bucket!r} {p}" for p in validate_bucket_name(bucket)]
        if not key or key.endswith("/"):
            problems.append("the URL needs an object key after the bucket (s3://bucket/key)")
        if problems:
            raise UsageError(f"--state {url}: " + "; ".join(problems))
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class _LockObject:
    """What the lock object holds: its ETag, the holder (if readable) and a unique lock id.

    The id makes every lock body, hence its ETag, unique: ``If-Match`` on release can then never
    match a later lock taken by the same process in the same second.
    """

    etag: str
    holder: LockInfo | None
    lock_id: str | None


class S3Backend:
    """State in an S3 object, locked with a conditional-create lock object beside it."""

    def __init__(self, location: S3Location, client: Any, owner: str) -> None:
        """``client`` is a boto3 S3 client; ``owner`` the account that must own the bucket."""
        self.location = location
        self.lock_key = location.key + LOCK_SUFFIX
        self._s3 = client
        self._owner = owner
        self._guard = threading.Lock()
        self._checked = False
        self._etag: str | None = None
        """ETag of the object last read or written; None: there was none (or none read yet)."""
        self._unconfirmed: bytes | None = None
        """A body whose PUT failed without an answer: it may have landed all the same."""

    def describe(self) -> str:
        return str(self.location)

    # -- reading --------------------------------------------------------------------------------

    def exists(self) -> bool:
        self.check_bucket()
        try:
            self._s3.head_object(**self._params(self.location.key))
        except ClientError as exc:
            if has_code(exc, *_MISSING_CODES):
                return False
            raise self._aws(exc, "looking for the state") from None
        except BotoCoreError as exc:
            raise self._aws(exc, "looking for the state") from None
        return True

    def read(self) -> StateDocument | None:
        """The stored document (None when there is none); its ETag guards the next write."""
        self.check_bucket()
        with self._guard:
            found = self._fetch(self.location.key, "reading the state")
            self._etag = found[1] if found else None
        if found is None:
            return None
        return _parse_state(found[0], self.describe())

    # -- writing --------------------------------------------------------------------------------

    def write(self, doc: StateDocument) -> None:
        """One conditional PUT: it lands only if the object is still the one this backend saw."""
        self.check_bucket()
        data = doc.to_json().encode("utf-8")
        with self._guard:
            self._etag = self._put_state(data, retry_unconfirmed=True)
            self._unconfirmed = None

    def _put_state(self, data: bytes, *, retry_unconfirmed: bool) -> str:
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            answer = self._s3.put_object(
                **self._params(self.location.key),
                Body=data,
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            lost = self._etag is not None and has_code(exc, *_MISSING_CODES)
            if not (lost or has_code(exc, *_CONFLICT_CODES)):
                self._unconfirmed = data if _http_status(exc) >= 500 else None
                raise self._aws(exc, "writing the state") from None
            return self._after_conflict(data, retry_unconfirmed)
        except BotoCoreError as exc:
            self._unconfirmed = data  # a timeout: the PUT may have been stored anyway
            raise self._aws(exc, "writing the state") from None
        return str(answer["ETag"])

    def _after_conflict(self, data: bytes, retry_unconfirmed: bool) -> str:
        """The object is not the one we read. It may still be our own doing: a PUT whose answer
        was lost (botocore's retry of it then fails its own condition). Otherwise: refuse."""
        current = self._fetch(self.location.key, "re-reading the state after a conflict")
        if current is not None and current[0] == data:
            return current[1]
        if current is not None and current[0] == self._unconfirmed and retry_unconfirmed:
            self._etag = current[1]
            return self._put_state(data, retry_unconfirmed=False)
        raise self._conflict(current)

    def _conflict(self, current: tuple[bytes, str] | None) -> StateError:
        hint = (
            "another smprov is working on this stack (or its lock was broken): this run "
            "stopped recording. When it has finished, run `smprov plan`: resources this run "
            "created carry smprov tags and are adopted again"
        )
        if current is None:
            return StateError(
                f"the state {self.describe()} was deleted under us; nothing was written", hint
            )
        try:
            serial = f"serial {_parse_state(current[0], self.describe()).serial}"
        except StateError:
            serial = "a document smprov cannot read"
        return StateError(
            f"the state {self.describe()} changed under us: another smprov wrote {serial}; "
            "nothing was overwritten",
            hint,
        )

    # -- locking --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, operation: str) -> Iterator[None]:
        """Create ``<key>.lock`` only if absent; delete it afterwards only if it is still ours."""
        self.check_bucket()
        lock_id = str(uuid.uuid4())
        etag = self._acquire(lock_id, LockInfo.current(operation))
        try:
            yield
        finally:
            self._release(etag)

    def _acquire(self, lock_id: str, info: LockInfo) -> str:
        body = json.dumps({"id": lock_id, **asdict(info)}, sort_keys=True) + "\n"
        try:
            answer = self._s3.put_object(
                **self._params(self.lock_key),
                Body=body.encode("utf-8"),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if not has_code(exc, *_CONFLICT_CODES):
                raise self._aws(exc, "taking the state lock") from None
            found = self._read_lock()
            if found is not None and found.lock_id == lock_id:
                return found.etag  # our own create landed; a retry of it hit its own condition
            raise self._locked_error(found) from None
        except BotoCoreError as exc:
            raise self._aws(exc, "taking the state lock") from None
        return str(answer["ETag"])

    def _release(self, etag: str) -> None:
        """Never raises: the command's own outcome decides its exit code; a lock left behind
        is reported, and the next run names it and points at `smprov unlock`."""
        where = f"s3://{self.location.bucket}/{self.lock_key}"
        try:
            self._s3.delete_object(**self._params(self.lock_key), IfMatch=etag)
        except ClientError as exc:
            if has_code(exc, *_MISSING_CODES):
                log.warning("the lock %s was already removed (by `smprov unlock`?)", where)
            elif has_code(exc, *_CONFLICT_CODES):
                log.warning("the lock %s was broken and taken by another smprov; left it", where)
            else:
                error = self._aws(exc, "releasing the state lock")
                log.warning("could not release the lock %s: %s", where, error.message)
        except BotoCoreError as exc:
            log.warning("could not release the lock %s: %s; run `smprov unlock`", where, exc)

    def unlock(self) -> str:
        """Delete the lock object, whoever holds it, unless its holder is alive on this host.

        No liveness check is possible across hosts: the user asked for the lock to go. The delete
        is conditional, so a lock taken afresh while we looked is left alone.
        """
        found = self._read_lock()
        if found is None:
            return f"no lock on {self.describe()}: nothing to remove"
        holder = found.holder
        if holder is not None and holder.host == socket.gethostname() and _alive(holder.pid):
            raise LockError(
                f"the lock on {self.describe()} is held by a running process on this host: "
                f"{holder.describe()}",
                "wait for it to finish, or stop that process, then run `smprov unlock`",
            )
        try:
            self._s3.delete_object(**self._params(self.lock_key), IfMatch=found.etag)
        except ClientError as exc:
            if has_code(exc, *_MISSING_CODES):
                return f"the lock on {self.describe()} was released meanwhile: nothing to remove"
            if has_code(exc, *_CONFLICT_CODES):
                raise LockError(
                    f"the lock on {self.describe()} was taken again while unlocking",
                    "run `smprov unlock` again to see who holds it now",
                ) from None
            raise self._aws(exc, "removing the state lock") from None
        except BotoCoreError as exc:
            raise self._aws(exc, "removing the state lock") from None
        who = holder.describe() if holder else "an unknown holder (unreadable lock object)"
        return f"removed the lock on {self.describe()} held by {who}"

    def _read_lock(self) -> _LockObject | None:
        found = self._fetch(self.lock_key, "reading the state lock")
        if found is None:
            return None
        holder, lock_id = _parse_lock(found[0])
        return _LockObject(found[1], holder, lock_id)

    def _locked_error(self, found: _LockObject | None) -> LockError:
        if found is None:
            who = "another smprov, which released it just now: run again"
        elif found.holder is None:
            who = f"an unreadable lock object s3://{self.location.bucket}/{self.lock_key}"
        else:
            who = found.holder.describe()
        return LockError(
            f"state {self.describe()} is locked by {who}",
            "wait for it to finish; if that process is gone, run `smprov unlock`",
        )

    # -- the bucket -----------------------------------------------------------------------------

    def check_bucket(self) -> None:
        """Refuse a bucket that is unversioned or not fully private; checked once per backend."""
        with self._guard:
            if self._checked:
                return
            bucket = self.location.bucket
            problems: list[str] = []
            fixes: list[str] = []
            versioning = self._bucket_get("get_bucket_versioning", None) or {}
            if versioning.get("Status") != "Enabled":
                status = "suspended" if versioning.get("Status") == "Suspended" else "not enabled"
                problems.append(
                    f"versioning is {status}: smprov needs it so that every state it ever wrote "
                    "can be restored"
                )
                fixes.append(
                    f"aws s3api put-bucket-versioning --bucket {bucket} "
                    "--versioning-configuration Status=Enabled"
                )
            block = self._bucket_get(
                "get_public_access_block", "NoSuchPublicAccessBlockConfiguration"
            )
            settings = (block or {}).get("PublicAccessBlockConfiguration", {})
            off = [name for name in PUBLIC_ACCESS_SETTINGS if settings.get(name) is not True]
            if off:
                problems.append(f"public access is not fully blocked ({', '.join(off)} off)")
                fixes.append(
                    f"aws s3api put-public-access-block --bucket {bucket} "
                    "--public-access-block-configuration "
                    + ",".join(f"{name}=true" for name in PUBLIC_ACCESS_SETTINGS)
                )
            if problems:
                listed = "\n".join(f"  - {p}" for p in problems)
                raise StateError(
                    f"refusing to keep state in bucket {bucket}:\n{listed}",
                    "fix the bucket, then run again: " + "; ".join(fixes),
                )
            # Real S3 encrypts every object (SSE-S3) since January 2023 and reports it here, so a
            # missing configuration only happens on emulators and S3-compatible stores.
            # Refusing would break --local; a warning tells the user.
            absent = "ServerSideEncryptionConfigurationNotFoundError"
            if self._bucket_get("get_bucket_encryption", absent) is None:
                log.warning("warning: bucket %s reports no default encryption", bucket)
            self._checked = True

    def _bucket_get(self, method: str, absent_code: str | None) -> dict[str, Any] | None:
        """A bucket-level read; None when AWS says the setting was never made (``absent_code``)."""
        try:
            answer: dict[str, Any] = getattr(self._s3, method)(
                Bucket=self.location.bucket, ExpectedBucketOwner=self._owner
            )
        except ClientError as exc:
            if absent_code is not None and has_code(exc, absent_code):
                return None
            raise self._aws(exc, f"checking bucket {self.location.bucket}") from None
        except BotoCoreError as exc:
            raise self._aws(exc, f"checking bucket {self.location.bucket}") from None
        return answer

    # -- plumbing -------------------------------------------------------------------------------

    def _params(self, key: str) -> dict[str, str]:
        return {"Bucket": self.location.bucket, "Key": key, "ExpectedBucketOwner": self._owner}

    def _fetch(self, key: str, doing: str) -> tuple[bytes, str] | None:
        """(body, ETag) of an object, or None when it does not exist."""
        try:
            answer = self._s3.get_object(**self._params(key))
            body = answer["Body"].read()
        except ClientError as exc:
            if has_code(exc, *_MISSING_CODES):
                return None
            raise self._aws(exc, doing) from None
        except BotoCoreError as exc:
            raise self._aws(exc, doing) from None
        return body, str(answer["ETag"])

    def _aws(self, exc: BaseException, doing: str) -> SmprovError:
        bucket = self.location.bucket
        if has_code(exc, "NoSuchBucket"):
            return StateError(
                f"{doing}: the state bucket {bucket} does not exist",
                "create it (versioned, public access blocked), or fix --state / state_backend",
            )
        error: AwsError = to_aws_error(exc, f"{doing} ({self.describe()})")
        if has_code(exc, *_DENIED_CODES):
            error.hint = (
                f"the bucket must belong to account {self._owner} (the credentials' account), "
                "and the credentials need s3:GetObject, s3:PutObject, s3:DeleteObject and "
                "s3:GetBucketVersioning/GetBucketPublicAccessBlock/GetEncryptionConfiguration"
            )
        return error


def _http_status(exc: ClientError) -> int:
    """The HTTP status of a failed call (5xx: the request may have been carried out)."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else 0


def _parse_state(raw: bytes, source: str) -> StateDocument:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateError(
            f"state file {source}: not UTF-8 text (byte {exc.start})", DAMAGED_HINT
        ) from None
    return StateDocument.from_json(text, source)


def _parse_lock(raw: bytes) -> tuple[LockInfo | None, str | None]:
    """Holder and lock id of a lock body; (None, None) for anything else (advisory only)."""
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    lock_id = data.pop("id", None)
    holder = LockInfo.from_json(json.dumps(data))
    return holder, lock_id if isinstance(lock_id, str) else None
