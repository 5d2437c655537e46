"""The managed-policy preflight: every `managed_policy_arns` entry exists before anything is
made (a typo used to fail the role's attachment after 38 resources were created)."""

from __future__ import annotations

import pytest

from provisioner.errors import ConfigError
from tests.harness import Harness


def _customer_policy(harness: Harness, name: str) -> str:
    document = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}'  # noqa: E501
    answer = harness.clients("iam").create_policy(PolicyName=name, PolicyDocument=document)
    return answer["Policy"]["Arn"]


def test_a_policy_that_does_not_exist_is_a_config_error_before_any_change(
    harness: Harness,
) -> None:
    real = _customer_policy(harness, "team-data")
    harness.log.clear()
    harness.write_config(
        f'managed_policy_arns = ["{real}", "arn:aws:iam::aws:policy/NoSuchPolicyAtAll"]\n'
    )
    with pytest.raises(ConfigError) as caught:
        harness.up()
    assert caught.value.exit_code == 2
    assert caught.value.problems == [
        "managed_policy_arns: arn:aws:iam::aws:policy/NoSuchPolicyAtAll does not exist"
    ]
    assert harness.log.mutating == []
    assert harness.log.count("GetPolicy") == 2  # one per ARN, sent together


def test_existing_policies_pass_and_are_attached(harness: Harness) -> None:
    real = _customer_policy(harness, "team-data")
    harness.write_config(f'managed_policy_arns = ["{real}"]\n')
    _plan, _report, state = harness.up()
    role = state.resources["iam_role.sagemaker_execution"]
    assert role.attrs["managed_policy_arns"] == [real]


def test_no_managed_policies_no_call(harness: Harness) -> None:
    harness.open()
    assert harness.log.count("GetPolicy") == 0
