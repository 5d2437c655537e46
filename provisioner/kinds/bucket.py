"""The training-data S3 bucket: encryption, versioning, public access block, ownership, tags.

Buckets are name-keyed and S3 has no batch read: per bucket one HeadBucket plus one Get per
setting. A bucket the state does not know (a lost state file) is found by its name prefix and
adopted when its ``smprov:stack``/``smprov:key`` tags say it is ours, so the random name suffix is
recovered instead of a second bucket being made (``find_tagged``, ``blueprint.storage.lost_data``).

Deleting is data-safe: the objects smprov uploaded are deleted by their own kind first, so anything
still in the bucket is the user's. Without ``--delete-data`` the bucket is then kept (and so is its
state entry); with it, every object version and delete marker goes, then the bucket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.aws.tags import tag_dict, tag_list
from provisioner.engine.contract import (
    KEY_TAG,
    STACK_TAG,
    Ctx,
    Grant,
    Kind,
    ReadItem,
    Resolver,
    wanted_name,
)
from provisioner.engine.model import FieldChange, Live
from provisioner.errors import AwsError, NameTaken
from provisioner.kind_helpers.s3 import (
    bucket_arn,
    delete_versions,
    is_missing,
    s3_call,
    version_pages,
)

#: Answers of the Get* calls for a setting never configured on the bucket.
NOT_CONFIGURED = (
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "OwnershipControlsNotFoundError",
    "NoSuchTagSet",
)
PUBLIC_ACCESS_FIELDS = {
    "block_public_acls": "BlockPublicAcls",
    "ignore_public_acls": "IgnorePublicAcls",
    "block_public_policy": "BlockPublicPolicy",
    "restrict_public_buckets": "RestrictPublicBuckets",
}
#: How many of the user's keys the "kept" message names.
SHOWN_KEYS = 3


def _optional(fn: Any) -> Any:
    """A Get* answer, or None when the setting was never configured."""
    try:
        return fn()
    except Exception as exc:
        if has_code(exc, *NOT_CONFIGURED):
            return None
        raise


def encryption_spec(kms_key_id: str | None) -> dict[str, Any]:
    """Default encryption: SSE-S3, or SSE-KMS with an S3 bucket key (fewer KMS requests)."""
    if kms_key_id:
        return {"sse_algorithm": "aws:kms", "kms_key_id": kms_key_id, "bucket_key_enabled": True}
    return {"sse_algorithm": "AES256", "kms_key_id": None, "bucket_key_enabled": False}


class Bucket(Kind):
    name = "bucket"
    reads_independently = True  # by its name (configured or kept in the state)
    label = "S3 bucket"
    grants = (
        Grant(
            "TrainingBucket",
            (
                "s3:ListBucket",  # HeadBucket
                "s3:GetEncryptionConfiguration",
                "s3:GetBucketVersioning",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetBucketOwnershipControls",
                "s3:GetBucketTagging",
                "s3:CreateBucket",
                "s3:PutBucketOwnershipControls",  # CreateBucket with an ownership setting
                "s3:TagResource",  # CreateBucket with tags (S3 API reference)
                "s3:PutBucketPublicAccessBlock",
                "s3:PutEncryptionConfiguration",
                "s3:PutBucketVersioning",
                "s3:PutBucketTagging",
                "s3:ListBucketVersions",  # emptied with --delete-data
                "s3:DeleteBucket",
            ),
        ),
        Grant("TrainingObjects", ("s3:DeleteObject", "s3:DeleteObjectVersion")),
        # After a lost state, the generated name is found again by listing.
        Grant("FindTheBucket", ("s3:ListAllMyBuckets",)),
    )
    name_field = "name"
    replace_on = frozenset({"name", "region"})
    retains_data = True
    keep_flag = "--delete-data"

    # --- read ----------------------------------------------------------------------------------

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        return ctx.read_each(items, lambda item: self._read_item(ctx, item, resolve))

    def _read_item(self, ctx: Ctx, item: ReadItem, resolve: Resolver) -> Live | None:
        name = wanted_name(item, resolve)
        if name is None:
            return None
        live = self._read_bucket(ctx, name, recorded=item.id == name)
        mine = item.id is not None or item.intended == name  # HeadBucket checked the owner
        if live is not None and not mine and not self._ours(live, item.key, ctx):
            live = None  # someone's bucket of that name: create reports the conflict
        return live

    @staticmethod
    def _ours(live: Live, key: str, ctx: Ctx) -> bool:
        tags = live.get("tags") or {}
        return tags.get(STACK_TAG) == ctx.stack and tags.get(KEY_TAG) == key

    def find_tagged(self, ctx: Ctx, key: str, prefix: str) -> Live | None:
        """The stack's bucket named ``prefix`` plus a generated suffix the state lost: one
        ListBuckets by prefix, then the candidates' tags (the refresh reads it in full)."""
        params: dict[str, Any] = {"Prefix": prefix, "BucketRegion": ctx.region}
        found: list[Live] = []
        for page in ctx.client("s3").get_paginator("list_buckets").paginate(**params):
            for bucket in page.get("Buckets", []):
                # Tags first: only a bucket of ours is worth reading in full.
                name = bucket["Name"]
                try:
                    tagging = _optional(lambda n=name: s3_call(ctx, "get_bucket_tagging", Bucket=n))
                except Exception as exc:
                    if is_missing(exc):  # deleted since the listing
                        continue
                    raise
                tags = tag_dict((tagging or {}).get("TagSet"))
                if tags.get(STACK_TAG) == ctx.stack and tags.get(KEY_TAG) == key:
                    found.append(Live(name, {"name": name, "tags": tags}))
        if len(found) > 1:
            names = ", ".join(sorted(live.id for live in found))
            raise AwsError(
                f"several buckets are tagged as stack {ctx.stack}'s {key}: {names}",
                code="AmbiguousAdoption",
                hint="set bucket_name to the one to keep, or untag the others",
            )
        return found[0] if found else None

    def _read_bucket(self, ctx: Ctx, name: str, *, recorded: bool = False) -> Live | None:
        """The bucket and its settings: one GET per setting (S3 has no call returning them
        together), sent at once. For a bucket the state records, the settings go out with the
        HeadBucket (one round trip, not two); if it is gone after all, their answers are
        dropped."""

        def head() -> Any:
            return s3_call(ctx, "head_bucket", Bucket=name)

        settings = [
            lambda: _optional(lambda: s3_call(ctx, "get_bucket_encryption", Bucket=name)),
            lambda: s3_call(ctx, "get_bucket_versioning", Bucket=name),
            lambda: _optional(lambda: s3_call(ctx, "get_public_access_block", Bucket=name)),
            lambda: _optional(lambda: s3_call(ctx, "get_bucket_ownership_controls", Bucket=name)),
            lambda: _optional(lambda: s3_call(ctx, "get_bucket_tagging", Bucket=name)),
        ]
        if ctx.teardown and recorded:  # existence is all a teardown needs of it
            settings = []
        first, *answers = ctx.gather_settled([head, *settings] if recorded else [head])
        if isinstance(first, Exception):
            # 403: the name exists but not in this account (ExpectedBucketOwner): not ours.
            if is_missing(first) or has_code(first, "403", "AccessDenied", "Forbidden"):
                return None
            raise first
        if not settings:
            return Live(name, {"name": name, "arn": bucket_arn(ctx, name), "uri": f"s3://{name}"})
        if not answers:
            answers = ctx.gather_settled(settings)
        for answer in answers:
            if isinstance(answer, Exception):
                if is_missing(answer):  # deleted between the calls
                    return None
                raise answer
        encryption, versioning, pab, ownership, tagging = answers
        head_answer = first
        return Live(
            name,
            {
                "name": name,
                "arn": bucket_arn(ctx, name),
                "uri": f"s3://{name}",
                "region": head_answer.get("BucketRegion") or ctx.region,
                "encryption": _encryption(encryption),
                "versioning": versioning.get("Status") == "Enabled",
                "public_access_block": _public_access(pab),
                "object_ownership": _ownership(ownership),
                "tags": tag_dict((tagging or {}).get("TagSet")),
            },
        )

    # --- create / update -----------------------------------------------------------------------

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        name = spec["name"]
        self._refuse_foreign(ctx, name)
        params: dict[str, Any] = {"Bucket": name, "ObjectOwnership": spec["object_ownership"]}
        config: dict[str, Any] = {"Tags": tag_list(spec["tags"])}
        # us-east-1 is the one region that rejects a LocationConstraint naming itself.
        if spec["region"] != "us-east-1":
            config["LocationConstraint"] = spec["region"]
        params["CreateBucketConfiguration"] = config
        try:
            ctx.client("s3").create_bucket(**params)
        except Exception as exc:
            if has_code(exc, "BucketAlreadyExists"):
                raise NameTaken(
                    f"the bucket name {name} is taken by another AWS account",
                    code="BucketAlreadyExists",
                    hint="bucket names are global: set another bucket_name in smprov.toml",
                ) from exc
            if not has_code(exc, "BucketAlreadyOwnedByYou"):  # a retried create after a crash
                raise
        live = Live(
            name,
            {
                "name": name,
                "arn": bucket_arn(ctx, name),
                "uri": f"s3://{name}",
                "region": spec["region"],
                "encryption": None,
                "versioning": False,
                "public_access_block": None,
                "object_ownership": spec["object_ownership"],
                "tags": dict(spec["tags"]),  # CreateBucketConfiguration.Tags applied them
            },
        )
        return self.update(ctx, live, spec, self.diff(live, spec))

    def _refuse_foreign(self, ctx: Ctx, name: str) -> None:
        """CreateBucket in us-east-1 answers 200 for a bucket this account already owns, so an
        existing bucket that is not ours must be caught before, never silently taken over."""
        try:
            s3_call(ctx, "head_bucket", Bucket=name)
        except Exception as exc:
            if is_missing(exc) or has_code(exc, "403", "AccessDenied", "Forbidden"):
                return  # free, or another account's (CreateBucket then says which)
            raise
        raise NameTaken(
            f"the bucket {name} already exists in this account and is not part of stack "
            f"{ctx.stack} (no smprov:stack={ctx.stack} tag)",
            code="BucketAlreadyOwnedByYou",
            hint=f"set another bucket_name, or tag that bucket smprov:stack={ctx.stack} and "
            "smprov:key=bucket, then run `smprov import` to adopt it",
        )

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        name = live.id
        attrs = dict(live.attrs)
        fields = {c.path for c in changes}
        # Public access first: a bucket made less public never passes through a more open state.
        if "public_access_block" in fields:
            pab = spec["public_access_block"]
            s3_call(
                ctx,
                "put_public_access_block",
                Bucket=name,
                PublicAccessBlockConfiguration={
                    aws: bool(pab[field]) for field, aws in PUBLIC_ACCESS_FIELDS.items()
                },
            )
            attrs["public_access_block"] = dict(pab)
        if "encryption" in fields:
            s3_call(
                ctx,
                "put_bucket_encryption",
                Bucket=name,
                ServerSideEncryptionConfiguration=_encryption_request(spec["encryption"]),
            )
            attrs["encryption"] = dict(spec["encryption"])
        if "object_ownership" in fields:
            s3_call(
                ctx,
                "put_bucket_ownership_controls",
                Bucket=name,
                OwnershipControls={"Rules": [{"ObjectOwnership": spec["object_ownership"]}]},
            )
            attrs["object_ownership"] = spec["object_ownership"]
        if "versioning" in fields:
            # Versioning can never be switched off again, only suspended.
            status = "Enabled" if spec["versioning"] else "Suspended"
            s3_call(
                ctx,
                "put_bucket_versioning",
                Bucket=name,
                VersioningConfiguration={"Status": status},
            )
            attrs["versioning"] = bool(spec["versioning"])
        if "tags" in fields:
            # PutBucketTagging replaces the whole set (aws: tags cannot be written by anyone).
            s3_call(
                ctx, "put_bucket_tagging", Bucket=name, Tagging={"TagSet": tag_list(spec["tags"])}
            )
            attrs["tags"] = dict(spec["tags"])
        return Live(live.id, attrs)

    # --- delete --------------------------------------------------------------------------------

    def keeps(self, live: Live, *, delete_data: bool, delete_logs: bool) -> str | None:
        if delete_data:
            return None
        return "if it holds objects smprov did not upload; `--delete-data` deletes them"

    def delete(self, ctx: Ctx, live: Live) -> str | None:
        name = live.id
        try:
            if not ctx.delete_data:
                kept = self._user_data(ctx, name)
                if kept:
                    return kept
            else:
                for entries in version_pages(ctx, name):
                    if entries:
                        ctx.report(f"deleting {len(entries)} object versions")
                        delete_versions(ctx, name, entries)
            s3_call(ctx, "delete_bucket", Bucket=name)
        except Exception as exc:
            if is_missing(exc):
                return None
            raise
        return None

    def _user_data(self, ctx: Ctx, name: str) -> str | None:
        """Why the bucket stays, when anything is left in it (smprov's own objects are gone)."""
        page = next(version_pages(ctx, name), [])
        if not page:
            return None
        keys = sorted({e["Key"] for e in page})
        shown = ", ".join(keys[:SHOWN_KEYS]) + (", ..." if len(keys) > SHOWN_KEYS else "")
        count = f"{len(keys)}+" if len(page) >= 1000 else str(len(keys))
        return f"it holds {count} object(s) smprov did not upload: {shown}"


def _encryption(answer: Mapping[str, Any] | None) -> dict[str, Any] | None:
    rules = ((answer or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    if not rules:
        return None
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    algorithm = default.get("SSEAlgorithm")
    kms = algorithm in ("aws:kms", "aws:kms:dsse")
    return {
        "sse_algorithm": algorithm,
        "kms_key_id": default.get("KMSMasterKeyID") if kms else None,
        # S3 reports BucketKeyEnabled for SSE-S3 too, where it means nothing.
        "bucket_key_enabled": bool(rules[0].get("BucketKeyEnabled")) if kms else False,
    }


def _encryption_request(spec: Mapping[str, Any]) -> dict[str, Any]:
    default: dict[str, Any] = {"SSEAlgorithm": spec["sse_algorithm"]}
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
    if spec["sse_algorithm"] == "aws:kms":
        default["KMSMasterKeyID"] = spec["kms_key_id"]
        rule["BucketKeyEnabled"] = bool(spec["bucket_key_enabled"])
    return {"Rules": [rule]}


def _public_access(answer: Mapping[str, Any] | None) -> dict[str, bool] | None:
    config = (answer or {}).get("PublicAccessBlockConfiguration")
    if config is None:
        return None
    return {field: bool(config.get(aws)) for field, aws in PUBLIC_ACCESS_FIELDS.items()}


def _ownership(answer: Mapping[str, Any] | None) -> str | None:
    rules = ((answer or {}).get("OwnershipControls") or {}).get("Rules") or []
    return rules[0].get("ObjectOwnership") if rules else None
