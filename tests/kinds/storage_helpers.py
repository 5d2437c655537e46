"""Shared pieces of the storage tests: a kind-level Ctx, bucket specs, and hooks that stand in
for AWS where moto differs (bucket policy evaluation, ExpectedBucketOwner)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from provisioner.aws.clients import Clients
from provisioner.aws.retry import FAST
from provisioner.engine.contract import Ctx

ACCOUNT = "123456789012"
#: S3 operations that take no ExpectedBucketOwner (no bucket yet, or account-wide).
NO_OWNER_OPERATIONS = frozenset({"CreateBucket", "ListBuckets"})


def make_ctx(clients: Clients, *, region: str = "us-east-1", **flags: Any) -> Ctx:
    return Ctx(
        clients=clients,
        stack="dev",
        region=region,
        account=ACCOUNT,
        parallelism=1,
        timing=FAST,
        **flags,
    )


def bucket_spec(name: str = "dev-sagemaker-abcd1234", **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "region": "us-east-1",
        "encryption": {"sse_algorithm": "AES256", "kms_key_id": None, "bucket_key_enabled": False},
        "versioning": True,
        "public_access_block": {
            "block_public_acls": True,
            "ignore_public_acls": True,
            "block_public_policy": True,
            "restrict_public_buckets": True,
        },
        "object_ownership": "ObjectWriter",
        "tags": {"Name": name, "smprov:stack": "dev", "smprov:key": "bucket"},
    }
    spec.update(overrides)
    return spec


def _response(status: int) -> AWSResponse:
    return AWSResponse("https://s3.amazonaws.com/", status, {}, None)


@dataclass
class PolicyBesideMoto:
    """Keeps bucket policies out of moto, which evaluates a policy's Conditions wrongly on
    object calls (moto-notes §6: the deny-without-TLS statement makes every object call 403,
    while on AWS it lets TLS requests through). Object calls then behave as they do on AWS;
    Put/Get/DeleteBucketPolicy still go through the real client code and return AWS's shapes."""

    policies: dict[str, str] = field(default_factory=dict)

    def install(self, clients: Clients) -> None:
        clients.add_hook("before-call.s3.PutBucketPolicy", self.put)
        clients.add_hook("before-call.s3.GetBucketPolicy", self.get)
        clients.add_hook("before-call.s3.DeleteBucketPolicy", self.delete)

    @staticmethod
    def _bucket(params: dict[str, Any]) -> str:
        return str(params["url_path"]).strip("/").split("/")[0].split("?")[0]

    def put(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = params["body"]
        self.policies[self._bucket(params)] = body.decode() if isinstance(body, bytes) else body
        return _response(204), {}

    def get(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        policy = self.policies.get(self._bucket(params))
        if policy is None:
            error = {"Code": "NoSuchBucketPolicy", "Message": "The bucket policy does not exist"}
            return _response(404), {"Error": error}
        return _response(200), {"Policy": policy}

    def delete(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        self.policies.pop(self._bucket(params), None)
        return _response(204), {}

    def document(self, bucket: str) -> dict[str, Any]:
        return json.loads(self.policies[bucket])


@dataclass
class OwnerHeaderCheck:
    """Records S3 operations sent without ``x-amz-expected-bucket-owner: <account>`` (moto
    ignores the header, AWS enforces it: the only way to test it offline is to look at it)."""

    sent: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def install(self, clients: Clients) -> None:
        clients.add_hook("before-call.s3.*", self.check)

    def check(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.sent.append(model.name)
        if model.name in NO_OWNER_OPERATIONS:
            return
        headers = {k.lower(): v for k, v in params.get("headers", {}).items()}
        if headers.get("x-amz-expected-bucket-owner") != ACCOUNT:
            self.missing.append(model.name)
