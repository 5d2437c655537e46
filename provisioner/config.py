"""Load and validate ``smprov.toml`` into an immutable :class:`StackConfig`.

Every key is optional, so ``smprov up`` works with no file at all. Validation happens here, before
any AWS call, and reports *every* problem at once as a :class:`ConfigError` (one line per bad
field, each starting with the key), because a user fixing a file one error per run is a user
wasting round trips. The only AWS-dependent step, checking availability-zone names against the
region, is the pure :func:`resolve_availability_zones`, fed by the caller's read-only
``describe_availability_zones``.

Tables are stored immutably: ``tags`` as sorted ``(key, value)`` pairs (see
:meth:`StackConfig.tags_dict`), ``public_access_block`` as the fixed-field
:class:`PublicAccessBlock` dataclass.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Final

from provisioner.errors import ConfigError, UsageError
from provisioner.network import SubnetLayout, plan_subnets, validate_layout, vpc_problems

CONFIG_FILE: Final = "smprov.toml"
"""The file :func:`load_config` looks for in the working directory."""

SAMPLE_CSV: Final = Path(__file__).resolve().parent / "data" / "sample.csv"
"""The sample training set shipped with smprov: the default ``csv_source``."""

FALLBACK_REGION: Final = "us-east-1"
"""The region used when neither the file nor the AWS configuration chain names one."""

SKIP_REGION_CHECK_ENV: Final = "SMPROV_SKIP_REGION_VALIDATION"
"""Set to 1 to accept a region the installed botocore does not know yet (a newer region)."""

MAX_ZONES: Final = 6
"""No AWS region has more availability zones than this."""

MAX_USER_TAGS: Final = 46
"""AWS allows 50 tags per resource and smprov adds 4 of its own: ``Name``, ``smprov:stack``,
``smprov:key`` and ``smprov:lineage``."""

MAX_MANAGED_POLICIES: Final = 10
"""IAM's default quota of managed policies attached to one role."""

LOG_RETENTION_DAYS: Final = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827}
    | {2192, 2557, 2922, 3288, 3653}
)
"""The retention periods CloudWatch Logs accepts (any other value is rejected by AWS)."""


@dataclass(frozen=True)
class PublicAccessBlock:
    """S3 Block Public Access settings for the bucket; all on unless the user says otherwise."""

    block_public_acls: bool = True
    ignore_public_acls: bool = True
    block_public_policy: bool = True
    restrict_public_buckets: bool = True


_PUBLIC_ACCESS_KEYS: Final = tuple(f.name for f in dataclasses.fields(PublicAccessBlock))


@dataclass(frozen=True)
class ConfigKey:
    """One configuration key: its documentation (the README's configuration reference is
    generated from these: ``python -m provisioner.config_reference``), its default and its
    parser.

    ``default`` is the value used when the key is absent; ``None`` means "not set" (or, for
    ``region`` and ``csv_source``, "resolved at load time" as ``shown_default`` says).
    """

    name: str
    type: str
    default: object
    #: The reference's text (Markdown).
    description: str
    #: Turns the TOML value (or ``default``) into the stored value, raising ``_Invalid`` with
    #: every problem; relative paths are taken from the directory passed in.
    parse: Callable[[object, Path], object]
    #: The default as the reference shows it, when the value cannot say it (computed, resolved
    #: at load time, a default per entry of a table); else the value is shown.
    shown_default: str | None = None


@dataclass(frozen=True)
class StackConfig:
    """The validated configuration of one stack.

    ``zones`` and ``subnets`` are empty until :meth:`with_zones` (or :meth:`resolve`) binds the
    configuration to the region's real availability zones; the blueprint consumes that resolved
    form.
    """

    environment: str
    region: str
    vpc_cidr: str
    availability_zones: int | tuple[str, ...]
    vpc_redundancy: bool
    map_public_ip_on_launch: bool
    public_subnets: tuple[str, ...] | None
    private_subnets: tuple[str, ...] | None
    database_subnets: tuple[str, ...] | None
    tags: tuple[tuple[str, str], ...]
    parallelism: int
    flow_log_retention_days: int
    flow_log_max_aggregation_interval: int
    flow_log_role_name: str | None
    interface_endpoints: tuple[str, ...]
    bucket_name: str | None
    kms_key_id: str | None
    bucket_versioning: bool
    public_access_block: PublicAccessBlock
    folders: tuple[str, ...]
    csv_source: Path
    upload_csv: bool
    sagemaker_role_name: str | None
    managed_policy_arns: tuple[str, ...]
    state_backend: str | None
    source: str = dataclasses.field(default="built-in defaults", compare=False)
    zones: tuple[str, ...] = ()
    subnets: SubnetLayout | None = None

    def tags_dict(self) -> dict[str, str]:
        """The user's tags as a fresh dict (smprov's own tags are not included)."""
        return dict(self.tags)

    @property
    def public_access_fully_blocked(self) -> bool:
        """True when all four Block Public Access settings are on."""
        return all(dataclasses.astuple(self.public_access_block))

    @property
    def zone_count(self) -> int:
        """How many availability zones the stack spans."""
        zones = self.availability_zones
        return zones if isinstance(zones, int) else len(zones)

    def with_zones(self, zones: Sequence[str]) -> StackConfig:
        """A copy bound to concrete ``zones`` (from :func:`resolve_availability_zones`).

        Computes the subnet layout; ``ConfigError`` if the zones do not fit this configuration.
        """
        chosen = tuple(zones)
        wanted = self.availability_zones
        if len(set(chosen)) != len(chosen) or len(chosen) != self.zone_count:
            raise ConfigError(
                [f"availability_zones: {self.zone_count} distinct zones needed, got {chosen}"]
            )
        if not isinstance(wanted, int) and set(chosen) != set(wanted):
            raise ConfigError([f"availability_zones: configured {wanted}, got {chosen}"])
        layout = plan_subnets(
            self.vpc_cidr, chosen, self.public_subnets, self.private_subnets, self.database_subnets
        )
        return dataclasses.replace(self, zones=chosen, subnets=layout)

    def resolve(self, region_zones: Sequence[str]) -> StackConfig:
        """Shorthand for ``with_zones(resolve_availability_zones(self, region_zones))``."""
        return self.with_zones(resolve_availability_zones(self, region_zones))


def resolve_availability_zones(config: StackConfig, region_zones: Sequence[str]) -> tuple[str, ...]:
    """The zones the stack uses, given the region's zone names (``describe_availability_zones``).

    Pass only zones of type ``availability-zone`` in state ``available``: local and wavelength
    zones cannot hold this stack. A count ``N`` picks the first ``N`` names in sorted order; a list
    is checked name by name and kept in the user's order. Names are never synthesised (some
    regions skip letters, e.g. ap-northeast-1 has no ``b``).
    """
    available = sorted(region_zones)
    listing = ", ".join(available) or "none"
    wanted = config.availability_zones
    if isinstance(wanted, int):
        if wanted > len(available):
            raise ConfigError(
                [
                    f"availability_zones: {wanted} requested but {config.region} has "
                    f"{len(available)} ({listing})"
                ]
            )
        return tuple(available[:wanted])
    unknown = [zone for zone in wanted if zone not in available]
    if unknown:
        raise ConfigError(
            [
                f"availability_zones: {zone!r} is not an availability zone of {config.region} "
                f"({listing})"
                for zone in unknown
            ]
        )
    return wanted


def load_config(path: Path | None = None, *, cwd: Path | None = None) -> StackConfig:
    """Read and validate a configuration file.

    With no ``path``, ``smprov.toml`` in ``cwd`` is used if present, else every default applies.
    A relative ``path`` is taken relative to ``cwd``. Relative paths inside the file are relative
    to the file's directory, so the result does not depend on where smprov is run from.
    """
    base = cwd if cwd is not None else Path.cwd()
    if path is None:
        candidate = base / CONFIG_FILE
        if not candidate.exists():
            return parse_config({}, base_dir=base, source="built-in defaults")
        path = candidate
    file = base / path
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{file}: no such configuration file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{file}: is a directory, not a configuration file"]) from None
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read ({exc.strerror or exc})"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{file}: not UTF-8 text (bad byte at offset {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{file}: invalid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{file}: invalid TOML: nested too deeply"]) from None
    return parse_config(data, base_dir=file.parent, source=str(file))


def parse_config(data: Mapping[str, object], *, base_dir: Path, source: str) -> StackConfig:
    """Validate already-parsed TOML data; ``ConfigError`` lists every problem found.

    ``base_dir`` anchors relative paths; ``source`` names the origin in the error's hint.
    ``None`` for an optional key means the same as leaving it out.
    """
    hint = f"fix {source} and run again" if source != "built-in defaults" else None
    if not isinstance(data, Mapping):
        raise ConfigError([f"{source}: expected a table of settings, got {_describe(data)}"], hint)
    problems = [_unknown_key(str(key), DEFAULTS, "") for key in data if key not in DEFAULTS]
    values: dict[str, object] = {}
    for key in CONFIG_KEYS:
        raw = data.get(key.name, key.default)
        try:
            values[key.name] = key.parse(raw, base_dir)
        except _Invalid as bad:
            problems.extend(f"{key.name}: {message}" for message in bad.messages)
    problems.extend(_cross_problems(values))
    if problems:
        invalid = {p.split(":", 1)[0] for p in problems} | (set(DEFAULTS) - set(values))
        raise ConfigError(
            problems, hint, partial=_partial(values, invalid, base_dir, source), invalid=invalid
        )
    return StackConfig(**values, source=source)  # type: ignore[arg-type]


def _partial(
    values: Mapping[str, object], invalid: set[str], base_dir: Path, source: str
) -> StackConfig | None:
    """The configuration with every invalid key at its default (None if the region is
    invalid: nothing can be checked against AWS without it)."""
    if "region" in invalid:
        return None
    try:
        fixed = {
            key.name: key.parse(key.default, base_dir) if key.name in invalid else values[key.name]
            for key in CONFIG_KEYS
        }
    except _Invalid:
        return None
    return StackConfig(**fixed, source=source)  # type: ignore[arg-type]


def with_flag(config: StackConfig, name: str, value: object, *, flag: str) -> StackConfig:
    """``config`` with one setting given on the command line as ``flag`` (``--parallelism``),
    checked by that key's own parser: the file and the flag follow one rule."""
    key = next(k for k in CONFIG_KEYS if k.name == name)
    try:
        parsed = key.parse(value, Path.cwd())
    except _Invalid as bad:
        raise UsageError("; ".join(f"{flag}: {message}" for message in bad.messages)) from None
    return dataclasses.replace(config, **{name: parsed})


def validate_bucket_name(name: str) -> list[str]:
    """What is wrong with an S3 general-purpose bucket name; empty when it is valid.

    Each problem reads after the name, e.g. ``f"{name!r} {problem}"``.

    >>> validate_bucket_name("my-training-data")
    []
    >>> validate_bucket_name("192.168.5.4")
    ['must not be formatted as an IP address']
    """
    problems = []
    if not 3 <= len(name) <= 63:
        problems.append(f"must be 3 to 63 characters long (it has {len(name)})")
    bad = sorted(set(re.sub(r"[a-z0-9.-]", "", name)))
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        problems.append(f"may hold only lower-case letters, digits, dots and hyphens (not {shown})")
    if name and not (_is_alnum(name[0]) and _is_alnum(name[-1])):
        problems.append("must begin and end with a lower-case letter or digit")
    if ".." in name:
        problems.append("must not contain two adjacent dots")
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        problems.append("must not be formatted as an IP address")
    problems.extend(
        f"must not start with {prefix!r} (reserved by AWS)"
        for prefix in ("xn--", "sthree-", "amzn-s3-demo-")
        if name.startswith(prefix)
    )
    problems.extend(
        f"must not end with {suffix!r} (reserved by AWS)"
        for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
        if name.endswith(suffix)
    )
    return problems


# --- field parsers: each returns the stored value or raises _Invalid ---------------------------


class _Invalid(Exception):
    """A field's problems, without the key prefix the caller adds."""

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = messages


def _is_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _describe(value: object) -> str:
    """Name a value the way a TOML user would: ``boolean true``, ``string 'x'``, ``an array``."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        kind = "integer" if isinstance(value, int) else "float"
        return f"{kind} {value!r}"
    if isinstance(value, str):
        return f"string {value[:60]!r}" + ("..." if len(value) > 60 else "")
    for kind, article in ((datetime, "a datetime"), (date, "a date"), (time, "a time")):
        if isinstance(value, kind):
            return f"{article} {value.isoformat()}"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"


def _unknown_key(key: str, known: Mapping[str, object], prefix: str) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    suggestion = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{prefix}unknown key {key!r}{suggestion}"


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {_describe(value)}")
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected a boolean (true or false), got {_describe(value)}")
    return value


def _flag(value: object, _: Path) -> bool:
    return _boolean(value)


def _integer(value: object, allowed: str, ok: Callable[[int], bool]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"expected an integer, got {_describe(value)}")
    if not ok(value):
        raise _Invalid(f"{value} is not allowed; use {allowed}")
    return value


def _strings(value: object, *, unique: bool = True) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _Invalid(f"expected an array of strings, got {_describe(value)}")
    wrong = [
        f"item {i + 1} is {_describe(v)}" for i, v in enumerate(value) if not isinstance(v, str)
    ]
    if wrong:
        raise _Invalid(f"expected an array of strings ({'; '.join(wrong)})")
    items = tuple(value)
    if unique:
        _require_unique(items)
    return items


def _require_unique(items: Sequence[str]) -> None:
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise _Invalid(f"{', '.join(repr(r) for r in repeated)} listed more than once")


def _matching(items: Sequence[str], pattern: re.Pattern[str], what: str) -> None:
    bad = [item for item in items if not pattern.fullmatch(item)]
    if bad:
        raise _Invalid(*(f"{item!r} is not {what}" for item in bad))


_ENVIRONMENT = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_ZONE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+[a-z]")
_ENDPOINT = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
_FOLDER = re.compile(r"[A-Za-z0-9!_.*'()-]+(?:/[A-Za-z0-9!_.*'()-]+)*/?")
_POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(?:\d{12}|aws):policy/[\w+=,.@/-]+", re.ASCII)
_KEY_ID = r"(?:[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32})"
_ALIAS = r"alias/[A-Za-z0-9/_-]{1,250}"
_KMS_ARN = re.compile(
    rf"arn:aws[a-z-]*:kms:(?P<region>{_REGION.pattern}):\d{{12}}:(?:key/{_KEY_ID}|{_ALIAS})"
)
_KMS_SHORT = re.compile(rf"{_KEY_ID}|{_ALIAS}")


def _environment(value: object, _: Path) -> str:
    text = _string(value)
    if not _ENVIRONMENT.fullmatch(text):
        raise _Invalid(
            f"{text!r} must be 1-20 lower-case letters, digits and hyphens, starting and ending "
            "with a letter or digit (it becomes part of the bucket name)"
        )
    return text


def _region(value: object, _: Path) -> str:
    origin = ""
    if value is None:
        value, origin = _default_region()
    text = _string(value)
    if not _REGION.fullmatch(text):
        raise _Invalid(f"{text!r}{origin} is not an AWS region name like us-east-1")
    if os.environ.get(SKIP_REGION_CHECK_ENV, "").lower() in ("", "0", "false", "no"):
        known = known_regions()
        if known and text not in known:
            close = difflib.get_close_matches(text, sorted(known), n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise _Invalid(
                f"{text!r}{origin} is not a region the installed botocore knows{suggestion}; "
                f"for a region newer than botocore, upgrade it or set {SKIP_REGION_CHECK_ENV}=1"
            )
    return text


def known_regions() -> frozenset[str]:
    """Every region of every partition in botocore's own endpoint data (read offline, without
    importing botocore); empty when the data cannot be found, so nothing is refused on a guess."""
    global _known_regions
    if _known_regions is None:
        _known_regions = _read_regions()
    return _known_regions


_known_regions: frozenset[str] | None = None


def _read_regions() -> frozenset[str]:
    import gzip
    import importlib.util
    import json

    spec = importlib.util.find_spec("botocore")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        data = Path(folder) / "data"
        for name, opener in (("partitions.json", open), ("partitions.json.gz", gzip.open)):
            try:
                with opener(data / name, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
                    document = json.load(handle)
            except (OSError, ValueError):
                continue
            return frozenset(
                region
                for partition in document.get("partitions", [])
                for region in partition.get("regions", {})
                if _REGION.fullmatch(region)  # not the "aws-global" pseudo-regions
            )
    return frozenset()


def _default_region() -> tuple[str, str]:
    """The region from the environment and AWS configuration chain, and where it came from.

    ``AWS_REGION`` wins, as in the AWS CLI v2 and the other SDKs; botocore itself reads only
    ``AWS_DEFAULT_REGION`` and the profile. botocore is imported here, not at module level, so
    loading a configuration stays cheap when a region is written in the file.
    """
    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"], " (from AWS_REGION)"
    import botocore.exceptions
    import botocore.session

    try:
        region = botocore.session.Session().get_config_variable("region")
    except botocore.exceptions.BotoCoreError as exc:
        raise _Invalid(f"not set, and the AWS configuration cannot be read: {exc}") from None
    if region:
        return str(region), " (from the AWS configuration)"
    return FALLBACK_REGION, ""


def configured_region() -> str | None:
    """The region AWS_REGION or the AWS configuration chain names; None when neither names one
    (smprov would fall back to us-east-1)."""
    try:
        region, origin = _default_region()
    except _Invalid:
        return None
    return region if origin else None


def _vpc_cidr(value: object, _: Path) -> str:
    return _string(value)  # checked in _cross_problems, together with the subnets


def _availability_zones(value: object, _: Path) -> int | tuple[str, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return _integer(value, f"1 to {MAX_ZONES}", lambda n: 1 <= n <= MAX_ZONES)
    if not isinstance(value, list | tuple):
        raise _Invalid(f"expected an integer or an array of zone names, got {_describe(value)}")
    zones = _strings(value)
    if not 1 <= len(zones) <= MAX_ZONES:
        raise _Invalid(f"give 1 to {MAX_ZONES} zone names, not {len(zones)}")
    _matching(zones, _ZONE, "an availability zone name like us-east-1a")
    return zones


def _optional_subnets(value: object, _: Path) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise _Invalid(f"expected an array of CIDR strings, got {_describe(value)}")
    return tuple(value)  # each entry is checked by network.validate_layout


def _tags(value: object, _: Path) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise _Invalid(f"expected a table of strings, got {_describe(value)}")
    problems = []
    for key, tag_value in value.items():
        problems.extend(_tag_problems(str(key), tag_value))
    if len(value) > MAX_USER_TAGS:
        problems.append(
            f"{len(value)} tags given; at most {MAX_USER_TAGS} "
            "(AWS allows 50 per resource and smprov adds 4)"
        )
    if problems:
        raise _Invalid(*problems)
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def _tag_text_ok(text: str) -> bool:
    """IAM and S3 allow letters, digits, spaces and ``_ . : / = + - @`` in tags."""
    return all(c.isalnum() or c in "_.:/=+-@" or unicodedata.category(c) == "Zs" for c in text)


def _tag_problems(key: str, value: object) -> list[str]:
    problems = []
    if not 1 <= len(key) <= 128:
        problems.append(f"key {key[:40]!r} must be 1 to 128 characters long")
    if key.lower().startswith(("aws:", "smprov:")):
        problems.append(f"key {key!r} uses a reserved prefix (aws: and smprov: are not allowed)")
    if key == "Name":
        problems.append("key 'Name' is set by smprov itself")
    if not _tag_text_ok(key):
        problems.append(f"key {key!r} may hold only letters, digits, spaces and _ . : / = + - @")
    if not isinstance(value, str):
        problems.append(f"value of {key!r} must be a string, got {_describe(value)}")
    elif len(value) > 256:
        problems.append(f"value of {key!r} must be at most 256 characters long")
    elif not _tag_text_ok(value):
        problems.append(
            f"value of {key!r} may hold only letters, digits, spaces and _ . : / = + - @"
        )
    return problems


def _parallelism(value: object, _: Path) -> int:
    return _integer(value, "1 to 64", lambda n: 1 <= n <= 64)


def _retention(value: object, _: Path) -> int:
    allowed = ", ".join(str(d) for d in sorted(LOG_RETENTION_DAYS))
    return _integer(
        value, f"one of CloudWatch Logs' periods: {allowed}", LOG_RETENTION_DAYS.__contains__
    )


def _aggregation(value: object, _: Path) -> int:
    return _integer(value, "60 or 600", lambda n: n in (60, 600))


def _endpoints(value: object, _: Path) -> tuple[str, ...]:
    names = _strings(value)
    full = [n for n in names if n.startswith("com.amazonaws.")]
    if full:
        raise _Invalid(
            *(
                f"{n!r}: give the short name after com.amazonaws.<region>., "
                f"e.g. {n.split('.', 3)[-1]!r}"
                for n in full
            )
        )
    _matching(names, _ENDPOINT, "a service name like sagemaker.api")
    return names


def _role_name(value: object, _: Path) -> str | None:
    """IAM role names: 1-64 letters, digits and ``+=,.@_-`` (a path is not part of the name)."""
    if value is None:
        return None
    name = _string(value)
    if not _ROLE_NAME.fullmatch(name):
        raise _Invalid(f"{name!r} is not an IAM role name (1-64 letters, digits and +=,.@_-)")
    return name


def _bucket_name(value: object, _: Path) -> str | None:
    if value is None:
        return None
    name = _string(value)
    problems = validate_bucket_name(name)
    if problems:
        raise _Invalid(*(f"{name!r} {p}" for p in problems))
    return name


def _kms_key(value: object, _: Path) -> str | None:
    if value is None:
        return None
    key = _string(value)
    if not (_KMS_ARN.fullmatch(key) or _KMS_SHORT.fullmatch(key)):
        raise _Invalid(f"{key!r} is not a KMS key id, key ARN, alias/NAME or alias ARN")
    return key


def _public_access_block(value: object, _: Path) -> PublicAccessBlock:
    if not isinstance(value, Mapping):
        raise _Invalid(f"expected a table of booleans, got {_describe(value)}")
    known = dict.fromkeys(_PUBLIC_ACCESS_KEYS)
    problems = [_unknown_key(str(k), known, "") for k in value if k not in known]
    settings = {}
    for name in _PUBLIC_ACCESS_KEYS:
        setting = value.get(name, True)
        if isinstance(setting, bool):
            settings[name] = setting
        else:
            problems.append(f"{name}: expected a boolean (true or false), got {_describe(setting)}")
    if problems:
        raise _Invalid(*problems)
    return PublicAccessBlock(**settings)


def _folders(value: object, _: Path) -> tuple[str, ...]:
    folders = _strings(value, unique=False)
    if not folders:
        raise _Invalid("give at least one folder")
    bad = [
        f
        for f in folders
        if not _FOLDER.fullmatch(f) or {".", ".."} & set(f.rstrip("/").split("/"))
    ]
    if bad:
        raise _Invalid(
            *(
                f"{f!r} is not a relative S3 prefix (letters, digits, ! _ . * ' ( ) - "
                "separated by single /, no . or .. segments)"
                for f in bad
            )
        )
    normalised = tuple(f.rstrip("/") + "/" for f in folders)
    _require_unique(normalised)
    return normalised


def _csv_source(value: object, base_dir: Path) -> Path:
    text = None if value is None else _string(value)
    if text == "":
        raise _Invalid("expected a file path, got an empty string")
    try:
        path = SAMPLE_CSV if text is None else (base_dir / Path(text).expanduser()).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, unknown ~user, symlink loop
        raise _Invalid(f"{text!r} is not a usable path ({exc})") from None
    try:
        if not path.exists():
            raise _Invalid(f"{path} does not exist")
        if not path.is_file():
            raise _Invalid(f"{path} is not a regular file")
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise _Invalid(f"{path} cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise _Invalid(f"{text!r} is not a usable path ({exc})") from None
    return path


def _policy_arns(value: object, _: Path) -> tuple[str, ...]:
    arns = _strings(value)
    _matching(arns, _POLICY_ARN, "an IAM managed policy ARN (arn:aws:iam::aws:policy/NAME)")
    if len(arns) > MAX_MANAGED_POLICIES:
        raise _Invalid(
            f"{len(arns)} given; IAM attaches at most {MAX_MANAGED_POLICIES} managed policies "
            "to a role by default"
        )
    return arns


def _state_backend(value: object, base_dir: Path) -> str | None:
    if value is None:
        return None
    text = _string(value)
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme and scheme.group(1) != "s3":
        raise _Invalid(f"{text!r}: use a local path or s3://bucket/key")
    if scheme:
        bucket, _slash, key = text.removeprefix("s3://").partition("/")
        problems = [f"bucket {bucket!r} {p}" for p in validate_bucket_name(bucket)]
        if not key:
            problems.append(f"{text!r} has no object key (s3://bucket/key)")
        if problems:
            raise _Invalid(*problems)
        return text
    try:
        if not text or "\0" in text:
            raise ValueError("empty or contains a NUL byte")
        return str((base_dir / Path(text).expanduser()).resolve())
    except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise _Invalid(f"{text!r} is not a usable path ({exc})") from None


# --- the configuration keys, in StackConfig's field order: documentation, default, parser ---

CONFIG_KEYS: Final[tuple[ConfigKey, ...]] = (
    ConfigKey(
        "environment",
        "string",
        "dev",
        "Stack name: 1-20 lower-case letters, digits and inner hyphens (used in resource and "
        "bucket names).",
        _environment,
    ),
    ConfigKey(
        "region",
        "string",
        None,
        "AWS region: `AWS_REGION`, then the AWS configuration chain (`AWS_DEFAULT_REGION`, "
        "profile), then `us-east-1`. Checked offline against the regions the installed "
        "botocore knows (with a did-you-mean); for a newer region set "
        "`SMPROV_SKIP_REGION_VALIDATION=1`.",
        _region,
        shown_default="AWS chain, else `us-east-1`",
    ),
    ConfigKey(
        "vpc_cidr",
        "string",
        "10.0.0.0/16",
        "IPv4 CIDR of the VPC, /16 to /28.",
        _vpc_cidr,
    ),
    ConfigKey(
        "availability_zones",
        "integer or array of strings",
        2,
        "How many zones (1-6; the region's first N by name) or which zones by name.",
        _availability_zones,
    ),
    ConfigKey(
        "vpc_redundancy",
        "boolean",
        False,
        "One NAT gateway per zone instead of a single shared one.",
        _flag,
    ),
    ConfigKey(
        "map_public_ip_on_launch",
        "boolean",
        False,
        "Give instances in the public subnets a public IP.",
        _flag,
    ),
    ConfigKey(
        "public_subnets",
        "array of strings",
        None,
        "Explicit public subnet CIDRs, one per zone in zone order.",
        _optional_subnets,
        shown_default="computed",
    ),
    ConfigKey(
        "private_subnets",
        "array of strings",
        None,
        "Explicit private subnet CIDRs, one per zone in zone order.",
        _optional_subnets,
        shown_default="computed",
    ),
    ConfigKey(
        "database_subnets",
        "array of strings",
        None,
        "Explicit database subnet CIDRs, one per zone in zone order.",
        _optional_subnets,
        shown_default="computed",
    ),
    ConfigKey(
        "tags",
        "table of strings",
        MappingProxyType({}),
        "Tags for every resource: at most 46; keys must not start with `aws:` or `smprov:` "
        "nor be `Name`.",
        _tags,
    ),
    ConfigKey(
        "parallelism",
        "integer",
        10,
        "Plan steps run at once (1-64), like Terraform's `-parallelism`. Reads are not "
        "limited by it (a refresh sends every kind's read at once, a resource's reads "
        "together) except at `1`, where every call is sent one at a time, in order.",
        _parallelism,
    ),
    ConfigKey(
        "flow_log_retention_days",
        "integer",
        7,
        "Days CloudWatch Logs keeps VPC flow logs (a value CloudWatch accepts).",
        _retention,
    ),
    ConfigKey(
        "flow_log_max_aggregation_interval",
        "integer",
        60,
        "Flow log aggregation interval in seconds: 60 or 600.",
        _aggregation,
    ),
    ConfigKey(
        "flow_log_role_name",
        "string",
        None,
        "Name of the IAM role the flow logs deliver through (an imported Terraform stack "
        "keeps the module's `vpc-flow-log-role-<timestamp>`: AWS cannot rename a role).",
        _role_name,
        shown_default="`<environment>-vpc-flow-logs`",
    ),
    ConfigKey(
        "interface_endpoints",
        "array of strings",
        ("sagemaker.api", "sagemaker.runtime"),
        "Interface VPC endpoints by short service name (after `com.amazonaws.<region>.`).",
        _endpoints,
    ),
    ConfigKey(
        "bucket_name",
        "string",
        None,
        "S3 bucket name; the random suffix is generated once and kept in the state.",
        _bucket_name,
        shown_default="`<environment>-sagemaker-<random 8>`",
    ),
    ConfigKey(
        "kms_key_id",
        "string",
        None,
        "KMS key (id, ARN, `alias/NAME` or alias ARN) for SSE-KMS with bucket keys. Resolved "
        "to the key's ARN (`kms:DescribeKey`) before any change, for the bucket and the role "
        "alike; an unknown, disabled, pending-deletion or asymmetric key is a configuration "
        "error (exit 2).",
        _kms_key,
        shown_default="none (SSE-S3)",
    ),
    ConfigKey(
        "bucket_versioning",
        "boolean",
        True,
        "S3 versioning on the bucket.",
        _flag,
    ),
    ConfigKey(
        "public_access_block",
        "table of booleans",
        MappingProxyType(dataclasses.asdict(PublicAccessBlock())),
        "`block_public_acls`, `ignore_public_acls`, `block_public_policy`, "
        "`restrict_public_buckets`.",
        _public_access_block,
        shown_default="all `true`",
    ),
    ConfigKey(
        "folders",
        "array of strings",
        ("raw-data/", "processed-data/", "model-artifacts/"),
        "Prefixes created in the bucket (a trailing `/` is added).",
        _folders,
    ),
    ConfigKey(
        "csv_source",
        "string",
        None,
        "CSV uploaded into the first folder, relative to the config file.",
        _csv_source,
        shown_default="packaged sample data set",
    ),
    ConfigKey(
        "upload_csv",
        "boolean",
        True,
        "Upload `csv_source` into the first folder; `false`: no CSV, the folders only.",
        _flag,
    ),
    ConfigKey(
        "sagemaker_role_name",
        "string",
        None,
        "Name of the SageMaker execution role (an imported Terraform stack keeps its role's name).",
        _role_name,
        shown_default="`<environment>_sagemaker_execution_role`",
    ),
    ConfigKey(
        "managed_policy_arns",
        "array of strings",
        (),
        "Extra IAM managed policies for the SageMaker role (at most 10).",
        _policy_arns,
    ),
    ConfigKey(
        "state_backend",
        "string",
        None,
        "Where the state lives: a local path (relative to the config file) or `s3://bucket/key`.",
        _state_backend,
        shown_default="`state/<environment>.json`",
    ),
)

DEFAULTS: Final[Mapping[str, object]] = MappingProxyType({k.name: k.default for k in CONFIG_KEYS})
"""Each key's default, as in :data:`CONFIG_KEYS`."""


def _cross_problems(values: Mapping[str, object]) -> list[str]:
    """Checks that involve several keys; each runs only if the keys it needs parsed cleanly."""
    problems: list[str] = []
    region = values.get("region")
    zones = values.get("availability_zones")
    if isinstance(region, str) and isinstance(zones, tuple):
        problems.extend(
            f"availability_zones: {zone!r} is not in region {region}"
            for zone in zones
            if zone[:-1] != region
        )
    csv = values.get("csv_source")
    if values.get("upload_csv") is False and isinstance(csv, Path) and csv != SAMPLE_CSV:
        problems.append("csv_source: given, but upload_csv = false uploads no CSV")
    kms = values.get("kms_key_id")
    match = _KMS_ARN.fullmatch(kms) if isinstance(kms, str) else None
    if match and isinstance(region, str) and match["region"] != region:
        problems.append(
            f"kms_key_id: the key is in {match['region']} but the bucket is in {region} "
            "(S3 needs a KMS key in the bucket's region)"
        )
    vpc = values.get("vpc_cidr")
    if not isinstance(vpc, str):
        return problems
    vpc_bad = vpc_problems(vpc)
    problems.extend(vpc_bad)
    tiers = ("public_subnets", "private_subnets", "database_subnets")
    if vpc_bad or zones is None or any(t not in values for t in tiers):
        return problems
    count = zones if isinstance(zones, int) else len(zones)
    problems.extend(
        validate_layout(
            vpc,
            count,
            values["public_subnets"],  # type: ignore[arg-type]
            values["private_subnets"],  # type: ignore[arg-type]
            values["database_subnets"],  # type: ignore[arg-type]
        )
    )
    return problems
