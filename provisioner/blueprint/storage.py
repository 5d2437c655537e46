"""The training-data half of the stack: bucket, folder markers, the CSV, the execution role and
the bucket policy tying them together.

The bucket name carries a random suffix generated once and kept in the state's ``data``; a lost
state recovers it from the bucket found by its tags (``lost_data``, ``adopt_data``) before the
blueprint is built, so re-runs never make a second bucket.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from provisioner import keys
from provisioner.blueprint.common import BlueprintInputs, Lookup, attr_of
from provisioner.blueprint.sagemaker_role import sagemaker_role
from provisioner.config import StackConfig, validate_bucket_name
from provisioner.engine.model import Desired, Live, Notice, Ref
from provisioner.errors import ConfigError
from provisioner.kinds.bucket import encryption_spec
from provisioner.kinds.s3_object import EMPTY_SHA256, file_digests

SUFFIX_DATA = "bucket_suffix"
SUFFIX_LENGTH = 8
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_GENERATED_NAME = re.compile(rf"^.+-sagemaker-(?P<suffix>[a-z0-9]{{{SUFFIX_LENGTH}}})$")


def name_prefix(env: str) -> str:
    return f"{env}-sagemaker-"


def bucket_name(config: StackConfig, data: MutableMapping[str, str]) -> str:
    """``bucket_name`` when set, else ``<env>-sagemaker-<suffix>``, generating the suffix once."""
    if config.bucket_name:
        return config.bucket_name
    suffix = data.get(SUFFIX_DATA)
    if not suffix:
        suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))
        data[SUFFIX_DATA] = suffix
    name = name_prefix(config.environment) + suffix
    problems = validate_bucket_name(name)
    if problems:
        raise ConfigError([f"bucket name {name!r} {p}" for p in problems])
    return name


def csv_object_key(config: StackConfig) -> str:
    """Where the CSV lands: in the first folder, under its own file name."""
    return f"{config.folders[0]}{config.csv_source.name}"


def bucket_policy(inputs: BlueprintInputs, bucket: str) -> dict[str, Any]:
    """TLS only, for everyone; list and object read/write for the execution role."""
    arn = f"arn:{inputs.partition}:s3:::{bucket}"
    role = {"AWS": Ref(keys.SAGEMAKER_ROLE, "arn")}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "ExecutionRoleList",
                "Effect": "Allow",
                "Principal": role,
                "Action": "s3:ListBucket",
                "Resource": arn,
            },
            {
                "Sid": "ExecutionRoleObjects",
                "Effect": "Allow",
                "Principal": role,
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                ],
                "Resource": f"{arn}/*",
            },
        ],
    }


def storage(inputs: BlueprintInputs) -> Iterator[Desired]:
    cfg = inputs.config
    name = bucket_name(cfg, inputs.data)
    pab = cfg.public_access_block
    yield Desired(
        keys.BUCKET,
        "bucket",
        {
            "name": name,
            "region": cfg.region,
            "encryption": encryption_spec(cfg.kms_key_id),
            "versioning": cfg.bucket_versioning,
            "public_access_block": {
                "block_public_acls": pab.block_public_acls,
                "ignore_public_acls": pab.ignore_public_acls,
                "block_public_policy": pab.block_public_policy,
                "restrict_public_buckets": pab.restrict_public_buckets,
            },
            # As in the Terraform setup smprov replaces (ACLs keep working).
            "object_ownership": "ObjectWriter",
            "tags": inputs.tags(keys.BUCKET, name),
        },
    )
    for folder, key in keys.folder_keys(cfg.folders).items():
        yield Desired(
            key,
            "s3_object",
            {
                "bucket": Ref(keys.BUCKET, "name"),
                "key": folder,
                "sha256": EMPTY_SHA256,
                "versioned": cfg.bucket_versioning,
            },
        )
    if cfg.upload_csv:
        sha, md5, _size = file_digests(cfg.csv_source)  # read once per run
        yield Desired(
            keys.CSV_OBJECT,
            "s3_object",
            {
                "bucket": Ref(keys.BUCKET, "name"),
                "key": csv_object_key(cfg),
                "source": str(cfg.csv_source),
                "sha256": sha,
                "md5": md5,
                "content_type": "text/csv",
                # The configured versioning, not the live one: the bucket's step sets it before
                # any upload (the object refers to the bucket), so turning it on is what keeps
                # a user's object as a noncurrent version.
                "versioned": cfg.bucket_versioning,
            },
        )
    yield sagemaker_role(inputs, name)
    yield Desired(
        keys.BUCKET_POLICY,
        "bucket_policy",
        {"bucket": Ref(keys.BUCKET, "name"), "policy": bucket_policy(inputs, name)},
    )


def notices(config: StackConfig) -> list[Notice]:
    """A warning when any Block Public Access flag is off (smprov's default is all four on)."""
    if config.public_access_fully_blocked:
        return []
    off = sorted(k for k, v in vars(config.public_access_block).items() if not v)
    return [
        Notice(
            keys.BUCKET,
            "S3 Block Public Access is partly off for the training bucket ("
            + ", ".join(f"{k} = false" for k in off)
            + "): a policy or ACL could make the training data public. smprov blocks all "
            "public access unless public_access_block says otherwise.",
        )
    ]


def lost_data(config: StackConfig, data: Mapping[str, str]) -> list[Lookup]:
    """The bucket suffix, when no ``bucket_name`` is set and ``data`` has none: the stack's
    bucket, if AWS has it, is named ``<env>-sagemaker-<suffix>`` and tagged as the stack's."""
    if config.bucket_name or data.get(SUFFIX_DATA):
        return []
    return [Lookup(keys.BUCKET, "bucket", name_prefix(config.environment))]


def adopt_data(live: Mapping[str, Live], data: MutableMapping[str, str]) -> bool:
    """Take the bucket suffix from the stack's bucket found by its tags, when it differs from
    the one in ``data``."""
    bucket = live.get(keys.BUCKET)
    if bucket is None:
        return False
    match = _GENERATED_NAME.match(bucket.id)
    if match is None or data.get(SUFFIX_DATA) == match["suffix"]:
        return False
    data[SUFFIX_DATA] = match["suffix"]
    return True


def outputs(resources: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    """The bucket, its folder and CSV URIs, the execution role."""
    bucket = resources.get(keys.BUCKET)
    name = bucket.id if bucket is not None else None
    folders = keys.folder_keys(config.folders)
    return {
        "bucket_name": name,
        "bucket_arn": attr_of(resources, keys.BUCKET, "arn"),
        "s3_folder_uris": [
            f"s3://{name}/{folder}" for folder, key in folders.items() if key in resources and name
        ],
        "training_data_uri": attr_of(resources, keys.CSV_OBJECT, "uri"),
        "sagemaker_role_arn": attr_of(resources, keys.SAGEMAKER_ROLE, "arn"),
        "sagemaker_role_name": attr_of(resources, keys.SAGEMAKER_ROLE, "name"),
    }
