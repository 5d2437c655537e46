"""What the S3 kinds share: owner-checked calls, not-found detection, version listing.

Every call on the bucket or its objects carries ``ExpectedBucketOwner``: bucket names are global,
so without it a name someone else owns (a deleted-and-reclaimed bucket, a typo in
``bucket_name``) would receive our data or policy. S3 answers 403 instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from provisioner.aws.errors import error_code
from provisioner.engine.contract import Ctx

#: What S3 answers for a bucket that does not exist (HeadBucket has no body: plain "404").
NO_BUCKET = ("NoSuchBucket", "404", "NotFound")


def s3_call(ctx: Ctx, method: str, **params: Any) -> Any:
    """Call S3 on a bucket we own: ``ExpectedBucketOwner`` is always this account."""
    return getattr(ctx.client("s3"), method)(ExpectedBucketOwner=ctx.account, **params)


def is_missing(exc: BaseException, codes: tuple[str, ...] = NO_BUCKET) -> bool:
    return error_code(exc) in codes


def bucket_arn(ctx: Ctx, name: str) -> str:
    return f"arn:{ctx.partition}:s3:::{name}"


def version_pages(ctx: Ctx, bucket: str, prefix: str = "") -> Iterator[list[dict[str, str]]]:
    """Object versions and delete markers, one page (up to 1,000) at a time, as DeleteObjects
    entries (``Key``, ``VersionId``)."""
    params: dict[str, Any] = {"Bucket": bucket, "ExpectedBucketOwner": ctx.account}
    if prefix:
        params["Prefix"] = prefix
    paginator = ctx.client("s3").get_paginator("list_object_versions")
    for page in paginator.paginate(**params):
        entries = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        yield entries


def delete_versions(ctx: Ctx, bucket: str, entries: list[dict[str, str]]) -> None:
    """Delete object versions in batches of 1,000 (DeleteObjects' limit), failing on any per-key
    error: DeleteObjects answers 200 even when it deleted nothing."""
    from provisioner.errors import AwsError

    for start in range(0, len(entries), 1000):
        batch = entries[start : start + 1000]
        answer = s3_call(
            ctx, "delete_objects", Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
        )
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise AwsError(
                f"deleting objects in {bucket}: {len(errors)} of {len(batch)} failed; first: "
                f"{first.get('Key')}: {first.get('Code')}: {first.get('Message')}",
                code=first.get("Code"),
                operation="DeleteObjects",
            )
