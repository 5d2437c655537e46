"""The local file backend: atomic writes, damaged files left alone, a real OS lock."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.errors import LockError, StateError
from provisioner.store import local as local_module
from provisioner.store.backend import LockInfo
from provisioner.store.document import StateDocument
from provisioner.store.local import LocalBackend

REPO = Path(__file__).resolve().parents[2]
T0 = "2026-11-25T17:00:00Z"

HOLDER = """
import sys, time
from pathlib import Path
from provisioner.store.local import LocalBackend

with LocalBackend(Path(sys.argv[1])).lock("up"):
    print("locked", flush=True)
    time.sleep(60)
"""


def make_doc(vpc_id: str = "vpc-1") -> StateDocument:
    doc = StateDocument.new("dev", "us-east-1", "123456789012", None)
    doc.put_resource("vpc", "vpc", vpc_id, {"cidr": "10.0.0.0/16"}, [], T0)
    return doc


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "dev.json"


@pytest.fixture
def holder(path: Path) -> Iterator[subprocess.Popen[str]]:
    """A separate smprov-like process that takes the lock and sleeps while holding it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    proc.stdout.close()


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()  # reap it, or its pid stays "alive" as a zombie


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# -- read / write ---------------------------------------------------------------------------


def test_read_returns_none_when_there_is_no_state(path: Path) -> None:
    backend = LocalBackend(path)
    assert backend.read() is None
    assert not backend.exists()
    assert not path.parent.exists()


def test_a_state_set_aside_never_replaces_one_set_aside_before(path: Path) -> None:
    """Two emulator restarts within one second give the same `.stale-<time>` suffix: the
    second state set aside goes next to the first, which stays as it was."""
    backend = LocalBackend(path)
    first, second = make_doc(), make_doc()
    backend.write(first)
    one = backend.set_aside(".stale-20261206T170000Z")
    backend.write(second)
    two = backend.set_aside(".stale-20261206T170000Z")
    assert one != two and not backend.exists()
    assert one.name == "dev.json.stale-20261206T170000Z"
    assert two.name == "dev.json.stale-20261206T170000Z-2"
    assert one.read_text() == first.to_json() and two.read_text() == second.to_json()


def test_write_creates_directories_and_reads_back(path: Path) -> None:
    backend = LocalBackend(path)
    doc = make_doc()
    backend.write(doc)
    assert backend.exists()
    assert backend.read() == doc
    assert path.read_text() == doc.to_json()
    assert backend.describe() == str(path)


def test_state_file_is_private(path: Path) -> None:
    LocalBackend(path).write(make_doc())
    assert path.stat().st_mode & 0o777 == 0o600


def test_write_replaces_the_previous_content(path: Path) -> None:
    backend = LocalBackend(path)
    backend.write(make_doc("vpc-1"))
    backend.write(make_doc("vpc-2"))
    stored = backend.read()
    assert stored is not None
    assert stored.resources["vpc"].id == "vpc-2"
    assert leftovers(path.parent) == []


def test_failed_replace_keeps_the_old_file_and_no_temp_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = LocalBackend(path)
    backend.write(make_doc("vpc-1"))
    before = path.read_bytes()

    def broken_replace(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local_module.os, "replace", broken_replace)
    with pytest.raises(StateError) as info:
        backend.write(make_doc("vpc-2"))
    assert "No space left on device" in info.value.message
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []


def test_interrupt_mid_write_keeps_the_old_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt during fsync is not turned into a StateError, but still cleans up."""
    backend = LocalBackend(path)
    backend.write(make_doc("vpc-1"))
    before = path.read_bytes()

    def interrupted_fsync(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(local_module.os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        backend.write(make_doc("vpc-2"))
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []


def test_process_killed_mid_write_leaves_the_old_file(path: Path) -> None:
    """A real crash: the writer is SIGKILLed with the new temp file written, just before rename."""
    LocalBackend(path).write(make_doc("vpc-1"))
    before = path.read_bytes()
    script = """
import os, sys
from pathlib import Path
from provisioner.store import local
from provisioner.store.document import StateDocument

local.os.replace = lambda src, dst: os.kill(os.getpid(), 9)
local.LocalBackend(Path(sys.argv[1])).write(StateDocument.new("dev", "us-east-1"))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], env=env, cwd=REPO, check=False
    )
    assert result.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert LocalBackend(path).read() == StateDocument.from_json(before.decode(), str(path))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: text[: len(text) // 2], "not valid JSON"),
        (lambda text: text.replace('"vpc-1"', "42"), "resources.vpc.id must be a string"),
        (lambda text: text.replace('"format_version": 1', '"format_version": 2'), "newer smprov"),
        (lambda text: "", "the file is empty"),
    ],
    ids=["truncated", "schema failure", "newer format", "empty"],
)
def test_damaged_file_raises_and_is_left_untouched(path: Path, damage, message: str) -> None:
    backend = LocalBackend(path)
    backend.write(make_doc())
    path.write_text(damage(path.read_text()))
    before = path.read_bytes()
    stat_before = path.stat()
    with pytest.raises(StateError) as info:
        backend.read()
    assert message in info.value.message
    assert str(path) in info.value.message
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == stat_before.st_mtime_ns
    assert sorted(p.name for p in path.parent.iterdir()) == ["dev.json"]


def test_non_utf8_file_is_reported(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"stack": "\xff"}')
    with pytest.raises(StateError, match="not UTF-8"):
        LocalBackend(path).read()


def test_unreadable_path_is_a_state_error(path: Path) -> None:
    path.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(StateError, match="cannot read state file"):
        LocalBackend(path).read()


# -- lock -----------------------------------------------------------------------------------


def test_lock_records_the_holder_and_clears_it_on_exit(path: Path) -> None:
    backend = LocalBackend(path)
    with backend.lock("up"):
        info = LockInfo.from_json(backend.lock_path.read_text())
        assert info is not None
        assert (info.pid, info.host, info.operation) == (os.getpid(), socket.gethostname(), "up")
    assert not backend.lock_path.exists()  # nothing left behind
    assert not path.parent.exists()  # nor the folder made for it
    assert backend.last_lock_note is None
    with backend.lock("down"):  # free again
        pass


def test_lock_is_released_when_the_block_raises(path: Path) -> None:
    backend = LocalBackend(path)
    with pytest.raises(RuntimeError), backend.lock("up"):
        raise RuntimeError("step failed")
    with backend.lock("up"):
        pass


def test_second_lock_in_the_same_process_is_refused(path: Path) -> None:
    backend = LocalBackend(path)
    with (
        backend.lock("up"),
        pytest.raises(LockError, match=f"pid {os.getpid()}"),
        LocalBackend(path).lock("down"),
    ):
        pass


def test_lock_held_by_another_process_fails_at_once_naming_it(
    path: Path, holder: subprocess.Popen[str]
) -> None:
    started = time.monotonic()
    with pytest.raises(LockError) as info, LocalBackend(path).lock("down"):
        pass
    assert time.monotonic() - started < 1.0
    assert info.value.message.startswith(
        f"state {path} is locked by pid {holder.pid} on host {socket.gethostname()} since "
    )
    assert info.value.message.endswith("(smprov up)")
    assert "smprov unlock" in (info.value.hint or "")


def test_lock_of_a_killed_holder_is_taken_over(path: Path, holder: subprocess.Popen[str]) -> None:
    kill(holder)
    backend = LocalBackend(path)
    with backend.lock("up"):
        assert backend.last_lock_note is not None
        assert f"left by pid {holder.pid} on host {socket.gethostname()}" in backend.last_lock_note
        info = LockInfo.from_json(backend.lock_path.read_text())
        assert info is not None and info.pid == os.getpid()


def test_unlock_refuses_while_the_holder_lives_then_works(
    path: Path, holder: subprocess.Popen[str]
) -> None:
    backend = LocalBackend(path)
    with pytest.raises(LockError) as info:
        backend.unlock()
    assert f"held by a running process pid {holder.pid}; stop it first" in info.value.message
    assert backend.lock_path.exists()

    kill(holder)
    removed = backend.unlock()
    assert f"pid {holder.pid} on host {socket.gethostname()}" in removed
    assert "(smprov up)" in removed
    assert not backend.lock_path.exists()
    with backend.lock("up"):
        assert backend.last_lock_note is None


def test_unlock_without_a_lock_says_so(path: Path) -> None:
    assert LocalBackend(path).unlock() == f"no lock on {path}: nothing to remove"


def test_unlock_removes_an_unheld_lock_file(path: Path) -> None:
    backend = LocalBackend(path)
    path.parent.mkdir(parents=True)
    backend.lock_path.write_text("")  # left by a smprov older than the removal on release
    assert backend.unlock() == f"removed the unheld lock file {backend.lock_path}"
    assert not backend.lock_path.exists()


def test_a_released_lock_keeps_a_folder_that_holds_the_state(path: Path) -> None:
    backend = LocalBackend(path)
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    with backend.lock("up"):
        pass
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_unlock_breaks_a_lock_recorded_for_another_host(path: Path) -> None:
    """A holder on another host cannot be checked from here; the user asked to break it."""
    backend = LocalBackend(path)
    path.parent.mkdir(parents=True)
    other = LockInfo("build-7", 4242, T0, "up", "0.1.0")
    backend.lock_path.write_text(other.to_json())
    assert backend.unlock() == (
        f"removed the lock on {path} held by pid 4242 on host build-7 since {T0} (smprov up)"
    )


def test_lock_info_round_trips_and_ignores_garbage() -> None:
    info = LockInfo("build-7", 4242, T0, "up", "0.1.0")
    assert LockInfo.from_json(info.to_json()) == info
    assert info.describe() == f"pid 4242 on host build-7 since {T0} (smprov up)"
    for text in ["", "{", "[]", json.dumps({"pid": "1"}), info.to_json().replace("4242", "true")]:
        assert LockInfo.from_json(text) is None


def test_stale_temp_files_of_the_same_state_are_removed_under_the_lock(path: Path) -> None:
    """A writer SIGKILLed between mkstemp and rename leaves ``.<state>.<random>.tmp`` behind;
    the next lock holder removes those of its own state (and nothing else)."""
    LocalBackend(path).write(make_doc("vpc-1"))
    before = path.read_bytes()
    stale = [path.parent / f".{path.name}.ab12cd_3.tmp", path.parent / f".{path.name}.zzzzzzzz.tmp"]
    other_state = path.parent / f".{path.name}.other.json.ab12cd34.tmp"
    user_file = path.parent / f".{path.name}.notes.tmp"
    for leftover in [*stale, other_state, user_file]:
        leftover.write_text("{")
    with LocalBackend(path).lock("up"):
        assert [p for p in stale if p.exists()] == []
    assert other_state.exists() and user_file.exists()
    assert path.read_bytes() == before


def test_a_temp_file_left_by_a_killed_write_is_gone_after_the_next_lock(path: Path) -> None:
    test_process_killed_mid_write_leaves_the_old_file(path)
    assert leftovers(path.parent) != []
    with LocalBackend(path).lock("up"):
        pass
    assert leftovers(path.parent) == []
