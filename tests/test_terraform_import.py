"""`smprov import --from-terraform`: the seed stack, built in moto as Terraform recorded it, is
adopted in place; the plan names every deliberate difference and replaces or deletes nothing;
`up` applies them and the network keeps its IDs. Bad input changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from provisioner import keys
from provisioner.aws.clients import is_read_operation
from provisioner.engine.model import Action
from provisioner.errors import SmprovError, UsageError
from provisioner.migrate import differences
from provisioner.terraform_import import import_from_terraform
from tests.harness import Harness
from tests.migrate.build import CSV, Seeded, build, substituted
from tests.migrate.seed import (
    drop,
    load_show,
    load_state,
    per_zone_nat,
    with_resource,
    write,
)

A, B = "us-east-1a", "us-east-1b"
NETWORK_KINDS = {
    "vpc",
    "subnet",
    "internet_gateway",
    "nat_gateway",
    "eip",
    "route_table",
    "route",
    "route_table_association",
    "vpc_endpoint",
    "dhcp_options",
}


@pytest.fixture
def seeded(harness: Harness) -> Seeded:
    return Seeded(harness, load_state())


def assert_nothing_changed(harness: Harness) -> None:
    assert harness.log.mutating == []
    assert not (harness.workdir / "smprov.toml").exists()
    assert not (harness.workdir / "state" / "dev.json").exists()
    assert not (harness.workdir / "smprov-handoff.tf").exists()


def test_the_seed_is_adopted_and_the_plan_names_each_deliberate_difference(
    seeded: Seeded,
) -> None:
    harness = seeded.harness
    result = seeded.run()
    assert result.config_written
    assert len(result.stack_map.adopted) == 38
    state = harness.state()
    assert state is not None
    assert state.data[differences.IMPORT_MARK] == "terraform"
    assert state.resources["vpc"].id == seeded.tf_id("module.vpc.aws_vpc.this[0]")
    assert set(state.resources) == set(result.stack_map.adopted)

    plan = harness.plan()
    assert differences.unexplained(plan) == []
    assert not [s for s in plan.changes if s.action in (Action.REPLACE, Action.DELETE)]
    reasons = {s.key: s.reason for s in plan.changes}
    assert all(r.startswith(differences.PREFIX) for r in reasons.values())
    named = {
        keys.BUCKET: "all public access blocked",
        keys.BUCKET_POLICY: "TLS-only bucket policy",
        keys.SAGEMAKER_ROLE: "least-privilege policy",
        keys.FLOW_LOG_ROLE: "customer-managed flow-log policy becomes an inline policy",
        keys.ENDPOINT_SECURITY_GROUP: "own security group (TCP 443 from the VPC)",
        keys.vpc_endpoint("sagemaker.api"): "own security group (TCP 443 from the VPC)",
        keys.TRAINING_SECURITY_GROUP: "the training security group",
        keys.vpc_endpoint("s3"): "tags",
    }
    for key, words in named.items():
        assert words in reasons[key], key
    assert "confused-deputy" in reasons[keys.SAGEMAKER_ROLE]
    assert "confused-deputy" in reasons[keys.FLOW_LOG_ROLE]
    # The network keeps every resource as it is: tags of the endpoints aside, nothing changes.
    network = {s.key for s in plan.changes if s.kind in NETWORK_KINDS}
    assert network == {
        keys.vpc_endpoint("s3"),
        keys.vpc_endpoint("sagemaker.api"),
        keys.vpc_endpoint("sagemaker.runtime"),
    }


def test_up_applies_the_differences_and_the_network_keeps_its_ids(seeded: Seeded) -> None:
    harness = seeded.harness
    seeded.run()
    before = {k: r.id for k, r in harness.state().resources.items()}  # type: ignore[union-attr]
    _plan, _report, after = harness.up()
    for key, rid in before.items():
        assert after.resources[key].id == rid, key
    assert after.resources["vpc"].id == seeded.tf_id("module.vpc.aws_vpc.this[0]")
    assert after.resources[keys.subnet("private", B)].id == seeded.tf_id(
        "module.vpc.aws_subnet.private[1]"
    )
    assert harness.plan().is_empty
    s3 = harness.clients("s3")
    pab = s3.get_public_access_block(Bucket="dev-sagemaker-a1b2c3d4")
    assert all(pab["PublicAccessBlockConfiguration"].values())
    iam = harness.clients("iam")
    role = "vpc-flow-log-role-20261206114912995400000001"
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["deliver-to-cloudwatch-logs"]


def test_the_config_reproduces_the_terraform_inputs(seeded: Seeded) -> None:
    seeded.run()
    config = tomllib.loads((seeded.harness.workdir / "smprov.toml").read_text())
    assert config == {
        "environment": "dev",
        "region": "us-east-1",
        "vpc_cidr": "10.0.0.0/16",
        "availability_zones": [A, B],
        "public_subnets": ["10.0.0.0/24", "10.0.1.0/24"],
        "private_subnets": ["10.0.10.0/24", "10.0.11.0/24"],
        "database_subnets": ["10.0.20.0/24", "10.0.21.0/24"],
        "vpc_redundancy": False,
        "map_public_ip_on_launch": False,
        "flow_log_retention_days": 7,
        "flow_log_max_aggregation_interval": 60,
        "flow_log_role_name": "vpc-flow-log-role-20261206114912995400000001",
        "interface_endpoints": ["sagemaker.api", "sagemaker.runtime"],
        "bucket_name": "dev-sagemaker-a1b2c3d4",
        "bucket_versioning": False,
        "folders": ["raw-data/", "model-artifacts/", "processed-data/"],
        "csv_source": "../terraform/data/training_data.csv",
        "sagemaker_role_name": "dev-sagemaker-execution-role",
        "managed_policy_arns": [],
        "tags": {"Environment": "dev", "ManagedBy": "terraform", "Project": "sagemaker-training"},
    }


def test_a_second_import_finds_the_file_reproduces_the_state_and_keeps_it(seeded: Seeded) -> None:
    """Run again (say, after an interruption): the written smprov.toml is checked, not
    rewritten, and the state is the same."""
    seeded.run()
    text = (seeded.harness.workdir / "smprov.toml").read_text()
    first = seeded.harness.state()
    result = seeded.run()
    assert not result.config_written
    assert result.tagged == []
    assert (seeded.harness.workdir / "smprov.toml").read_text() == text
    assert {k: r.id for k, r in seeded.harness.state().resources.items()} == {  # type: ignore[union-attr]
        k: r.id
        for k, r in first.resources.items()  # type: ignore[union-attr]
    }


def test_show_json_is_imported_the_same_way(seeded: Seeded) -> None:
    show = write(substituted(load_show(), seeded.ids), seeded.tf_dir / "show.json")
    result = seeded.run(str(show))
    assert len(result.stack_map.adopted) == 38
    assert differences.unexplained(seeded.harness.plan()) == []


def test_an_s3_backend_state_is_read_with_the_stacks_clients(seeded: Seeded) -> None:
    s3 = seeded.harness.clients("s3")
    s3.create_bucket(Bucket="tf-backend")
    s3.put_object(
        Bucket="tf-backend", Key="sagemaker/terraform.tfstate", Body=seeded.state_file.read_bytes()
    )
    result = seeded.run("s3://tf-backend/sagemaker/terraform.tfstate")
    assert result.stack_map.state.source == "s3://tf-backend/sagemaker/terraform.tfstate"
    # No Terraform directory at hand: the CSV stays in the bucket, untracked.
    config = tomllib.loads((seeded.harness.workdir / "smprov.toml").read_text())
    assert config["upload_csv"] is False
    with pytest.raises(UsageError, match="no such object"):
        seeded.run("s3://tf-backend/nope.tfstate")


def test_without_the_csv_at_hand_the_object_is_kept_untracked(harness: Harness) -> None:
    seeded = Seeded(harness, load_state(), csv=False)
    result = seeded.run()
    assert [k.resource.address for k in result.stack_map.kept] == ["aws_s3_object.training_data"]
    config = tomllib.loads((harness.workdir / "smprov.toml").read_text())
    assert config["upload_csv"] is False and "csv_source" not in config
    assert keys.CSV_OBJECT not in harness.state().resources  # type: ignore[union-attr]
    _plan, _report, _state = harness.up()
    # (A listing: the TLS-only policy `up` put in place denies plain-HTTP object reads.)
    listed = harness.clients("s3").list_objects_v2(Bucket="dev-sagemaker-a1b2c3d4")["Contents"]
    kept = {o["Key"]: o["ETag"].strip('"') for o in listed}
    assert kept["raw-data/training_data.csv"] == hashlib.md5(CSV).hexdigest()
    assert "aws_s3_object.training_data" in result.handoff.removed


def test_one_nat_gateway_per_zone_is_adopted_as_vpc_redundancy(harness: Harness) -> None:
    seeded = Seeded(harness, per_zone_nat(load_state()))
    result = seeded.run()
    assert len(result.stack_map.adopted) == 42
    config = tomllib.loads((harness.workdir / "smprov.toml").read_text())
    assert config["vpc_redundancy"] is True
    plan = harness.plan()
    assert differences.unexplained(plan) == []
    _plan, _report, after = harness.up()
    for zone, index in ((A, 0), (B, 1)):
        assert after.resources[keys.nat_gateway(zone)].id == seeded.tf_id(
            f"module.vpc.aws_nat_gateway.this[{index}]"
        )
    assert harness.plan().is_empty


def test_resources_not_of_the_stack_are_listed_and_left_alone(harness: Harness) -> None:
    doc = with_resource(load_state(), "", "aws_instance", "bastion", {"id": "i-0123456789abcdef0"})
    seeded = Seeded(harness, doc)
    result = seeded.run()
    assert [a.resource.address for a in result.stack_map.left_alone] == ["aws_instance.bastion"]
    assert "aws_instance.bastion" not in result.handoff.state_rm
    assert "#   aws_instance.bastion" in result.handoff_path.read_text()


# -- bad input: a clear message, exit 1 or 2, nothing changed ---------------------------------


def test_an_unknown_state_version_is_refused_before_any_aws_call(
    harness: Harness, tmp_path: Path
) -> None:
    doc = load_state()
    doc["version"] = 3
    path = write(doc, tmp_path / "old.tfstate")
    with pytest.raises(UsageError) as caught:
        import_from_terraform(harness.options(), str(path))
    assert caught.value.exit_code == 2
    assert harness.log.calls == []
    assert_nothing_changed(harness)


def test_a_half_finished_apply_is_refused(harness: Harness) -> None:
    seeded = Seeded(harness, load_state())
    partial = drop(seeded.doc, "module.vpc.aws_route.private_nat_gateway[0]")
    write(partial, seeded.state_file)
    harness.log.clear()
    with pytest.raises(UsageError, match="private_nat_gateway\\[0\\] is missing"):
        seeded.run()
    assert harness.log.calls == []
    assert_nothing_changed(harness)


def test_another_account_is_refused(seeded: Seeded) -> None:
    text = seeded.state_file.read_text().replace("123456789012", "210987654321")
    seeded.state_file.write_text(text)
    seeded.harness.log.clear()
    with pytest.raises(SmprovError) as caught:
        seeded.run()
    assert caught.value.exit_code == 1
    assert "belongs to AWS account 210987654321" in caught.value.message
    assert_nothing_changed(seeded.harness)


def test_another_region_is_refused(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    seeded.harness.log.clear()
    with pytest.raises(UsageError) as caught:
        seeded.run()
    assert "is for region us-east-1, but smprov is set to use eu-west-1" in caught.value.message
    assert_nothing_changed(seeded.harness)


def test_resources_gone_from_aws_are_listed_and_nothing_changes(seeded: Seeded) -> None:
    ec2 = seeded.harness.clients("ec2")
    nat = seeded.tf_id("module.vpc.aws_nat_gateway.this[0]")
    route_table = seeded.tf_id("module.vpc.aws_route_table.private[0]")
    ec2.delete_route(RouteTableId=route_table, DestinationCidrBlock="0.0.0.0/0")
    ec2.delete_nat_gateway(NatGatewayId=nat)
    seeded.harness.log.clear()
    with pytest.raises(SmprovError) as caught:
        seeded.run()
    assert caught.value.exit_code == 1
    lines = caught.value.message.splitlines()
    assert lines[0] == "resources in the Terraform state no longer exist in AWS:"
    assert f"  - module.vpc.aws_nat_gateway.this[0] ({nat})" in lines
    assert f"  - module.vpc.aws_route.private_nat_gateway[0] ({route_table}_0.0.0.0/0)" in lines
    assert_nothing_changed(seeded.harness)


def test_a_stack_already_managed_by_smprov_is_refused(seeded: Seeded, tmp_path: Path) -> None:
    """The same environment made by smprov elsewhere (another checkout, no state here)."""
    other = Harness(tmp_path / "other")
    other.workdir.mkdir()
    other.clients = seeded.harness.clients
    other.write_config('availability_zones = 1\nvpc_cidr = "10.9.0.0/16"\n')
    other.up()
    seeded.harness.log.clear()
    with pytest.raises(SmprovError) as caught:
        seeded.run()
    assert caught.value.exit_code == 1
    assert "stack dev already exists in account 123456789012" in caught.value.message
    assert_nothing_changed(seeded.harness)


def test_a_state_of_that_stack_is_refused(seeded: Seeded) -> None:
    seeded.harness.write_config(
        'environment = "dev"\navailability_zones = 1\nvpc_cidr = "10.9.0.0/16"\n'
    )
    seeded.harness.up()
    (seeded.harness.workdir / "smprov.toml").unlink()
    mutating = len(seeded.harness.log.mutating)
    with pytest.raises(SmprovError, match="stack dev is already managed by smprov"):
        seeded.run()
    assert len(seeded.harness.log.mutating) == mutating


def test_resources_tagged_by_another_smprov_stack_are_refused(seeded: Seeded) -> None:
    vpc = seeded.tf_id("module.vpc.aws_vpc.this[0]")
    subnet = seeded.tf_id("module.vpc.aws_subnet.public[0]")
    seeded.harness.clients("ec2").create_tags(
        Resources=[subnet],
        Tags=[{"Key": "smprov:stack", "Value": "prod"}, {"Key": "smprov:key", "Value": "x"}],
    )
    seeded.harness.log.clear()
    with pytest.raises(SmprovError) as caught:
        seeded.run()
    assert f"module.vpc.aws_subnet.public[0] ({subnet}) is already tagged as smprov stack prod" in (
        caught.value.message
    )
    assert vpc not in caught.value.message
    assert_nothing_changed(seeded.harness)


def test_an_existing_config_that_differs_is_listed_and_nothing_changes(seeded: Seeded) -> None:
    seeded.harness.write_config('vpc_cidr = "10.1.0.0/16"\nbucket_versioning = true\n')
    seeded.harness.log.clear()
    with pytest.raises(UsageError) as caught:
        seeded.run()
    assert caught.value.exit_code == 2
    assert "does not reproduce the Terraform stack; nothing was changed" in caught.value.message
    problems = [line.removeprefix("  - ") for line in caught.value.message.splitlines()[1:]]
    assert "vpc_cidr: smprov.toml gives 10.1.0.0/16, Terraform has 10.0.0.0/16" in problems
    assert "bucket_versioning: smprov.toml gives True, Terraform has False" in problems
    assert any(
        p.startswith("sagemaker_role_name: smprov.toml gives dev_sagemaker") for p in problems
    )
    assert any(p.startswith("public_subnets:") for p in problems)
    assert seeded.harness.log.mutating == []
    assert seeded.harness.state() is None


def test_an_existing_config_that_matches_is_used_as_it_is(seeded: Seeded) -> None:
    """The team wrote smprov.toml by hand (no comments, zones by count, its own parallelism):
    it reproduces the stack, so the import uses it and leaves it as it is."""
    text = (
        'environment = "dev"\nregion = "us-east-1"\nvpc_cidr = "10.0.0.0/16"\n'
        "availability_zones = 2\nparallelism = 4\n"
        'public_subnets = ["10.0.0.0/24", "10.0.1.0/24"]\n'
        'private_subnets = ["10.0.10.0/24", "10.0.11.0/24"]\n'
        'database_subnets = ["10.0.20.0/24", "10.0.21.0/24"]\n'
        'flow_log_role_name = "vpc-flow-log-role-20261206114912995400000001"\n'
        'bucket_name = "dev-sagemaker-a1b2c3d4"\nbucket_versioning = false\n'
        'folders = ["raw-data/", "processed-data/", "model-artifacts/"]\n'
        'csv_source = "../terraform/data/training_data.csv"\n'
        'sagemaker_role_name = "dev-sagemaker-execution-role"\n'
        '[tags]\nEnvironment = "dev"\nManagedBy = "terraform"\nProject = "sagemaker-training"\n'
    )
    seeded.harness.write_config(text)
    result = seeded.run()
    assert not result.config_written
    assert (seeded.harness.workdir / "smprov.toml").read_text() == text
    assert differences.unexplained(seeded.harness.plan()) == []


def test_a_second_import_after_the_state_is_lost_is_refused(seeded: Seeded) -> None:
    """Once imported, the stack is smprov's: a checkout without its state cannot import the
    Terraform stack again (`smprov import` is the takeover for a lost state)."""
    seeded.run()
    (seeded.harness.workdir / "state" / "dev.json").unlink()
    seeded.harness.log.clear()
    with pytest.raises(SmprovError) as caught:
        seeded.run()
    assert "another smprov state's" in caught.value.message
    assert seeded.harness.log.mutating == []


def test_the_default_security_group_locked_down_is_named_when_it_had_rules(seeded: Seeded) -> None:
    group = seeded.tf_id("module.vpc.aws_default_security_group.this[0]")
    seeded.harness.clients("ec2").authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group}]}],
    )
    seeded.run()
    step = seeded.harness.plan().step_by_key[keys.DEFAULT_SECURITY_GROUP]
    assert "the default security group locked down (no rules)" in step.reason


def test_a_file_that_is_not_a_state_fails_with_no_aws_call(
    harness: Harness, tmp_path: Path
) -> None:
    bad = tmp_path / "x.tfstate"
    bad.write_text("terraform")
    with pytest.raises(UsageError, match="not a Terraform state"):
        import_from_terraform(harness.options(), str(bad))
    assert harness.log.calls == []


# -- the command ---------------------------------------------------------------------------------


def test_the_three_commands_import_plan_up(cli: Any, tmp_path: Path) -> None:
    """As the README says: import, plan (names the differences), up; then nothing to do."""
    from provisioner.aws.clients import Clients

    ids = build(Clients("us-east-1", max_attempts=1), load_state(), CSV)
    tf_dir = tmp_path / "terraform"
    (tf_dir / "data").mkdir(parents=True)
    (tf_dir / "data" / "training_data.csv").write_bytes(CSV)
    state_file = write(substituted(load_state(), ids), tf_dir / "terraform.tfstate")

    result = cli("import", "--from-terraform", str(state_file))
    assert result.exit_code == 0, result.output
    assert "removed {\n  from = module.vpc\n" in result.stdout
    assert "imported 38 resources of the Terraform stack" in result.output
    assert Path("smprov-handoff.tf").read_text() == result.stdout
    assert Path("smprov.toml").exists() and Path("state/dev.json").exists()

    result = cli("plan", "--detailed-exitcode")
    assert result.exit_code == 3, result.output
    assert "deliberate difference from the Terraform setup: all public access blocked" in (
        result.output
    )
    assert "0 to replace, 0 to delete" in result.output
    assert cli("up", "--yes").exit_code == 0
    assert cli("plan", "--detailed-exitcode").exit_code == 0
    outputs = json.loads(cli("output", "--json").stdout)
    assert outputs["vpc_id"] == ids["vpc-ede2e3ec73c2f1fe1"]
    assert outputs["sagemaker_role_name"] == "dev-sagemaker-execution-role"


def test_the_command_speaks_json(cli: Any, tmp_path: Path) -> None:
    from provisioner.aws.clients import Clients

    ids = build(Clients("us-east-1", max_attempts=1), load_state(), CSV)
    state_file = write(substituted(load_state(), ids), tmp_path / "terraform.tfstate")
    result = cli("import", "--from-terraform", str(state_file), "--json", "--handoff", "tf.tf")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["adopted"]["vpc"] == "module.vpc.aws_vpc.this[0]"
    assert document["kept"][0]["address"] == "aws_s3_object.training_data"
    assert "module.vpc" in document["handoff"]["removed"]
    assert "terraform state rm 'module.vpc'" in document["handoff"]["state_rm"]
    assert document["handoff"]["file"].endswith("tf.tf") and Path("tf.tf").exists()


def test_the_command_reports_bad_input_with_exit_2_and_json(cli: Any, tmp_path: Path) -> None:
    doc = load_state()
    doc["version"] = 5
    path = write(doc, tmp_path / "future.tfstate")
    result = cli("import", "--from-terraform", str(path))
    assert result.exit_code == 2
    assert "Terraform state format version 5 is not one smprov reads" in " ".join(
        result.output.split()
    )
    assert "Traceback" not in result.output
    result = cli("import", "--from-terraform", str(path), "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["ok"] is False
    assert cli("import", "--handoff", "x.tf").exit_code == 2


def test_a_state_whose_stack_is_gone_is_refused_naming_what_is_missing(
    cli: Any, tmp_path: Path
) -> None:
    """The seed's state as it is (its ids name a server that no longer exists), imported into
    an empty account: a refusal listing the missing resources, not a failure to read them."""
    result = cli("import", "--from-terraform", str(write(load_state(), tmp_path / "tf.tfstate")))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "inside the endpoint" not in result.output
    assert "resources in the Terraform state no longer exist in AWS:" in result.output
    assert "module.vpc.aws_default_network_acl.this[0]" in result.output
    assert not Path("state").exists() and not Path("smprov.toml").exists()


def test_smprov_never_runs_terraform(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole migration (permissions, import, plan, up, down) with a `terraform` on PATH that
    would leave a mark, and every child process smprov could start recorded: none is started."""
    import subprocess

    marker = tmp_path / "terraform-ran"
    fake = tmp_path / "bin" / "terraform"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ.get('PATH', '')}")
    started: list[Any] = []
    real_init = subprocess.Popen.__init__

    def recording(self: Any, args: Any, *rest: Any, **options: Any) -> None:
        started.append(args)
        real_init(self, args, *rest, **options)

    monkeypatch.setattr(subprocess.Popen, "__init__", recording)
    monkeypatch.setattr(os, "system", lambda command: started.append(command) or 1)

    from provisioner.aws.clients import Clients

    ids = build(Clients("us-east-1", max_attempts=1), load_state(), CSV)
    state_file = write(substituted(load_state(), ids), tmp_path / "terraform.tfstate")
    for args in (
        ("permissions", "--from-terraform", str(state_file), "--account", "123456789012"),
        ("import", "--from-terraform", str(state_file)),
        ("plan",),
        ("up", "--yes"),
        ("down", "--yes", "--delete-data", "--delete-logs"),
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.output)
    assert started == [] and not marker.exists()


def test_a_slow_import_shows_progress(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import reads some 75 times before it writes: a slow endpoint shows itself on stderr
    (after 2 s; shortened here), as plan and up do."""
    import time

    from provisioner import operations, render

    monkeypatch.setattr(render.Waiting, "after", 0.05)
    real = operations._make_clients

    def slow(options: Any, config: Any) -> Any:
        clients = real(options, config)
        clients.add_hook("before-call.sts.GetCallerIdentity", lambda **_: time.sleep(0.5))
        return clients

    monkeypatch.setattr(operations, "_make_clients", slow)
    result = cli("import", "--from-terraform", str(write(load_state(), tmp_path / "tf.tfstate")))
    assert result.exit_code == 1, result.output  # the seed's stack is not in this account
    assert "reading the stack from AWS ..." in result.output


@pytest.mark.parametrize("after", [1, 24])
def test_an_import_killed_while_tagging_is_finished_by_the_next(seeded: Seeded, after: int) -> None:
    """The process dies after the Nth of its 25 tagging calls (Ctrl-C, a lost connection): some
    resources carry the new lineage, the rest none. The import run again finishes it (the
    state, written before the first tag, makes that lineage this state's)."""

    class Killed(Exception):
        pass

    tagging: list[str] = []

    def die(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if "Tag" in operation and not is_read_operation(operation) and "done" not in tagging:
            tagging.append(event_name)
            if len(tagging) == after:
                tagging.append("done")
                raise Killed

    seeded.harness.clients.add_hook("after-call.*.*", die)
    with pytest.raises((Killed, SmprovError)):  # parallel taggers report it as their failure
        seeded.run()
    assert len(tagging) == after + 1

    result = seeded.run()
    state = seeded.harness.state()
    assert state is not None and len(state.resources) == 38
    assert len(result.tagged) <= 25 - after  # the rest were tagged by the first run
    plan = seeded.harness.plan()
    assert not [s for s in plan.changes if s.action in (Action.REPLACE, Action.DELETE)]
