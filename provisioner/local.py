"""The embedded AWS emulator behind ``--local``: moto's server as a long-lived background process.

``smprov up --local``, ``status --local`` and ``down --local`` run as separate processes but must
see one emulated account, so the emulator outlives each of them: the first caller starts it, later
callers find it on the port and reuse it, and ``smprov local stop`` ends it. moto is never imported
here (it takes about a second and a lot of memory); the server runs under ``sys.executable`` and is
only ever talked to over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import SmprovError, UsageError

LOCAL_HOST = "127.0.0.1"
DEFAULT_PORT = 4599
PORT_ENV = "SMPROV_LOCAL_PORT"
HOME_ENV = "SMPROV_HOME"
# moto's fixed account; MOTO_ACCOUNT_ID is kept out of the server's environment so this holds.
LOCAL_ACCOUNT = "123456789012"
LOCAL_CREDENTIAL = "smprov-local"
INSTALL_HINT = "pip install 'smprov[local]'"

# Only smprov's emulator serves this path (provisioner/emulator.py IDENTITY_PATH): who it is and
# which run of it. Only moto serves the next one: it answers 201 with its runtime config, a small
# JSON object holding "batch" and "lambda" (moto 5.2.5), which tells a moto server that is not
# smprov's emulator (started by hand, or by an older smprov) from something else entirely.
IDENTITY_PATH = "/smprov-emulator"
_PROBE_PATH = "/moto-api/config"
_SERVER_MODULES = ("moto", "flask", "flask_cors", "werkzeug")
# Attaching AWS-managed policies (AmazonSageMakerFullAccess) fails in moto unless it loads them.
# Measured with moto 5.2.5 on 2 cores: start-up to first answer is unchanged (0.7-0.9 s); the
# first IAM call pays for the load, 1.5-1.6 s instead of 0.2-0.4 s. Under 2 s, once per server.
_SERVER_SETTINGS = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
_STOP_GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.1
_LOG_TAIL_LINES = 15

# Servers this process started, so it can reap them when it stops them (no zombies, no
# "subprocess still running" warnings when the Popen object is collected).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
EMULATOR_MODULE = "provisioner.emulator"


class Ongoing(str):
    """A line that announces work under way (the emulator starting): it stands for progress
    itself until the next line, so whoever shows waits holds theirs back meanwhile."""


@dataclass(frozen=True)
class LocalEmulator:
    """smprov's emulator answering on ``endpoint``; ``pid`` is None when smprov did not record
    it; ``instance`` names this run of it (a restart makes a new one, with an empty account)."""

    endpoint: str
    port: int
    pid: int | None
    started: bool
    instance: str | None = None


class _PortState(enum.Enum):
    FREE = "free"
    SMPROV = "smprov's emulator"
    MOTO = "a moto server that is not smprov's emulator"
    OTHER = "other"


@dataclass(frozen=True)
class _Probe:
    state: _PortState
    instance: str | None = None


def local_port() -> int:
    """The emulator's port: ``SMPROV_LOCAL_PORT`` (1024..65535), else 4599."""
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 1024 <= port <= 65535:
        raise UsageError(
            f"{PORT_ENV} must be a port number between 1024 and 65535, got {raw!r}",
            hint=f"unset {PORT_ENV} to use the default port {DEFAULT_PORT}",
        )
    return port


def runtime_dir() -> Path:
    """Where the pid files, lock files and the server's log live (created on demand)."""
    if home := os.environ.get(HOME_ENV):
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # the XDG spec says to ignore a relative value
        return Path(xdg) / "smprov"
    try:
        return Path.home() / ".cache" / "smprov"
    except RuntimeError as exc:
        raise SmprovError(
            "cannot find a home directory for the local emulator's files",
            hint=f"set {HOME_ENV} to a writable directory",
        ) from exc


def endpoint_url(port: int) -> str:
    """The URL boto3 clients use to reach the emulator on ``port``."""
    return f"http://{LOCAL_HOST}:{port}"


def client_settings(endpoint: str) -> dict[str, str]:
    """boto3 client arguments for the emulator.

    The dummy credentials mean local mode works with no AWS credentials configured, and that real
    ones found in the environment or ~/.aws are never sent to the emulator.
    """
    return {
        "endpoint_url": endpoint,
        "aws_access_key_id": LOCAL_CREDENTIAL,
        "aws_secret_access_key": LOCAL_CREDENTIAL,
    }


def log_path() -> Path:
    """The emulator's log (every server smprov starts appends to it)."""
    return runtime_dir() / "emulator.log"


def is_running() -> bool:
    """Whether smprov's emulator answers on the configured port."""
    return _probe(local_port()).state is _PortState.SMPROV


def ensure_running(
    *, timeout: float = 20.0, say: Callable[[str], None] | None = None
) -> LocalEmulator:
    """Reuse smprov's emulator on the configured port, or start one and wait until it answers
    (``say`` hears, on a start, that it is starting and then where it runs and how to stop it).

    The check-and-start runs under a per-port file lock, so concurrent smprov processes start at
    most one server between them. A port held by anything else is refused, naming it.
    """
    port = local_port()
    directory = _make_runtime_dir()
    endpoint = endpoint_url(port)
    address = f"{LOCAL_HOST}:{port}"
    with _port_lock(directory, port):
        found = _probe(port)
        if found.state is _PortState.SMPROV:
            pid = _recorded_server(directory, port)
            return LocalEmulator(endpoint, port, pid, started=False, instance=found.instance)
        if found.state is _PortState.MOTO:
            raise SmprovError(
                f"port {port} on {LOCAL_HOST} is held by {found.state.value}",
                hint=f"if an older smprov started it, `smprov local stop` ends it; else stop it "
                f"where it was started, or choose another port: {PORT_ENV}=<1024-65535>",
            )
        if found.state is _PortState.OTHER:
            raise SmprovError(
                f"port {port} on {LOCAL_HOST} is in use by a server that is not smprov's "
                "emulator (nor any moto server)",
                hint=f"choose another port for the local emulator: {PORT_ENV}=<1024-65535>",
            )
        pid = _recorded_server(directory, port)
        if pid is not None:
            raise SmprovError(
                f"the local emulator (pid {pid}) is running but not answering on "
                f"{LOCAL_HOST}:{port}",
                hint="run `smprov local stop`, then try again",
            )
        _require_server_modules()
        if say is not None:
            say(Ongoing(f"starting the local emulator on {address} ..."))
        proc, instance = _start_server(directory, port, timeout)
    if say is not None:
        say(
            f"started the local emulator on {address} (pid {proc.pid}); `smprov local stop` ends it"
        )
    return LocalEmulator(endpoint, port, proc.pid, started=True, instance=instance)


def stop() -> str:
    """Stop the emulator recorded for the configured port; returns what happened, for the user."""
    port = local_port()
    directory = _make_runtime_dir()
    address = f"{LOCAL_HOST}:{port}"
    with _port_lock(directory, port):
        pid_path = _pid_path(directory, port)
        pid = _read_pid(pid_path)
        if pid is None:
            pid_path.unlink(missing_ok=True)
            if _probe(port).state in (_PortState.SMPROV, _PortState.MOTO):
                return (
                    f"a moto server answers on {address} but smprov did not start it "
                    f"(no pid file in {directory}); stop it where it was started"
                )
            return f"no local emulator is running on {address}"
        if not (_alive(pid) and _is_our_server(pid, port)):
            pid_path.unlink(missing_ok=True)
            return (
                f"no local emulator is running on {address} (removed stale pid file for pid {pid})"
            )
        _terminate(pid)
        pid_path.unlink(missing_ok=True)
    return f"local emulator on {address} stopped (pid {pid})"


def _make_runtime_dir() -> Path:
    directory = runtime_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SmprovError(
            f"cannot create {directory} for the local emulator's files: {exc.strerror}",
            hint=f"set {HOME_ENV} to a writable directory",
        ) from exc
    return directory


def _pid_path(directory: Path, port: int) -> Path:
    return directory / f"emulator-{port}.pid"


@contextlib.contextmanager
def _port_lock(directory: Path, port: int) -> Iterator[None]:
    """Exclusive ``flock`` for one port; the kernel drops it if the holder dies."""
    with open(directory / f"emulator-{port}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _probe(port: int, timeout: float = 2.0) -> _Probe:
    """Is the port free, served by smprov's emulator (which run), by another moto server, or
    taken by something else?"""
    try:
        with socket.create_connection((LOCAL_HOST, port), timeout=min(timeout, 0.5)):
            pass
    except ConnectionRefusedError:
        return _Probe(_PortState.FREE)
    except OSError:
        return _Probe(_PortState.OTHER)
    identity = _get_json(port, IDENTITY_PATH, timeout)
    if isinstance(identity, dict) and identity.get("emulator") == "smprov":
        instance = identity.get("instance")
        return _Probe(_PortState.SMPROV, instance if isinstance(instance, str) else None)
    config = _get_json(port, _PROBE_PATH, timeout)
    if isinstance(config, dict) and "batch" in config:
        return _Probe(_PortState.MOTO)
    return _Probe(_PortState.OTHER)


def _get_json(port: int, path: str, timeout: float) -> object:
    """The JSON a GET of ``path`` answers with, or None (an error, or not JSON)."""
    # No proxies: an HTTP(S)_PROXY in the environment must not intercept a loopback probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(endpoint_url(port) + path, timeout=timeout) as response:
            return json.loads(response.read(65536))
    except (OSError, ValueError):  # HTTPError and URLError are OSErrors; bad JSON a ValueError
        return None


def _require_server_modules() -> None:
    """Fail with an install hint if the server extra is missing, without importing moto."""
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise SmprovError(
            f"the local emulator needs moto's server, but {', '.join(missing)} is not installed",
            hint=INSTALL_HINT,
        )


def _server_env(port: int) -> dict[str, str]:
    """The parent's environment minus every AWS_* variable (credentials, profiles, and the files
    that hold them: moto needs none) and minus MOTO_ACCOUNT_ID (the account is fixed)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key != "MOTO_ACCOUNT_ID"
    }
    env.update(_SERVER_SETTINGS)
    env["MOTO_PORT"] = str(port)
    return env


def _start_server(
    directory: Path, port: int, timeout: float
) -> tuple[subprocess.Popen[bytes], str | None]:
    """Start moto detached from this process and its terminal; wait until it answers. Returns
    the process and the instance the new server reports."""
    log_path = directory / "emulator.log"
    # moto's server, through smprov's entry point (provisioner/emulator.py explains why).
    command = [sys.executable, "-m", EMULATOR_MODULE, "-H", LOCAL_HOST, "-p", str(port)]
    with open(log_path, "ab") as log:
        log.write(f"--- smprov: starting {' '.join(command)} at {time.ctime()}\n".encode())
        log.flush()
        log_offset = log.tell()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=_server_env(port),
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    pid_path = _pid_path(directory, port)
    tmp_path = pid_path.with_suffix(".tmp")
    tmp_path.write_text(f"{proc.pid}\n")
    os.replace(tmp_path, pid_path)
    failure, instance = _wait_until_answering(proc, port, timeout)
    if failure is not None:
        if proc.poll() is None:
            _terminate(proc.pid)
        pid_path.unlink(missing_ok=True)
        reason, hint = failure
        raise SmprovError(f"{reason}; its log ends with:\n{_log_tail(log_path, log_offset)}", hint)
    return proc, instance


def _wait_until_answering(
    proc: subprocess.Popen[bytes], port: int, timeout: float
) -> tuple[tuple[str, str] | None, str | None]:
    """Poll until the emulator answers: (None, its instance); on failure, (the reason and a hint
    for the user, None)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            return (
                f"the local emulator exited with code {proc.returncode} while starting on "
                f"{LOCAL_HOST}:{port}",
                f"if the port is taken, choose another with {PORT_ENV}=<1024-65535>",
            ), None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return (
                f"the local emulator did not answer on {LOCAL_HOST}:{port} within {timeout:g} s",
                "try again; a slow machine may need longer to import moto",
            ), None
        found = _probe(port, timeout=max(min(remaining, 2.0), 0.05))
        if found.state is _PortState.SMPROV:
            return None, found.instance
        time.sleep(min(_POLL_SECONDS, remaining))


def _log_tail(log_path: Path, offset: int) -> str:
    """The last lines this start wrote to the shared log (earlier runs are skipped by offset)."""
    try:
        with open(log_path, "rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError:
        text = ""
    lines = text.strip().splitlines()[-_LOG_TAIL_LINES:]
    if not lines:
        return f"  (nothing in {log_path})"
    return "\n".join(f"  | {line}" for line in lines)


def _read_pid(pid_path: Path) -> int | None:
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def _recorded_server(directory: Path, port: int) -> int | None:
    """The pid in the pid file if it is a live moto server for this port, else None."""
    pid = _read_pid(_pid_path(directory, port))
    if pid is not None and _alive(pid) and _is_our_server(pid, port):
        return pid
    return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped by its parent) counts as gone."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _command_line(pid: int) -> list[str]:
    proc_cmdline = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self").exists():
        try:
            return proc_cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            return []
    result = subprocess.run(  # no /proc (macOS): ask ps
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return result.stdout.split()


def _is_our_server(pid: int, port: int) -> bool:
    """Guard against pid reuse: only our emulator (or a plain ``moto.server`` an earlier smprov
    started) on this port may be signalled."""
    argv = _command_line(pid)
    return bool({EMULATOR_MODULE, "moto.server"} & set(argv)) and str(port) in argv


def _terminate(pid: int) -> None:
    """SIGTERM, up to 5 s to exit, then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, _STOP_GRACE_SECONDS), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError as exc:
            raise SmprovError(
                f"not allowed to stop the local emulator (pid {pid})",
                hint="it belongs to another user; stop it as that user",
            ) from exc
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.05)
    if _alive(pid):
        raise SmprovError(f"the local emulator (pid {pid}) did not exit after SIGKILL")
