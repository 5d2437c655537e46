"""The kms_key_id preflight: an alias or key id becomes the key's ARN before the bucket and the
role's policy use it; a key S3 cannot use stops the run before any change (exit 2)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provisioner import keys
from provisioner.blueprint.sagemaker_role import INLINE_POLICY
from provisioner.errors import ConfigError
from tests.harness import Harness


def _key(harness: Harness, **params: Any) -> str:
    return harness.clients("kms").create_key(**params)["KeyMetadata"]["Arn"]


def _problems(harness: Harness, kms_key_id: str) -> list[str]:
    harness.write_config(f'kms_key_id = "{kms_key_id}"\n')
    harness.log.clear()  # the key's own set-up calls
    with pytest.raises(ConfigError) as caught:
        harness.open()
    assert caught.value.exit_code == 2
    assert harness.log.mutating == []
    return caught.value.problems


@pytest.mark.parametrize("form", ["alias", "alias_arn", "key_id", "key_arn"])
def test_every_form_of_the_key_is_resolved_to_its_arn(harness: Harness, form: str) -> None:
    arn = _key(harness)
    harness.clients("kms").create_alias(AliasName="alias/training", TargetKeyId=arn)
    given = {
        "alias": "alias/training",
        "alias_arn": arn.split(":key/")[0] + ":alias/training",
        "key_id": arn.rsplit("/", 1)[1],
        "key_arn": arn,
    }[form]
    harness.write_config(f'kms_key_id = "{given}"\n')
    harness.up()
    bucket = harness.state().resources[keys.BUCKET].id
    rules = harness.clients("s3").get_bucket_encryption(Bucket=bucket)
    default = rules["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert default["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == arn
    role = harness.state().resources[keys.SAGEMAKER_ROLE].attrs["name"]
    policy = harness.clients("iam").get_role_policy(RoleName=role, PolicyName=INLINE_POLICY)
    document = policy["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    [grant] = [s for s in document["Statement"] if s.get("Sid") == "BucketKmsKey"]
    assert grant["Resource"] == arn
    assert "Condition" not in grant


def test_an_unknown_key_is_a_configuration_error(harness: Harness) -> None:
    [problem] = _problems(harness, "alias/nope")
    assert problem.startswith("kms_key_id: 'alias/nope' is not a KMS key in us-east-1")


def test_a_disabled_key_is_a_configuration_error(harness: Harness) -> None:
    arn = _key(harness)
    harness.clients("kms").disable_key(KeyId=arn.rsplit("/", 1)[1])
    assert _problems(harness, arn) == [
        f"kms_key_id: {arn!r} is Disabled: S3 can only encrypt with an enabled key"
    ]


def test_a_key_pending_deletion_is_a_configuration_error(harness: Harness) -> None:
    arn = _key(harness)
    harness.clients("kms").schedule_key_deletion(KeyId=arn.rsplit("/", 1)[1], PendingWindowInDays=7)
    [problem] = _problems(harness, arn)
    assert "is PendingDeletion" in problem


def test_an_asymmetric_key_is_a_configuration_error(harness: Harness) -> None:
    arn = _key(harness, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    [problem] = _problems(harness, arn)
    assert "S3 encrypts only with symmetric encryption keys" in problem


def test_no_kms_key_costs_no_call(harness: Harness) -> None:
    harness.open()
    assert not [call for call in harness.log.calls if call[0] == "kms"]
