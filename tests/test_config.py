"""Loading and validating smprov.toml: defaults, every rule's message, zone resolution."""

from __future__ import annotations

import dataclasses
import doctest
import os
from pathlib import Path

import pytest

from provisioner import config as config_module
from provisioner.config import (
    CONFIG_KEYS,
    DEFAULTS,
    SAMPLE_CSV,
    PublicAccessBlock,
    StackConfig,
    load_config,
    parse_config,
    resolve_availability_zones,
    validate_bucket_name,
)
from provisioner.errors import ConfigError

US_EAST_1 = [f"us-east-1{c}" for c in "abcdef"]
AP_NORTHEAST_1 = ["ap-northeast-1d", "ap-northeast-1a", "ap-northeast-1c"]  # AWS order; no "b"


@pytest.fixture(autouse=True)
def isolated_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Keep the developer's own AWS settings out of every test; returns the AWS config file."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    aws_config = tmp_path / "aws-config"
    aws_config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws_config))
    return aws_config


def parse(tmp_path: Path, **data: object) -> StackConfig:
    return parse_config({"region": "us-east-1", **data}, base_dir=tmp_path, source="test.toml")


def problems(tmp_path: Path, **data: object) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse(tmp_path, **data)
    return err.value.problems


def only_problem(tmp_path: Path, key: str, **data: object) -> str:
    """The single problem reported, checked to start with ``key``."""
    found = problems(tmp_path, **data)
    assert len(found) == 1, found
    assert found[0].startswith(f"{key}: "), found[0]
    return found[0]


def write_toml(directory: Path, text: str, name: str = "smprov.toml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


# --- files and defaults ------------------------------------------------------------------------


def test_no_file_means_every_default(tmp_path: Path) -> None:
    config = load_config(cwd=tmp_path)
    assert config.environment == "dev"
    assert config.region == "us-east-1"
    assert config.vpc_cidr == "10.0.0.0/16"
    assert config.availability_zones == 2
    assert config.vpc_redundancy is False
    assert config.map_public_ip_on_launch is False
    assert (config.public_subnets, config.private_subnets, config.database_subnets) == (None,) * 3
    assert config.tags == ()
    assert config.parallelism == 10
    assert config.flow_log_retention_days == 7
    assert config.flow_log_max_aggregation_interval == 60
    assert config.interface_endpoints == ("sagemaker.api", "sagemaker.runtime")
    assert config.bucket_name is None
    assert config.kms_key_id is None
    assert config.bucket_versioning is True
    assert config.public_access_block == PublicAccessBlock()
    assert config.public_access_fully_blocked
    assert config.folders == ("raw-data/", "processed-data/", "model-artifacts/")
    assert config.csv_source == SAMPLE_CSV
    assert config.managed_policy_arns == ()
    assert config.state_backend is None
    assert config.subnets is None


def test_config_keys_document_exactly_the_fields_and_their_defaults(tmp_path: Path) -> None:
    fields = [f.name for f in dataclasses.fields(StackConfig)]
    documented = [key.name for key in CONFIG_KEYS]
    assert fields[: len(documented)] == documented
    assert all(key.description and key.type for key in CONFIG_KEYS)
    config = parse(tmp_path)
    for key in CONFIG_KEYS:
        value = getattr(config, key.name)
        if key.name in ("region", "csv_source", "public_access_block", "tags"):
            continue  # resolved or converted; covered by test_no_file_means_every_default
        assert value == key.default, key.name
    assert dict(DEFAULTS["public_access_block"]) == dataclasses.asdict(PublicAccessBlock())  # type: ignore[call-overload]


def test_sample_data_set_ships_with_a_header_and_rows() -> None:
    lines = SAMPLE_CSV.read_text().splitlines()
    assert lines[0].split(",")[0] == "churned"
    assert 100 <= len(lines) - 1 <= 200
    assert {line.split(",")[0] for line in lines[1:]} == {"0", "1"}
    assert all(len(line.split(",")) == len(lines[0].split(",")) for line in lines)


def test_smprov_toml_in_cwd_is_used(tmp_path: Path) -> None:
    write_toml(tmp_path, 'environment = "prod"\nregion = "eu-west-1"\n')
    config = load_config(cwd=tmp_path)
    assert (config.environment, config.region) == ("prod", "eu-west-1")
    assert config.source == str(tmp_path / "smprov.toml")


def test_relative_paths_follow_the_config_file_not_the_cwd(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "train.csv").write_text("y,x\n1,2\n")
    write_toml(
        project,
        'region = "us-east-1"\ncsv_source = "data/train.csv"\nstate_backend = "state/dev.json"\n',
        name="stack.toml",
    )
    config = load_config(Path("project/stack.toml"), cwd=tmp_path)
    assert config.csv_source == (project / "data" / "train.csv").resolve()
    assert config.state_backend == str((project / "state" / "dev.json").resolve())


def test_missing_explicit_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.toml")
    assert err.value.problems == [f"{tmp_path / 'nope.toml'}: no such configuration file"]
    assert err.value.exit_code == 2


def test_toml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'environment = "dev"\nparallelism = = 3\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}: invalid TOML")
    assert "line 2, column" in problem


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "smprov.toml"
    path.write_bytes(b'environment = "\xff"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems == [f"{path}: not UTF-8 text (bad byte at offset 15)"]


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    (tmp_path / "smprov.toml").mkdir()
    with pytest.raises(ConfigError) as err:
        load_config(cwd=tmp_path)
    assert "is a directory" in err.value.problems[0]


# --- general rules -----------------------------------------------------------------------------


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    assert problems(tmp_path, vpc_cidrs="10.0.0.0/16") == [
        "unknown key 'vpc_cidrs' (did you mean 'vpc_cidr'?)"
    ]


def test_unknown_key_without_close_match(tmp_path: Path) -> None:
    assert problems(tmp_path, zzz=1) == ["unknown key 'zzz'"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("parallelism", True, "parallelism: expected an integer, got boolean true"),
        ("parallelism", 2.0, "parallelism: expected an integer, got float 2.0"),
        ("bucket_versioning", 1, "bucket_versioning: expected a boolean (true or false), got "),
        ("environment", ["dev"], "environment: expected a string, got an array"),
        ("interface_endpoints", "s3", "interface_endpoints: expected an array of strings, got "),
        ("folders", ["a", 3], "folders: expected an array of strings (item 2 is integer 3)"),
        ("tags", "x=y", "tags: expected a table of strings, got string 'x=y'"),
        ("availability_zones", False, "availability_zones: expected an integer or an array of"),
        ("public_subnets", "10.0.0.0/24", "public_subnets: expected an array of CIDR strings"),
    ],
)
def test_wrong_types_name_key_expected_type_and_given_value(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    assert only_problem(tmp_path, key, **{key: value}).startswith(message)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        environment="Prod",
        typo_key=1,
        parallelism=0,
        bucket_name="ab",
        folders=[],
        vpc_cidr="10.0.0.0/8",
    )
    assert [p.split(":")[0] for p in found] == [
        "unknown key 'typo_key'",
        "environment",
        "parallelism",
        "bucket_name",
        "folders",
        "vpc_cidr",
    ]


def test_config_error_message_lists_problems_and_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse(tmp_path, parallelism=100)
    assert "parallelism: 100 is not allowed; use 1 to 64" in str(err.value)
    assert err.value.hint == "fix test.toml and run again"


def test_config_is_immutable(tmp_path: Path) -> None:
    config = parse(tmp_path, tags={"team": "ml"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.environment = "prod"  # type: ignore[misc]
    assert isinstance(config.folders, tuple)
    assert isinstance(config.tags, tuple)


# --- individual keys ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "dev", "ml-team-1", "x" * 20, "0abc"])
def test_environment_accepts(tmp_path: Path, name: str) -> None:
    assert parse(tmp_path, environment=name).environment == name


@pytest.mark.parametrize("name", ["", "Dev", "-dev", "dev-", "x" * 21, "dev_1", "dev.1"])
def test_environment_rejects(tmp_path: Path, name: str) -> None:
    assert "lower-case letters" in only_problem(tmp_path, "environment", environment=name)


def test_region_explicit_must_look_like_a_region(tmp_path: Path) -> None:
    message = only_problem(tmp_path, "region", region="US-EAST-1")
    assert message == "region: 'US-EAST-1' is not an AWS region name like us-east-1"


def test_region_from_aws_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")  # AWS_REGION wins, as in the AWS CLI
    assert parse_config({}, base_dir=tmp_path, source="t").region == "eu-central-1"


def test_region_from_aws_default_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    assert parse_config({}, base_dir=tmp_path, source="t").region == "ap-southeast-2"


def test_region_from_aws_config_profile(tmp_path: Path, isolated_aws_config: Path) -> None:
    isolated_aws_config.write_text("[default]\nregion = sa-east-1\n")
    assert parse_config({}, base_dir=tmp_path, source="t").region == "sa-east-1"


def test_region_falls_back_to_us_east_1(tmp_path: Path) -> None:
    assert parse_config({}, base_dir=tmp_path, source="t").region == "us-east-1"


def test_region_in_file_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert parse(tmp_path, region="us-west-2").region == "us-west-2"


def test_bad_region_from_environment_says_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "mars")
    with pytest.raises(ConfigError) as err:
        parse_config({}, base_dir=tmp_path, source="t")
    assert err.value.problems == [
        "region: 'mars' (from AWS_REGION) is not an AWS region name like us-east-1"
    ]


def test_unknown_profile_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(ConfigError) as err:
        parse_config({}, base_dir=tmp_path, source="t")
    assert err.value.problems[0].startswith("region: not set, and the AWS configuration cannot")
    assert "no-such-profile" in err.value.problems[0]


@pytest.mark.parametrize(
    ("cidr", "fragment"),
    [
        ("10.0.0.0/8", "is /8; AWS allows /16 to /28"),
        ("10.0.0.5/16", "has host bits set (did you mean 10.0.0.0/16?)"),
        ("10.0.0.0", "is not an IPv4 CIDR block"),
        ("224.0.0.0/16", "not usable unicast"),
    ],
)
def test_vpc_cidr_rules(tmp_path: Path, cidr: str, fragment: str) -> None:
    assert fragment in only_problem(tmp_path, "vpc_cidr", vpc_cidr=cidr)


@pytest.mark.parametrize(
    ("zones", "fragment"),
    [
        (0, "0 is not allowed; use 1 to 6"),
        (7, "7 is not allowed; use 1 to 6"),
        ([], "give 1 to 6 zone names, not 0"),
        (["us-east-1a", "us-east-1a"], "'us-east-1a' listed more than once"),
        (["us-east-1"], "'us-east-1' is not an availability zone name like us-east-1a"),
        (["us-west-2a"], "'us-west-2a' is not in region us-east-1"),
    ],
)
def test_availability_zone_rules(tmp_path: Path, zones: object, fragment: str) -> None:
    assert fragment in only_problem(tmp_path, "availability_zones", availability_zones=zones)


def test_availability_zones_list_is_kept_in_order(tmp_path: Path) -> None:
    config = parse(tmp_path, availability_zones=["us-east-1c", "us-east-1a"])
    assert config.availability_zones == ("us-east-1c", "us-east-1a")
    assert config.zone_count == 2


def test_explicit_subnets_are_checked_at_load(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        availability_zones=3,
        public_subnets=["10.0.240.0/24", "10.0.241.0/24", "10.0.242.0/24"],
        private_subnets=["10.0.0.0/20", "10.0.16.0/20"],
        database_subnets=["10.0.240.0/25", "10.1.0.0/24", "10.0.244.1/24"],
    )
    assert found == [
        "private_subnets: 2 given but there are 3 availability zones "
        "(give one subnet per zone, in zone order)",
        "database_subnets: 10.1.0.0/24 is outside vpc_cidr 10.0.0.0/16",
        "database_subnets: '10.0.244.1/24' has host bits set (did you mean 10.0.244.0/24?)",
        "database_subnets: 10.0.240.0/25 overlaps public_subnets 10.0.240.0/24",
    ]


def test_explicit_subnet_count_follows_zone_list(tmp_path: Path) -> None:
    message = only_problem(
        tmp_path,
        "public_subnets",
        availability_zones=["us-east-1a"],
        public_subnets=["10.0.250.0/24", "10.0.251.0/24"],
    )
    assert "2 given but there are 1 availability zones" in message


def test_one_explicit_tier_is_enough(tmp_path: Path) -> None:
    config = parse(tmp_path, public_subnets=["10.0.250.0/24", "10.0.251.0/24"])
    resolved = config.resolve(US_EAST_1)
    assert resolved.subnets is not None
    assert resolved.subnets.public == (
        ("us-east-1a", "10.0.250.0/24"),
        ("us-east-1b", "10.0.251.0/24"),
    )
    assert resolved.subnets.private == (
        ("us-east-1a", "10.0.0.0/20"),
        ("us-east-1b", "10.0.16.0/20"),
    )


def test_tags_are_sorted_pairs(tmp_path: Path) -> None:
    config = parse(tmp_path, tags={"team": "ml", "cost-center": "42", "owner": "a@b.c"})
    assert config.tags == (("cost-center", "42"), ("owner", "a@b.c"), ("team", "ml"))
    assert config.tags_dict() == {"team": "ml", "cost-center": "42", "owner": "a@b.c"}


@pytest.mark.parametrize(
    ("tags", "fragment"),
    [
        ({"aws:team": "x"}, "key 'aws:team' uses a reserved prefix"),
        ({"AWS:team": "x"}, "key 'AWS:team' uses a reserved prefix"),
        ({"smprov:stack": "x"}, "key 'smprov:stack' uses a reserved prefix"),
        ({"Name": "x"}, "key 'Name' is set by smprov itself"),
        ({"": "x"}, "must be 1 to 128 characters long"),
        ({"k" * 129: "x"}, "must be 1 to 128 characters long"),
        ({"team": "v" * 257}, "value of 'team' must be at most 256 characters long"),
        ({"team": 3}, "value of 'team' must be a string, got integer 3"),
        ({"team#1": "x"}, "key 'team#1' may hold only letters, digits, spaces"),
        ({f"k{i}": "v" for i in range(47)}, "47 tags given; at most 46"),
    ],
)
def test_tag_rules(tmp_path: Path, tags: dict[str, object], fragment: str) -> None:
    assert fragment in only_problem(tmp_path, "tags", tags=tags)


def test_each_bad_tag_is_reported(tmp_path: Path) -> None:
    found = problems(tmp_path, tags={"aws:a": "x", "Name": "y", "ok": "z"})
    assert len(found) == 2
    assert all(p.startswith("tags: ") for p in found)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("parallelism", 0, "0 is not allowed; use 1 to 64"),
        ("parallelism", 65, "65 is not allowed; use 1 to 64"),
        ("flow_log_retention_days", 8, "8 is not allowed; use one of CloudWatch Logs' periods"),
        ("flow_log_max_aggregation_interval", 30, "30 is not allowed; use 60 or 600"),
    ],
)
def test_integer_ranges(tmp_path: Path, key: str, value: int, fragment: str) -> None:
    assert fragment in only_problem(tmp_path, key, **{key: value})


def test_integer_boundaries_accepted(tmp_path: Path) -> None:
    config = parse(
        tmp_path,
        parallelism=64,
        flow_log_retention_days=3653,
        flow_log_max_aggregation_interval=600,
    )
    assert (config.parallelism, config.flow_log_retention_days) == (64, 3653)


@pytest.mark.parametrize(
    ("endpoints", "fragment"),
    [
        (["com.amazonaws.us-east-1.sagemaker.api"], "give the short name"),
        (["sagemaker.api", "sagemaker.api"], "'sagemaker.api' listed more than once"),
        (["SageMaker.api"], "'SageMaker.api' is not a service name like sagemaker.api"),
        (["ecr.api."], "is not a service name"),
    ],
)
def test_interface_endpoint_rules(tmp_path: Path, endpoints: list[str], fragment: str) -> None:
    assert fragment in only_problem(tmp_path, "interface_endpoints", interface_endpoints=endpoints)


def test_interface_endpoints_may_be_empty(tmp_path: Path) -> None:
    assert parse(tmp_path, interface_endpoints=[]).interface_endpoints == ()


@pytest.mark.parametrize(
    "name", ["abc", "my-training-data", "my.training.data", "a" * 63, "1bucket"]
)
def test_bucket_names_accepted(name: str) -> None:
    assert validate_bucket_name(name) == []


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("ab", "must be 3 to 63 characters long (it has 2)"),
        ("a" * 64, "must be 3 to 63 characters long (it has 64)"),
        ("My_Bucket", "only lower-case letters, digits, dots and hyphens (not 'B', 'M', '_')"),
        ("-bucket", "must begin and end with a lower-case letter or digit"),
        ("bucket.", "must begin and end with a lower-case letter or digit"),
        ("my..bucket", "must not contain two adjacent dots"),
        ("192.168.5.4", "must not be formatted as an IP address"),
        ("xn--bucket", "must not start with 'xn--'"),
        ("sthree-bucket", "must not start with 'sthree-'"),
        ("amzn-s3-demo-bucket", "must not start with 'amzn-s3-demo-'"),
        ("bucket-s3alias", "must not end with '-s3alias'"),
        ("bucket--ol-s3", "must not end with '--ol-s3'"),
        ("bucket.mrap", "must not end with '.mrap'"),
        ("bucket--x-s3", "must not end with '--x-s3'"),
        ("bucket--table-s3", "must not end with '--table-s3'"),
    ],
)
def test_bucket_name_rules(tmp_path: Path, name: str, fragment: str) -> None:
    assert any(fragment in p for p in validate_bucket_name(name))
    found = problems(tmp_path, bucket_name=name)
    assert all(p.startswith(f"bucket_name: {name!r} ") for p in found)
    assert any(fragment in p for p in found)


@pytest.mark.parametrize(
    "key",
    [
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "mrk-1234abcd12ab34cd56ef1234567890ab",
        "alias/ml-data",
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
        "arn:aws:kms:us-east-1:111122223333:alias/ml-data",
    ],
)
def test_kms_key_forms_accepted(tmp_path: Path, key: str) -> None:
    assert parse(tmp_path, kms_key_id=key).kms_key_id == key


@pytest.mark.parametrize(
    "key", ["my-key", "alias/", "arn:aws:kms:us-east-1:1111:key/abc", "key/1234abcd", "mrk-12"]
)
def test_kms_key_forms_rejected(tmp_path: Path, key: str) -> None:
    assert "is not a KMS key id" in only_problem(tmp_path, "kms_key_id", kms_key_id=key)


def test_kms_key_must_be_in_the_bucket_region(tmp_path: Path) -> None:
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    message = only_problem(tmp_path, "kms_key_id", kms_key_id=key)
    assert "the key is in eu-west-1 but the bucket is in us-east-1" in message


def test_public_access_block_partial_override(tmp_path: Path) -> None:
    config = parse(tmp_path, public_access_block={"block_public_policy": False})
    assert config.public_access_block == PublicAccessBlock(block_public_policy=False)
    assert not config.public_access_fully_blocked


def test_public_access_block_unknown_and_wrong_type(tmp_path: Path) -> None:
    found = problems(
        tmp_path, public_access_block={"block_public_acl": True, "ignore_public_acls": "yes"}
    )
    assert found == [
        "public_access_block: unknown key 'block_public_acl' (did you mean 'block_public_acls'?)",
        "public_access_block: ignore_public_acls: expected a boolean (true or false), "
        "got string 'yes'",
    ]


def test_folders_get_one_trailing_slash(tmp_path: Path) -> None:
    config = parse(tmp_path, folders=["raw", "deep/er/", "it's(1)"])
    assert config.folders == ("raw/", "deep/er/", "it's(1)/")


@pytest.mark.parametrize(
    ("folders", "fragment"),
    [
        ([], "give at least one folder"),
        (["raw", "raw/"], "'raw/' listed more than once"),
        (["/abs"], "'/abs' is not a relative S3 prefix"),
        (["a//b"], "'a//b' is not a relative S3 prefix"),
        (["raw//"], "'raw//' is not a relative S3 prefix"),
        (["a/../b"], "'a/../b' is not a relative S3 prefix"),
        (["with space"], "'with space' is not a relative S3 prefix"),
    ],
)
def test_folder_rules(tmp_path: Path, folders: list[str], fragment: str) -> None:
    assert fragment in only_problem(tmp_path, "folders", folders=folders)


def test_csv_source_missing(tmp_path: Path) -> None:
    message = only_problem(tmp_path, "csv_source", csv_source="absent.csv")
    assert message == f"csv_source: {tmp_path / 'absent.csv'} does not exist"


def test_csv_source_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    message = only_problem(tmp_path, "csv_source", csv_source="data")
    assert message == f"csv_source: {tmp_path / 'data'} is not a regular file"


def test_csv_source_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "secret.csv"
    path.write_text("y\n1\n")
    path.chmod(0)
    try:
        with path.open("rb"):
            privileged = True  # root: permissions do not stop reads
    except PermissionError:
        privileged = False
    if privileged:
        # The same user error, reachable as root: the file's directory does not exist.
        message = only_problem(tmp_path, "csv_source", csv_source="no-dir/secret.csv")
        assert str(tmp_path / "no-dir" / "secret.csv") in message
    else:
        message = only_problem(tmp_path, "csv_source", csv_source="secret.csv")
        assert message == f"csv_source: {path} cannot be read (Permission denied)"


def test_csv_source_is_resolved_absolute(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("y\n1\n")
    config = parse(tmp_path, csv_source="./train.csv")
    assert config.csv_source == tmp_path.resolve() / "train.csv"
    assert config.csv_source.is_absolute()


@pytest.mark.parametrize(
    ("arns", "fragment"),
    [
        (["arn:aws:iam::aws:policy/Bad Name"], "is not an IAM managed policy ARN"),
        (["arn:aws:iam::12345:policy/x"], "is not an IAM managed policy ARN"),
        (["arn:aws:iam::aws:role/x"], "is not an IAM managed policy ARN"),
        (["arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/A"], "listed more than once"),
        ([f"arn:aws:iam::aws:policy/P{i}" for i in range(11)], "11 given; IAM attaches at most 10"),
    ],
)
def test_managed_policy_rules(tmp_path: Path, arns: list[str], fragment: str) -> None:
    assert fragment in only_problem(tmp_path, "managed_policy_arns", managed_policy_arns=arns)


def test_managed_policies_accepted(tmp_path: Path) -> None:
    arns = [
        "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess",
        "arn:aws-us-gov:iam::111122223333:policy/team/ml-read+write",
    ]
    assert parse(tmp_path, managed_policy_arns=arns).managed_policy_arns == tuple(arns)


def test_state_backend_s3(tmp_path: Path) -> None:
    url = "s3://team-state/smprov/dev.json"
    assert parse(tmp_path, state_backend=url).state_backend == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("s3://Bad_Bucket/key", "bucket 'Bad_Bucket' may hold only lower-case"),
        ("s3://team-state", "has no object key"),
        ("s3://team-state/", "has no object key"),
        ("gs://team-state/key", "use a local path or s3://bucket/key"),
        ("", "is not a usable path"),
    ],
)
def test_state_backend_rules(tmp_path: Path, url: str, fragment: str) -> None:
    assert fragment in only_problem(tmp_path, "state_backend", state_backend=url)


# --- zones and the resolved configuration ------------------------------------------------------


def test_count_picks_the_first_zones_by_name(tmp_path: Path) -> None:
    config = parse(tmp_path, availability_zones=3)
    shuffled = ["us-east-1d", "us-east-1b", "us-east-1a", "us-east-1c"]
    assert resolve_availability_zones(config, shuffled) == (
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
    )


def test_count_larger_than_the_region(tmp_path: Path) -> None:
    config = parse(tmp_path, availability_zones=6)
    with pytest.raises(ConfigError) as err:
        resolve_availability_zones(config, US_EAST_1[:4])
    assert err.value.problems == [
        "availability_zones: 6 requested but us-east-1 has 4 "
        "(us-east-1a, us-east-1b, us-east-1c, us-east-1d)"
    ]


def test_unknown_zone_name(tmp_path: Path) -> None:
    config = parse(tmp_path, availability_zones=["us-east-1a", "us-east-1z"])
    with pytest.raises(ConfigError) as err:
        resolve_availability_zones(config, US_EAST_1)
    assert err.value.problems == [
        "availability_zones: 'us-east-1z' is not an availability zone of us-east-1 "
        "(us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1e, us-east-1f)"
    ]


def test_region_without_a_b_zone(tmp_path: Path) -> None:
    config = parse(tmp_path, region="ap-northeast-1", availability_zones=2)
    assert resolve_availability_zones(config, AP_NORTHEAST_1) == (
        "ap-northeast-1a",
        "ap-northeast-1c",
    )
    named = parse(tmp_path, region="ap-northeast-1", availability_zones=["ap-northeast-1b"])
    with pytest.raises(ConfigError) as err:
        resolve_availability_zones(named, AP_NORTHEAST_1)
    assert "'ap-northeast-1b' is not an availability zone of ap-northeast-1" in str(err.value)


def test_resolved_config_carries_zones_and_subnets(tmp_path: Path) -> None:
    config = parse(tmp_path, region="ap-northeast-1", availability_zones=3)
    resolved = config.resolve(AP_NORTHEAST_1)
    assert resolved.zones == ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d")
    assert resolved.subnets is not None
    assert resolved.subnets.cidr("private", "ap-northeast-1d") == "10.0.32.0/20"
    assert resolved.subnets.cidr("public", "ap-northeast-1c") == "10.0.136.0/21"
    assert resolved == dataclasses.replace(config, zones=resolved.zones, subnets=resolved.subnets)
    assert config.subnets is None  # the original is untouched


def test_with_zones_rejects_zones_that_do_not_fit(tmp_path: Path) -> None:
    config = parse(tmp_path, availability_zones=["us-east-1a", "us-east-1b"])
    with pytest.raises(ConfigError) as err:
        config.with_zones(["us-east-1a", "us-east-1c"])
    assert err.value.problems[0].startswith("availability_zones: configured")
    with pytest.raises(ConfigError):
        config.with_zones(["us-east-1a"])


def test_cwd_argument_overrides_the_process_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_toml(tmp_path, 'region = "us-east-1"\nenvironment = "here"\n')
    monkeypatch.chdir(elsewhere)
    assert load_config(cwd=tmp_path).environment == "here"
    assert load_config().environment == "dev"
    assert os.getcwd() == str(elsewhere)


def test_module_examples_hold() -> None:
    result = doctest.testmod(config_module)
    assert result.attempted >= 2
    assert result.failed == 0


def test_role_names_and_upload_csv_are_validated(tmp_path: Path) -> None:
    config = parse(tmp_path, sagemaker_role_name="team-sm-role", upload_csv=False)
    assert config.sagemaker_role_name == "team-sm-role" and config.upload_csv is False
    assert config.flow_log_role_name is None
    found = problems(tmp_path, flow_log_role_name="no spaces", sagemaker_role_name="x" * 65)
    assert sorted(p.split(":")[0] for p in found) == [
        "flow_log_role_name",
        "sagemaker_role_name",
    ]
    csv = tmp_path / "data.csv"
    csv.write_text("a\n")
    assert problems(tmp_path, csv_source=str(csv), upload_csv=False) == [
        "csv_source: given, but upload_csv = false uploads no CSV"
    ]


def test_an_unknown_region_is_refused_offline_with_a_suggestion(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "region", region="eu-wset-1")
    assert "'eu-wset-1' is not a region the installed botocore knows" in problem
    assert "did you mean 'eu-west-1'?" in problem


def test_a_region_newer_than_botocore_is_accepted_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMPROV_SKIP_REGION_VALIDATION", "1")
    assert parse(tmp_path, region="ap-future-9").region == "ap-future-9"


def test_every_partition_s_regions_are_known() -> None:
    from provisioner.config import known_regions

    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= known_regions()
    assert not any(region.endswith("-global") for region in known_regions())
