"""Objects smprov puts in the bucket: folder markers and the training CSV.

Read is one ListObjectsV2 per bucket (stopping once past the last wanted key, so a bucket full of
user data costs no more pages than needed). An object's content is identified by the SHA-256 the
blueprint computed from the local file, stored as ``x-amz-meta-sha256`` when uploaded. The listing's
ETag is the MD5 of the content for single-part uploads without SSE-KMS, so when it equals the local
file's MD5 the content is known to match and no HeadObject is needed; otherwise (multipart, SSE-KMS)
one HeadObject reads the recorded SHA-256. An unchanged file therefore costs no PUT, and usually no
HEAD either. Objects carry no tags: they are found through their bucket, by key.

What smprov wrote is recorded: each upload's VersionId and ETag (``written``), carried from the
state into what the read returns. That is what makes ``down`` data-safe: it deletes only
smprov's own versions of the key (and delete markers with nothing of the user's under them);
a version someone else wrote -- an overwrite, a restored older version -- is user data, kept with
the bucket unless ``--delete-data``. An unversioned bucket has one version, "null": it is
smprov's only while its ETag is the one smprov's upload got. An update over an object smprov
did not write says so in the plan, and is refused when versioning is off (the user's object
would be lost) unless ``--allow-replace``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from provisioner.engine.contract import Ctx, Grant, Kind, ReadItem, Resolver
from provisioner.engine.model import UNKNOWN, FieldChange, Live
from provisioner.errors import ConfigError
from provisioner.kind_helpers.s3 import NO_BUCKET, delete_versions, is_missing, s3_call

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Managed transfer: multipart (parallel parts, resumable by part) above this size.
MULTIPART_THRESHOLD = 16 * 1024 * 1024


def file_digests(path: Path) -> tuple[str, str, int]:
    """(sha256, md5, size) of a local file, read once; unreadable is a configuration error."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                sha.update(chunk)
                md5.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ConfigError([f"csv_source: {path} cannot be read ({exc.strerror or exc})"]) from None
    return sha.hexdigest(), md5.hexdigest(), size


def _split_id(object_id: str) -> tuple[str, str]:
    bucket, _, key = object_id.partition("/")
    return bucket, key


class S3Object(Kind):
    name = "s3_object"
    label = "S3 object"
    grants = (
        Grant("TrainingBucket", ("s3:ListBucketVersions",)),
        Grant(
            "TrainingObjects",
            ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"),
        ),
    )
    replace_on = frozenset({"bucket", "key"})
    #: Where the content comes from and how it is described: the sha256 decides, not these.
    #: ``versioned`` (the bucket's versioning) says what an overwrite would do.
    create_only = frozenset({"source", "md5", "content_type", "versioned"})
    hidden = frozenset({"source", "sha256", "md5", "versioned"})
    keep_flag = "--delete-data"

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        wanted: dict[str, dict[str, ReadItem]] = {}
        for item in items:
            if item.id:
                bucket, key = _split_id(item.id)
            elif item.spec is not None:
                bucket, key = resolve(item.spec["bucket"]), item.spec["key"]
            else:
                continue
            if bucket and bucket is not UNKNOWN:
                wanted.setdefault(bucket, {})[key] = item
        out: dict[str, Live] = {}
        for bucket, by_key in wanted.items():
            listed = self._list(ctx, bucket, sorted(by_key))
            for key, item in by_key.items():
                obj = listed.get(key)
                written = _written(item)
                if obj is None:
                    if ctx.teardown and written:
                        # No current object (a user's delete marker, say), but versions smprov
                        # wrote may be under it: the delete step looks.
                        out[item.key] = _live(bucket, key, None, 0, None, written, current=False)
                    continue
                sha = self._content_sha(ctx, bucket, obj, item.spec)
                etag = _etag(obj.get("ETag"))
                spec = item.spec or {}
                if item.recorded is None and sha is not None and sha == spec.get("sha256"):
                    # Found, not recorded (a crash, an import): smprov's content, so its upload.
                    written = [{"version": None, "etag": etag}]
                out[item.key] = _live(bucket, key, sha, obj.get("Size", 0), etag, written)
        return out

    def _list(self, ctx: Ctx, bucket: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The wanted keys' listing entries; pages stop once past the greatest wanted key."""
        found: dict[str, dict[str, Any]] = {}
        # S3 prefixes are plain string prefixes, not path components.
        prefix = os.path.commonprefix(keys)  # noqa: RUF071
        params: dict[str, Any] = {"Bucket": bucket, "ExpectedBucketOwner": ctx.account}
        if prefix:
            params["Prefix"] = prefix
        last = keys[-1]
        try:
            for page in ctx.client("s3").get_paginator("list_objects_v2").paginate(**params):
                contents = page.get("Contents", [])
                for obj in contents:
                    if obj["Key"] in keys:
                        found[obj["Key"]] = obj
                if not contents or contents[-1]["Key"] >= last:
                    break
        except Exception as exc:
            if is_missing(exc, NO_BUCKET):
                return {}
            raise
        return found

    def _content_sha(
        self, ctx: Ctx, bucket: str, obj: Mapping[str, Any], spec: Mapping[str, Any] | None
    ) -> str | None:
        etag = str(obj.get("ETag", "")).strip('"')
        if obj.get("Size", 0) == 0:
            return EMPTY_SHA256
        if spec is not None and spec.get("md5") and etag == spec["md5"]:
            # Same MD5 as the local file: same bytes, whose SHA-256 the blueprint computed.
            return str(spec["sha256"])
        head = s3_call(ctx, "head_object", Bucket=bucket, Key=obj["Key"])
        return (head.get("Metadata") or {}).get("sha256")

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        return self.put(ctx, spec)

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        return self.put(ctx, spec, live.get("written") or [])

    def update_note(
        self, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> tuple[str, bool] | None:
        if not any(c.path == "sha256" for c in changes) or _is_mine(live):
            return None
        where = live.get("uri")
        if spec.get("versioned") is True:
            return (
                f"restores smprov's content at {where}; the current version, which smprov did "
                "not write, stays as a noncurrent version",
                False,
            )
        return (
            f"overwrites {where}, which smprov did not write: with bucket versioning off it "
            "would be lost",
            True,
        )

    def put(
        self, ctx: Ctx, spec: Mapping[str, Any], written: Sequence[Mapping[str, Any]] = ()
    ) -> Live:
        """Upload, and note what the upload wrote (its VersionId and ETag) after ``written``."""
        bucket, key = spec["bucket"], spec["key"]
        source = spec.get("source")
        if not source:
            answer = s3_call(ctx, "put_object", Bucket=bucket, Key=key, Body=b"")
            sha, size = EMPTY_SHA256, 0
        else:
            path = Path(source)
            # Hashed again: the metadata must describe the bytes sent, even if the file changed
            # since the plan.
            sha, _md5, size = file_digests(path)
            answer = self._upload(ctx, path, bucket, key, sha, size, spec.get("content_type"))
        etag = _etag(answer.get("ETag"))
        entry = {"version": answer.get("VersionId"), "etag": etag}
        return _live(bucket, key, sha, size, etag, [*_others(written, entry), entry])

    def _upload(
        self,
        ctx: Ctx,
        path: Path,
        bucket: str,
        key: str,
        sha: str,
        size: int,
        content_type: str | None,
    ) -> Mapping[str, Any]:
        """One PutObject (its answer has the VersionId and ETag); above the threshold a managed
        multipart upload, whose answer boto3 keeps to itself: one HeadObject reads them."""
        extra: dict[str, Any] = {"ExpectedBucketOwner": ctx.account, "Metadata": {"sha256": sha}}
        if content_type:
            extra["ContentType"] = content_type
        if size <= MULTIPART_THRESHOLD:
            body = path.read_bytes()
            ctx.report(f"uploading {key}: {size:,} bytes")
            answer: Mapping[str, Any] = ctx.client("s3").put_object(
                Bucket=bucket, Key=key, Body=body, **extra
            )
            return answer
        from boto3.s3.transfer import TransferConfig

        ctx.client("s3").upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs=extra,
            Callback=_progress(ctx.report, key, size),
            Config=TransferConfig(
                multipart_threshold=MULTIPART_THRESHOLD,
                multipart_chunksize=MULTIPART_THRESHOLD,
                max_concurrency=4,
            ),
        )
        head: Mapping[str, Any] = s3_call(ctx, "head_object", Bucket=bucket, Key=key)
        return head

    def delete(self, ctx: Ctx, live: Live) -> str | None:
        """Only the versions smprov wrote, and delete markers with no user version under them;
        with ``--delete-data``, every version of the key. A version someone else wrote stays
        (and with it this state entry and the bucket): the reason says which and how."""
        bucket, key = live.get("bucket"), live.get("key")
        if not bucket:
            bucket, key = _split_id(live.id)
        try:
            versions = self._versions_of(ctx, bucket, key)
            doomed, kept = (list(versions), []) if ctx.delete_data else _partition(versions, live)
            if doomed:
                delete_versions(ctx, bucket, [_entry(v) for v in doomed])
        except Exception as exc:
            if is_missing(exc, NO_BUCKET):
                return None
            raise
        if not kept:
            return None
        return (
            f"{len(kept)} version(s) of {key} were not written by smprov (a user's upload, "
            "or a delete marker over one); run `smprov down --delete-data` to delete them"
        )

    def _versions_of(self, ctx: Ctx, bucket: str, key: str) -> list[dict[str, Any]]:
        """Every version and delete marker of exactly ``key``."""
        found: list[dict[str, Any]] = []
        paginator = ctx.client("s3").get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=key, ExpectedBucketOwner=ctx.account):
            versions = [
                *({**v, "marker": False} for v in page.get("Versions", [])),
                *({**v, "marker": True} for v in page.get("DeleteMarkers", [])),
            ]
            found.extend(v for v in versions if v["Key"] == key)
            # Listed in key order and ``key`` is the least key with this prefix: past it, done.
            if any(v["Key"] != key for v in versions):
                break
        return found


def _live(
    bucket: str,
    key: str,
    sha: str | None,
    size: int,
    etag: str | None,
    written: Sequence[Mapping[str, Any]] = (),
    *,
    current: bool = True,
) -> Live:
    attrs: dict[str, Any] = {
        "bucket": bucket,
        "key": key,
        "sha256": sha,
        "size": size,
        "etag": etag,
        "uri": f"s3://{bucket}/{key}",
        "written": [dict(w) for w in written],
    }
    if not current:
        attrs["current"] = False
    return Live(f"{bucket}/{key}", attrs)


def _etag(value: Any) -> str | None:
    return str(value).strip('"') if value else None


def _written(item: ReadItem) -> list[dict[str, Any]]:
    """What the state says smprov wrote at this key. A record from before versions were kept
    has only the ETag last read: its content is smprov's, whatever version holds it."""
    recorded = item.recorded or {}
    if "written" in recorded:
        return [dict(w) for w in recorded["written"]]
    etag = recorded.get("etag")
    return [{"version": None, "etag": etag}] if etag else []


def _others(
    written: Sequence[Mapping[str, Any]], entry: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    return [w for w in written if dict(w) != dict(entry)]


def _is_mine(live: Live) -> bool:
    """Whether the current object is one smprov wrote (its ETag is one of smprov's uploads')."""
    return live.get("etag") in {w.get("etag") for w in live.get("written") or []}


def _ours(version: Mapping[str, Any], written: Sequence[Mapping[str, Any]]) -> bool:
    """A version smprov wrote: its VersionId was an upload's answer, or its ETag is an upload's
    (versioning off, an older record, or a retried upload whose first answer was lost: the
    same bytes smprov sent)."""
    etag = _etag(version.get("ETag"))
    return any(
        (w.get("version") is not None and w["version"] == version["VersionId"])
        or (etag is not None and w.get("etag") == etag)
        for w in written
    )


def _partition(
    versions: Sequence[Mapping[str, Any]], live: Live
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(smprov's, the user's) among a key's versions. Delete markers hold no data: they go
    unless a version of the user's is left, which they may be hiding (their order among the
    versions is not reliable: S3 times are to the second)."""
    written = live.get("written") or []
    doomed = [v for v in versions if not v["marker"] and _ours(v, written)]
    kept = [v for v in versions if not v["marker"] and not _ours(v, written)]
    markers = [v for v in versions if v["marker"]]
    return (doomed, kept + markers) if kept else (doomed + markers, [])


def _entry(version: Mapping[str, Any]) -> dict[str, str]:
    return {"Key": version["Key"], "VersionId": version["VersionId"]}


def _progress(report: Callable[[str], None], key: str, total: int) -> Callable[[int], None]:
    """A transfer callback reporting every 5 % (the transfer calls it per chunk, from threads)."""
    state = {"sent": 0, "shown": -1}
    lock = threading.Lock()

    def callback(sent: int) -> None:
        with lock:
            state["sent"] += sent
            percent = 100 if total == 0 else min(100, state["sent"] * 100 // total)
            if percent // 5 == state["shown"] // 5:
                return
            state["shown"] = percent
        report(f"uploading {key}: {percent}% of {total:,} bytes")

    return callback
