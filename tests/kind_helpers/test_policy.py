"""Policy documents: every form AWS returns parses; only a change of meaning is unequal."""

from __future__ import annotations

import json
import urllib.parse

from provisioner.kind_helpers.policy import normalize_policy, parse_policy, policy_size, same_policy

DOC = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:x/*"},
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "arn:x",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ],
}


def test_parse_accepts_dict_json_and_url_encoded_json() -> None:
    text = json.dumps(DOC)
    assert parse_policy(DOC) == DOC
    assert parse_policy(text) == DOC
    assert parse_policy(urllib.parse.quote(text)) == DOC
    assert parse_policy(None) is None


def test_order_and_scalar_forms_do_not_matter() -> None:
    shuffled = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:*"],
                "Resource": ["arn:x"],
                "Condition": {"Bool": {"aws:SecureTransport": False}},
            },
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": ["arn:x/*"],
            },
        ],
    }
    assert same_policy(shuffled, DOC)
    single = {"Version": "2012-10-17", "Statement": DOC["Statement"][0]}
    assert normalize_policy(single) == normalize_policy(
        {"Version": "2012-10-17", "Statement": [DOC["Statement"][0]]}
    )


def test_a_change_of_meaning_is_a_difference() -> None:
    wider = json.loads(json.dumps(DOC))
    wider["Statement"][0]["Action"].append("s3:DeleteObject")
    assert not same_policy(wider, DOC)
    assert not same_policy(None, DOC)
    assert not same_policy("{not json", DOC)


def test_size_ignores_whitespace() -> None:
    compact = policy_size(DOC)
    assert compact == len(json.dumps(DOC, separators=(",", ":")))
    assert compact < len(json.dumps(DOC, indent=4))
