"""The evaluator against the rules of the IAM User Guide it implements (each case cites its
page: "evaluation logic" = reference_policies_evaluation-logic, "operators" =
reference_policies_elements_condition_operators, "multivalued" =
reference_policies_condition-single-vs-multi-valued-context-keys)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam.evaluator import Decision, Request, Resource, Unsupported, evaluate
from tests.iam.sar import request

ALLOW, DENY, NONE = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY
BUCKET = "arn:aws:s3:::data"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**element: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Resource": "*", **element}


def req(action: str = "s3:GetObject", arn: str = f"{BUCKET}/a", **context: Any) -> Request:
    return Request(action, (Resource(arn, context),))


def test_nothing_allows_by_default() -> None:  # evaluation logic: implicit deny
    assert evaluate(req(), []) is NONE


def test_an_explicit_deny_beats_any_allow() -> None:  # evaluation logic
    both = policy(allow(Action="s3:*"), {"Effect": "Deny", "Action": "s3:Get*", "Resource": "*"})
    assert evaluate(req(), [both]) is DENY
    assert evaluate(req("s3:PutObject"), [both]) is ALLOW


@pytest.mark.parametrize(
    ("element", "action", "expected"),
    [
        ({"Action": "S3:getobject"}, "s3:GetObject", ALLOW),  # action names ignore case
        ({"Action": "s3:Get?bject"}, "s3:GetObject", ALLOW),
        ({"Action": ["s3:Put*", "s3:List*"]}, "s3:GetObject", NONE),
        ({"NotAction": "s3:Put*"}, "s3:GetObject", ALLOW),
        ({"NotAction": "s3:Get*"}, "s3:GetObject", NONE),
    ],
)
def test_action_and_not_action(element: dict[str, Any], action: str, expected: Decision) -> None:
    statement = {"Effect": "Allow", "Resource": "*", **element}
    assert evaluate(req(action), [policy(statement)]) is expected


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ({"Resource": f"{BUCKET}/*"}, ALLOW),
        ({"Resource": "arn:aws:s3:::DATA/*"}, NONE),  # resources are case-sensitive
        ({"Resource": BUCKET}, NONE),
        ({"NotResource": "arn:aws:s3:::other/*"}, ALLOW),
        ({"NotResource": f"{BUCKET}/*"}, NONE),
    ],
)
def test_resource_and_not_resource(element: dict[str, Any], expected: Decision) -> None:
    assert evaluate(req(), [policy({"Effect": "Allow", "Action": "*", **element})]) is expected


def test_every_resource_of_a_request_must_be_allowed() -> None:  # evaluation logic
    two = Request("s3:CopyObject", (Resource(f"{BUCKET}/a"), Resource("arn:aws:s3:::other/b")))
    assert evaluate(two, [policy(allow(Action="*", Resource=f"{BUCKET}/*"))]) is NONE


def test_arn_wildcards_stay_inside_their_part() -> None:  # operators: ARN condition operators
    p = policy(allow(Action="*", Condition={"ArnLike": {"aws:SourceArn": "arn:aws:ec2:*:1:vpc/*"}}))
    assert evaluate(req(**{"aws:SourceArn": "arn:aws:ec2:us-east-1:1:vpc/v"}), [p]) is ALLOW
    assert evaluate(req(**{"aws:SourceArn": "arn:aws:ec2:us-east-1:12:vpc/v"}), [p]) is NONE


@pytest.mark.parametrize(
    ("operator", "wanted", "context", "expected"),
    [
        ("StringEquals", "a", {"k": "a"}, ALLOW),
        ("StringEquals", ["x", "a"], {"k": "a"}, ALLOW),  # values of one key are ORed
        ("StringEquals", "A", {"k": "a"}, NONE),
        ("StringEqualsIgnoreCase", "A", {"k": "a"}, ALLOW),
        ("StringLike", "a*", {"k": "abc"}, ALLOW),
        ("StringNotEquals", "a", {"k": "b"}, ALLOW),
        ("StringNotEquals", "a", {}, ALLOW),  # a negated operator holds for a missing key
        ("StringEquals", "a", {}, NONE),  # a positive one does not
        ("StringEqualsIfExists", "a", {}, ALLOW),
        ("StringEqualsIfExists", "a", {"k": "b"}, NONE),
        ("StringNotLike", "a*", {"k": "abc"}, NONE),
        ("Bool", "true", {"k": "true"}, ALLOW),
        ("Bool", "false", {"k": "true"}, NONE),
        ("Null", "true", {}, ALLOW),
        ("Null", "false", {}, NONE),
        ("ArnEquals", "arn:aws:iam::1:role/*", {"k": "arn:aws:iam::1:role/r"}, ALLOW),
        ("ArnNotLike", "arn:aws:iam::1:role/*", {"k": "arn:aws:iam::1:role/r"}, NONE),
    ],
)
def test_condition_operators(
    operator: str, wanted: Any, context: dict[str, str], expected: Decision
) -> None:
    p = policy(allow(Action="*", Condition={operator: {"k": wanted}}))
    assert evaluate(req(**context), [p]) is expected


def test_keys_and_operators_are_anded() -> None:
    condition = {"StringEquals": {"a": "1", "b": "2"}, "Bool": {"c": "true"}}
    p = policy(allow(Action="*", Condition=condition))
    assert evaluate(req(a="1", b="2", c="true"), [p]) is ALLOW
    assert evaluate(req(a="1", b="2", c="false"), [p]) is NONE
    assert evaluate(req(a="1", c="true"), [p]) is NONE


@pytest.mark.parametrize(
    ("operator", "context", "expected"),
    [
        ("ForAnyValue:StringEquals", {"k": ["x", "a"]}, ALLOW),
        ("ForAnyValue:StringEquals", {"k": ["x"]}, NONE),
        ("ForAnyValue:StringEquals", {}, NONE),  # multivalued: any over nothing is false
        ("ForAllValues:StringEquals", {"k": ["a", "b"]}, ALLOW),
        ("ForAllValues:StringEquals", {"k": ["a", "x"]}, NONE),
        ("ForAllValues:StringEquals", {}, ALLOW),  # multivalued: all over nothing is true
        ("ForAllValues:StringNotEquals", {"k": ["x", "y"]}, ALLOW),
        ("ForAllValues:StringNotEquals", {"k": ["x", "a"]}, NONE),
    ],
)
def test_set_operators(operator: str, context: dict[str, Any], expected: Decision) -> None:
    p = policy(allow(Action="*", Condition={operator: {"k": ["a", "b"]}}))
    assert evaluate(req(**context), [p]) is expected


def test_condition_key_names_ignore_case() -> None:  # operators: key names are not case-sensitive
    p = policy(allow(Action="*", Condition={"StringEquals": {"AWS:RequestedRegion": "eu-west-1"}}))
    assert evaluate(req(**{"aws:requestedregion": "eu-west-1"}), [p]) is ALLOW


def test_resource_policy_principals() -> None:  # evaluation logic: same-account resource policy
    role = "arn:aws:iam::123456789012:role/trainer"
    grant = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"}
    by_role = policy({**grant, "Principal": {"AWS": role}})
    session = Request(
        "s3:GetObject",
        (Resource(f"{BUCKET}/a"),),
        "arn:aws:sts::123456789012:assumed-role/trainer/job",
    )
    assert evaluate(session, [], by_role) is ALLOW
    other = Request("s3:GetObject", (Resource(f"{BUCKET}/a"),), "arn:aws:iam::123456789012:user/u")
    assert evaluate(other, [], by_role) is NONE
    everyone_denied = policy({**grant, "Effect": "Deny", "Principal": "*"})
    assert evaluate(other, [policy(allow(Action="*"))], everyone_denied) is DENY
    service = Request("sts:AssumeRole", (Resource(role),), "sagemaker.amazonaws.com")
    trust = policy(
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
        }
    )
    assert evaluate(service, [], trust) is ALLOW


@pytest.mark.parametrize(
    "statement",
    [
        allow(Action="*", Condition={"NumericLessThan": {"k": "1"}}),
        allow(Action="*", Resource="arn:aws:s3:::${aws:username}/*"),
        allow(Action="*", Condition={"StringEquals": {"k": "a"}}),  # with k multivalued
    ],
)
def test_what_is_not_modelled_raises(statement: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        evaluate(req(k=["a", "b"]), [policy(statement)])


def test_sar_requests_keep_only_the_keys_iam_has_for_each_resource() -> None:
    vpc = "arn:aws:ec2:us-east-1:1:vpc/vpc-1"
    built = request(
        "ec2:CreateNetworkInterface",
        [
            (
                "network-interface",
                "arn:aws:ec2:us-east-1:123456789012:network-interface/*",
                {"ec2:Vpc": vpc},
            ),
            ("subnet", "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1", {"ec2:Vpc": vpc}),
        ],
        {"aws:RequestedRegion": "us-east-1", "ec2:Region": "us-east-1", "s3:prefix": "x"},
    )
    eni, subnet = built.resources
    # SAR: a new interface has no ec2:Vpc; the row without a resource type adds ec2:Region.
    assert dict(eni.context) == {"aws:RequestedRegion": "us-east-1", "ec2:Region": "us-east-1"}
    assert subnet.context["ec2:Vpc"] == vpc


@pytest.mark.parametrize(
    ("action", "resources", "problem"),
    [
        ("ec2:CreateNetworkInterface", [], "required resource types"),
        ("ec2:DescribeVpcs", [("vpc", "arn:aws:ec2:us-east-1:1:vpc/v")], "no resource type"),
        ("s3:GetObject", [("role", "arn:aws:iam::1:role/r")], "names no resource type"),
        ("s3:ListBucket", [("bucket", "arn:aws:iam::1:role/r")], "is not a s3 bucket ARN"),
        ("s3:GetThing", [], "no such action"),
    ],
)
def test_sar_requests_refuse_what_iam_would_not_see(
    action: str, resources: list[Any], problem: str
) -> None:
    with pytest.raises((ValueError, KeyError), match=problem):
        request(action, resources)
