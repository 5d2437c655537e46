"""`smprov permissions` proven on recorded paths (tests/iam/paths.py: the acceptance suite's
lifecycle on moto's server, the takeover after a lost state, the Terraform import from an S3
backend, lost answers, the edges only a colleague's change or AWS's refusal sets off): each AWS
call, refused or not, as the IAM requests AWS makes of it (tests/iam/calls.py), must be allowed
by the policy smprov printed for that stack, under the IAM evaluator; and every action and
statement of the policies must be used by some path.

The lifecycle is also the acceptance suite's emulator twin: the same code, the endpoint switched,
without the training job."""

from __future__ import annotations

import dataclasses
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from tests.iam.calls import Translator
from tests.iam.evaluator import Decision, Request, evaluate
from tests.iam.paths import ACCOUNT, PATHS, REGION, Proof
from tests.iam.recording import Recording
from tests.iam.sar import request

#: The paths share a worker: each runs once (`--dist loadgroup`, pyproject.toml).
pytestmark = pytest.mark.xdist_group("permissions")

#: Statements no smprov call uses, and why they are in the policy.
UNUSED_BY_DESIGN = {
    # CreateTrainingJob passes the role: the acceptance suite's training job, not smprov.
    "PassSageMakerRole",
}
#: Statements only `permissions --from-terraform` prints.
ADOPT = "Ec2AdoptTerraformResources"
TERRAFORM_ONLY = {ADOPT, "TerraformState", "TerraformStateKey"}


@dataclasses.dataclass
class Proven:
    proof: Proof

    @cached_property
    def requests(self) -> list[tuple[str, Request]]:
        """Every recorded call's requests, refused calls too (IAM decides before AWS refuses)."""
        translator = Translator(ACCOUNT, REGION, principal=f"arn:aws:iam::{ACCOUNT}:role/ci")
        return [(str(c), r) for c in self.proof.calls for r in translator.requests(c)]

    @property
    def policy(self) -> dict[str, Any]:
        return self.proof.policy


_RUN: dict[str, list[Proven]] = {}


def _proven(name: str, factory: pytest.TempPathFactory) -> list[Proven]:
    if name not in _RUN:
        _RUN[name] = [Proven(p) for p in PATHS[name](factory.mktemp(name))]
    return _RUN[name]


@pytest.fixture(scope="module", params=list(PATHS))
def path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[Proven]:
    return _proven(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def every_path(tmp_path_factory: pytest.TempPathFactory) -> list[Proven]:
    return [p for name in PATHS for p in _proven(name, tmp_path_factory)]


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory) -> Proven:
    return _proven("lifecycle", tmp_path_factory)[0]


def _one(name: str, factory: pytest.TempPathFactory, proof: str | None = None) -> Proven:
    return next(p for p in _proven(name, factory) if proof in (None, p.proof.name))


def _operations(proven: Proven) -> set[str]:
    return {str(c) for c in proven.proof.calls}


def test_the_lifecycle_runs_against_the_emulator(lifecycle: Proven) -> None:
    log = lifecycle.proof.notes["log"]
    assert log[0] == "smprov up --yes --json -> 0"
    assert "smprov plan --destroy --detailed-exitcode -> 0" in log
    assert len(lifecycle.proof.calls) > 500  # every step went to the emulator


def test_every_recorded_call_is_allowed_by_the_printed_policy(path: list[Proven]) -> None:
    for proven in path:
        denied = sorted(
            {
                f"{call} -> {req.action} on {[r.arn for r in req.resources]}"
                for call, req in proven.requests
                if evaluate(req, [proven.policy]) is not Decision.ALLOW
            }
        )
        assert denied == [], f"{proven.proof.name}:\n" + "\n".join(denied)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_every_action_and_statement_of_the_policy_is_used(every_path: list[Proven]) -> None:
    used_actions = {req.action.lower() for p in every_path for _, req in p.requests}
    unused_actions = sorted(
        {
            a
            for p in every_path
            for s in p.policy["Statement"]
            if s["Sid"] not in UNUSED_BY_DESIGN
            for a in _actions(s)
            if a.lower() not in used_actions
        }
    )
    assert unused_actions == [], unused_actions
    # A statement is used when, in some path's policy, it allows some resource of some request
    # of that path (IAM authorizes each resource of a request on its own).
    used: set[str] = set()
    every_sid: set[str] = set()
    for proven in every_path:
        single = [
            Request(req.action, (resource,), req.principal)
            for _, req in proven.requests
            for resource in req.resources
        ]
        for statement in proven.policy["Statement"]:
            every_sid.add(statement["Sid"])
            alone = {"Version": "2012-10-17", "Statement": [statement]}
            if statement["Sid"] not in used and any(
                evaluate(req, [alone]) is Decision.ALLOW for req in single
            ):
                used.add(statement["Sid"])
    assert sorted(every_sid - used) == sorted(UNUSED_BY_DESIGN)


def test_the_evaluation_can_fail(lifecycle: Proven) -> None:
    """Without the tag-on-create statement, every create that sends tags is denied."""
    policy = json.loads(json.dumps(lifecycle.policy))
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "Ec2TagOnCreate"]
    denied = {
        req.action for _, req in lifecycle.requests if evaluate(req, [policy]) is not Decision.ALLOW
    }
    assert denied == {"ec2:CreateTags"}


def _stamping(calls: list[Any], tag: str) -> set[str]:
    """The operations among ``calls`` that send ``tag``."""
    return {str(c) for c in calls if f'"{tag}"' in json.dumps(c.params, default=str)}


def test_the_takeover_restamps_every_kind_of_resource(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    takeover = _one("takeover", tmp_path_factory)
    assert "took over" in takeover.proof.notes["import"]
    assert _stamping(takeover.proof.notes["import_calls"], "smprov:lineage") == {
        "ec2.CreateTags",
        "iam.TagRole",
        "logs.TagResource",
        "rds.AddTagsToResource",
        "s3.PutBucketTagging",
    }
    assert {"s3.PutObject", "s3.DeleteObject"} <= _operations(takeover)  # push, unlock


def test_the_terraform_import_reads_its_backend_and_tags_what_terraform_made(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    importing = _one("terraform_import", tmp_path_factory, "terraform import")
    notes = importing.proof.notes
    read = [r for _, r in importing.requests if r.action in ("s3:GetObject", "kms:Decrypt")]
    backend_object = "arn:aws:s3:::" + notes["source"].removeprefix("s3://")
    assert [(r.action, r.resources[0].arn) for r in read] == [
        ("s3:GetObject", backend_object),
        ("kms:Decrypt", notes["kms_key"]),
    ] * 2  # by `permissions --from-terraform`, then by `import --from-terraform`
    assert _stamping(importing.proof.calls, "smprov:stack") == {
        "ec2.CreateTags",
        "iam.TagRole",
        "logs.TagResource",
        "rds.AddTagsToResource",
        "s3.PutBucketTagging",
    }
    # Terraform's EC2 resources carried no smprov tag: only the adoption statement allows them.
    statements = importing.policy["Statement"]
    without = {**importing.policy, "Statement": [s for s in statements if s["Sid"] != ADOPT]}
    denied = {
        r.action for _, r in importing.requests if evaluate(r, [without]) is not Decision.ALLOW
    }
    assert denied == {"ec2:CreateTags"}


def test_the_policy_after_the_import_is_the_same_without_the_import(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`permissions --from-terraform` printed the stack's policy (with the configuration the
    import then wrote) and what the import needs; nothing else."""
    importing, after = _proven("terraform_import", tmp_path_factory)
    kept = [s for s in importing.policy["Statement"] if s["Sid"] not in TERRAFORM_ONLY]
    assert kept == after.policy["Statement"]
    assert {s["Sid"] for s in importing.policy["Statement"]} - {
        s["Sid"] for s in kept
    } == TERRAFORM_ONLY


def _ec2_tagging(tags: dict[str, str], existing: dict[str, str]) -> Request:
    vpc = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0123456789abcdef0"
    keys: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    keys |= {f"aws:ResourceTag/{k}": v for k, v in existing.items()}
    return request("ec2:CreateTags", [("vpc", vpc, keys)], {"aws:RequestedRegion": REGION})


def test_the_import_may_tag_only_unowned_resources_and_read_only_its_state(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    importing = _one("terraform_import", tmp_path_factory, "terraform import")
    policy = [importing.policy]
    env = {"smprov:stack": "dev"}
    assert evaluate(_ec2_tagging(env, {"Name": "tf"}), policy) is Decision.ALLOW
    other = {"smprov:stack": "prod"}
    assert evaluate(_ec2_tagging(env, other), policy) is Decision.IMPLICIT_DENY  # another's
    assert evaluate(_ec2_tagging(other, {}), policy) is Decision.IMPLICIT_DENY  # for another
    assert evaluate(_ec2_tagging({"Name": "x"}, {}), policy) is Decision.IMPLICIT_DENY
    elsewhere = "arn:aws:s3:::tf-backend-sagemaker/other/terraform.tfstate"
    get = request("s3:GetObject", [("object", elsewhere)], {"aws:RequestedRegion": REGION})
    assert evaluate(get, policy) is Decision.IMPLICIT_DENY


def test_lost_answers_set_off_every_lookup(tmp_path_factory: pytest.TempPathFactory) -> None:
    lost = _one("lost_answers", tmp_path_factory)
    happened = {op for op, fate in lost.proof.notes["happened"] if fate.startswith("lost")}
    assert {"CreateVpc", "CreateSubnet", "CreateRole", "CreateDBSubnetGroup"} <= happened
    refused = {(str(c), c.error) for c in lost.proof.calls if c.error}
    assert ("iam.CreateRole", "EntityAlreadyExists") in refused


def test_every_name_keyed_create_left_untagged_is_adopted(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    adoption = _one("name_keyed", tmp_path_factory)
    assert sorted(adoption.proof.notes["adopted"]) == [
        "bucket",
        "db_subnet_group",
        "iam_role.flow_logs",
        "iam_role.sagemaker_execution",
        "log_group.flow_logs",
    ]


def test_the_edges_are_recorded(tmp_path_factory: pytest.TempPathFactory) -> None:
    edges = _one("edges", tmp_path_factory)
    assert {
        "ec2.UpdateSecurityGroupRuleDescriptionsIngress",
        "ec2.UpdateSecurityGroupRuleDescriptionsEgress",
        "iam.RemoveRoleFromInstanceProfile",
        "ec2.DescribeNetworkInterfaces",
        "s3.HeadObject",
    } <= _operations(edges)
    assert any("DependencyViolation" in message for message in edges.proof.notes["refused"])


def test_permissions_needs_no_aws_call_with_an_account(tmp_path: Path, cli: Any) -> None:
    result = cli("permissions", "--json", "--account", "210987654321")
    assert result.exit_code == 0, result.output
    policy = json.loads(result.stdout)
    roles = next(s for s in policy["Statement"] if s["Sid"] == "Roles")
    assert "arn:aws:iam::210987654321:role/dev_sagemaker_execution_role" in roles["Resource"]


def test_permissions_for_a_terraform_state_file_are_for_the_stack_it_describes(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The roles and the bucket as Terraform named them; the adoption statement; no S3 read
    for a file, and with --account no AWS call at all. Nothing is written."""
    from tests.migrate.seed import STATE_FILE

    recording = Recording()
    recording.attach_to_new_clients(monkeypatch)
    account = "210987654321"
    result = cli("permissions", "--account", account, "--from-terraform", str(STATE_FILE))
    assert result.exit_code == 0, result.output
    statements = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    role = f"arn:aws:iam::{account}:role/dev-sagemaker-execution-role"
    assert role in statements["Roles"]["Resource"]
    assert statements["TrainingBucket"]["Resource"] == "arn:aws:s3:::dev-sagemaker-a1b2c3d4"
    assert ADOPT in statements and "TerraformState" not in statements
    assert recording.calls == []
    assert not Path("smprov.toml").exists()


def test_permissions_for_a_terraform_state_refuse_what_the_import_refuses(cli: Any) -> None:
    result = cli("permissions", "--from-terraform", "nope.tfstate")
    assert result.exit_code == 2
    assert "nope.tfstate: no such file" in result.stderr


def test_a_bad_account_is_a_usage_error(cli: Any) -> None:
    result = cli("permissions", "--account", "12345")
    assert result.exit_code == 2
    assert "--account" in result.stderr


def test_readme_shows_the_default_stacks_policy() -> None:
    from provisioner.config import parse_config
    from provisioner.permissions import deployer_policy

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- permissions-policy -->")[1].split("<!-- /permissions-policy -->")[0]
    shown = json.loads(block.strip().removeprefix("```json").removesuffix("```"))
    default = parse_config({"region": "us-east-1"}, base_dir=Path.cwd(), source="test")
    assert shown == deployer_policy(default, "123456789012")
    # IAM quotas, whitespace excluded: too long for a managed policy, fits a role's inline one.
    assert 6_144 < len(json.dumps(shown, separators=(",", ":"))) < 10_240


KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VIA_S3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}


def _kms_policy(tmp_path: Path, key: str) -> dict[str, Any]:
    from provisioner.config import parse_config
    from provisioner.permissions import deployer_policy

    config = parse_config({"region": REGION, "kms_key_id": key}, base_dir=tmp_path, source="t")
    return deployer_policy(config, ACCOUNT)


def _kms(action: str, key: str = KEY, **context: Any) -> Request:
    return request(action, [("key", key)], {"aws:RequestedRegion": REGION, **context})


def test_a_key_arn_is_granted_by_arn(tmp_path: Path) -> None:
    policy = _kms_policy(tmp_path, KEY)
    for req in (
        _kms("kms:DescribeKey"),
        _kms("kms:GenerateDataKey", **VIA_S3),
        _kms("kms:Decrypt"),
    ):
        assert evaluate(req, [policy]) is Decision.ALLOW, req.action
    other = KEY.replace("1234abcd", "99999999")
    assert evaluate(_kms("kms:Decrypt", other), [policy]) is Decision.IMPLICIT_DENY


def test_an_unresolved_alias_is_held_to_the_alias_and_to_s3(tmp_path: Path) -> None:
    policy = _kms_policy(tmp_path, "alias/training")
    described = _kms("kms:DescribeKey", **{"kms:RequestAlias": "alias/training"})
    assert evaluate(described, [policy]) is Decision.ALLOW
    assert evaluate(_kms("kms:DescribeKey"), [policy]) is Decision.IMPLICIT_DENY
    assert evaluate(_kms("kms:GenerateDataKey", **VIA_S3), [policy]) is Decision.ALLOW
    assert evaluate(_kms("kms:GenerateDataKey"), [policy]) is Decision.IMPLICIT_DENY


def test_permissions_resolves_an_alias_when_it_can_ask_aws(tmp_path: Path, cli: Any) -> None:
    import boto3

    kms = boto3.client("kms", region_name=REGION)
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/training", TargetKeyId=arn)
    Path("smprov.toml").write_text('kms_key_id = "alias/training"\n')
    result = cli("permissions", "--json")
    assert result.exit_code == 0, result.output
    [grant] = [s for s in json.loads(result.stdout)["Statement"] if s["Sid"] == "BucketKey"]
    assert grant["Resource"] == arn


def test_a_kms_stack_is_allowed_every_call(harness: Any) -> None:
    """A stack with kms_key_id as an alias: the preflight's DescribeKey and what S3 asks of the
    key for smprov's object writes, under both forms of the printed policy (the key resolved
    through STS and KMS, or only the alias with --account)."""
    from provisioner.config import load_config
    from provisioner.permissions import deployer_policy

    kms = harness.clients("kms")
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/training", TargetKeyId=arn)
    harness.write_config('kms_key_id = "alias/training"\navailability_zones = 1\n')
    recording = Recording()
    recording.attach(harness.clients)
    harness.up()
    config = load_config(None, cwd=harness.workdir)
    resolved = dataclasses.replace(config, kms_key_id=arn)
    for policy in (deployer_policy(config, ACCOUNT), deployer_policy(resolved, ACCOUNT)):
        translator = Translator(ACCOUNT, REGION)
        requests = [r for c in recording.calls if c.error is None for r in translator.requests(c)]
        kms_requests = {r.action for r in requests if r.action.startswith("kms:")}
        assert kms_requests == {"kms:DescribeKey", "kms:GenerateDataKey"}
        denied = [r.action for r in requests if evaluate(r, [policy]) is not Decision.ALLOW]
        assert denied == []


def test_managed_policies_are_read_and_attached_only_as_configured(harness: Any) -> None:
    from provisioner.config import load_config
    from provisioner.permissions import deployer_policy

    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}  # fmt: skip
    arn = harness.clients("iam").create_policy(
        PolicyName="team-extra", PolicyDocument=json.dumps(document)
    )["Policy"]["Arn"]
    harness.write_config(f'managed_policy_arns = ["{arn}"]\navailability_zones = 1\n')
    recording = Recording()
    recording.attach(harness.clients)
    harness.up()
    policy = deployer_policy(load_config(None, cwd=harness.workdir), ACCOUNT)
    translator = Translator(ACCOUNT, REGION)
    requests = [r for c in recording.calls if c.error is None for r in translator.requests(c)]
    assert {"iam:GetPolicy", "iam:AttachRolePolicy"} <= {r.action for r in requests}
    assert [r.action for r in requests if evaluate(r, [policy]) is not Decision.ALLOW] == []
    role = f"arn:aws:iam::{ACCOUNT}:role/dev_sagemaker_execution_role"
    other = request(
        "iam:AttachRolePolicy",
        [("role", role)],
        {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    assert evaluate(other, [policy]) is Decision.IMPLICIT_DENY


def test_configured_role_names_are_the_ones_granted(tmp_path: Path) -> None:
    from provisioner.config import parse_config
    from provisioner.permissions import deployer_policy

    values = {"region": REGION, "sagemaker_role_name": "ml-exec", "flow_log_role_name": "fl-role"}
    policy = deployer_policy(parse_config(values, base_dir=tmp_path, source="t"), ACCOUNT)
    role = f"arn:aws:iam::{ACCOUNT}:role/"
    passed = request(
        "iam:PassRole",
        [("role", role + "fl-role")],
        {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"},
    )
    assert evaluate(passed, [policy]) is Decision.ALLOW
    for name, allowed in (("ml-exec", True), ("dev_sagemaker_execution_role", False)):
        decision = evaluate(request("iam:PutRolePolicy", [("role", role + name)]), [policy])
        assert (decision is Decision.ALLOW) is allowed, name
