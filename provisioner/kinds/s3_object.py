"""Objects smprov puts in the bucket: folder markers and the training CSV.

Read is one ListObjectsV2 per bucket (stopping once past the last wanted key, so a bucket full of
user data costs no more pages than needed). An object's content is identified by the SHA-256 the
blueprint computed from the local file, stored as ``x-amz-meta-sha256`` when uploaded. The listing's
ETag is the MD5 of the content for single-part uploads without SSE-KMS, so when it equals the local
file's MD5 the content is known to match and no HeadObject is needed; otherwise (multipart, SSE-KMS)
one HeadObject reads the recorded SHA-256. An unchanged file therefore costs no PUT, and usually no
HEAD either. Objects carry no tags: they are found through their bucket, by key.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from provisioner.engine.contract import Ctx, PutKind, ReadItem, Resolver
from provisioner.engine.model import UNKNOWN, Live
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


class S3Object(PutKind):
    name = "s3_object"
    label = "S3 object"
    replace_on = frozenset({"bucket", "key"})
    #: Where the content comes from and how it is described: the sha256 decides, not these.
    create_only = frozenset({"source", "md5", "content_type"})

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
            for key, obj in listed.items():
                item = by_key[key]
                sha = self._content_sha(ctx, bucket, obj, item.spec)
                out[item.key] = _live(bucket, key, sha, obj.get("Size", 0), obj.get("ETag"))
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

    def put(self, ctx: Ctx, spec: Mapping[str, Any]) -> Live:
        bucket, key = spec["bucket"], spec["key"]
        source = spec.get("source")
        if not source:
            answer = s3_call(ctx, "put_object", Bucket=bucket, Key=key, Body=b"")
            return _live(bucket, key, EMPTY_SHA256, 0, answer.get("ETag"))
        path = Path(source)
        # Hashed again: the metadata must describe the bytes sent, even if the file changed
        # since the plan.
        sha, _md5, size = file_digests(path)
        self._upload(ctx, path, bucket, key, sha, size, spec.get("content_type"))
        return _live(bucket, key, sha, size, None)

    def _upload(
        self,
        ctx: Ctx,
        path: Path,
        bucket: str,
        key: str,
        sha: str,
        size: int,
        content_type: str | None,
    ) -> None:
        from boto3.s3.transfer import TransferConfig

        extra: dict[str, Any] = {"ExpectedBucketOwner": ctx.account, "Metadata": {"sha256": sha}}
        if content_type:
            extra["ContentType"] = content_type
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

    def delete(self, ctx: Ctx, live: Live) -> None:
        """Every version of this key (a versioned bucket would otherwise keep them, and the
        bucket would look as if it held the user's data)."""
        bucket, key = live.get("bucket"), live.get("key")
        if not bucket:
            bucket, key = _split_id(live.id)
        try:
            entries = self._versions_of(ctx, bucket, key)
            if entries:
                delete_versions(ctx, bucket, entries)
        except Exception as exc:
            if is_missing(exc, NO_BUCKET):
                return None
            raise
        return None

    def _versions_of(self, ctx: Ctx, bucket: str, key: str) -> list[dict[str, str]]:
        entries: list[dict[str, str]] = []
        paginator = ctx.client("s3").get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=key, ExpectedBucketOwner=ctx.account):
            versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            entries.extend(
                {"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions if v["Key"] == key
            )
            # Listed in key order and ``key`` is the least key with this prefix: past it, done.
            if any(v["Key"] != key for v in versions):
                break
        return entries


def _live(bucket: str, key: str, sha: str | None, size: int, etag: str | None) -> Live:
    return Live(
        f"{bucket}/{key}",
        {
            "bucket": bucket,
            "key": key,
            "sha256": sha,
            "size": size,
            "etag": str(etag).strip('"') if etag else None,
            "uri": f"s3://{bucket}/{key}",
        },
    )


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
