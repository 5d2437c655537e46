"""The recorder: every change is on disk, complete and valid, before the call returns."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from provisioner.errors import StateError
from provisioner.store.document import StateDocument
from provisioner.store.local import LocalBackend
from provisioner.store.recorder import Recorder

T0 = "2026-11-25T17:00:00Z"
T1 = "2026-11-25T17:05:00Z"


class SpyBackend(LocalBackend):
    """A real file backend that reads the file back after every write and keeps what it saw."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.seen: list[StateDocument] = []
        self.fail_next = False

    def write(self, doc: StateDocument) -> None:
        if self.fail_next:
            self.fail_next = False
            raise StateError("cannot write state file: disk full")
        super().write(doc)
        stored = self.read()
        assert stored is not None
        self.seen.append(stored)


class Clock:
    def __init__(self, *times: str) -> None:
        self.times = list(times)

    def __call__(self) -> str:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


@pytest.fixture
def backend(tmp_path: Path) -> SpyBackend:
    return SpyBackend(tmp_path / "dev.json")


def new_recorder(backend: SpyBackend, clock: Clock | None = None) -> Recorder:
    doc = StateDocument.new("dev", "us-east-1")
    return Recorder(backend, doc, clock or Clock(T0))


def test_each_change_is_written_with_the_next_serial(backend: SpyBackend) -> None:
    recorder = new_recorder(backend)
    recorder.set_account("123456789012", "http://127.0.0.1:5000")
    recorder.intend("vpc", "vpc", "tok-1")
    recorder.record("vpc", "vpc", "vpc-1", {"cidr": "10.0.0.0/16"}, [])
    recorder.set_data("bucket_suffix", "x7f3k2")
    assert [doc.serial for doc in backend.seen] == [1, 2, 3, 4]
    assert recorder.write_count == 4
    on_disk = backend.read()
    assert on_disk == recorder.doc
    assert on_disk is not None
    assert on_disk.account == "123456789012"
    assert on_disk.endpoint == "http://127.0.0.1:5000"
    assert on_disk.resources["vpc"].id == "vpc-1"
    assert on_disk.data == {"bucket_suffix": "x7f3k2"}


def test_the_intent_is_on_disk_before_the_create_and_gone_after(backend: SpyBackend) -> None:
    recorder = new_recorder(backend)
    recorder.intend("nat_gateway.a", "nat_gateway", "tok-1")
    assert backend.seen[-1].intents["nat_gateway.a"].token == "tok-1"
    recorder.record("nat_gateway.a", "nat_gateway", "nat-1", {}, ["subnet.public.a"])
    assert backend.seen[-1].intents == {}
    assert backend.seen[-1].resources["nat_gateway.a"].depends_on == ("subnet.public.a",)


def test_clear_intent_and_forget(backend: SpyBackend) -> None:
    recorder = new_recorder(backend)
    recorder.intend("vpc", "vpc", "tok-1")
    recorder.clear_intent("vpc")
    assert backend.seen[-1].intents == {}
    recorder.record("vpc", "vpc", "vpc-1", {}, [])
    recorder.intend("vpc", "vpc", "tok-2")
    recorder.forget("vpc")
    assert backend.seen[-1].resources == {}
    assert backend.seen[-1].intents == {}


def test_record_keeps_created_at_and_moves_updated_at(backend: SpyBackend) -> None:
    recorder = new_recorder(backend, Clock(T0, T1))
    recorder.record("vpc", "vpc", "vpc-1", {"a": 1}, [])
    recorder.record("vpc", "vpc", "vpc-1", {"a": 2}, [])
    record = backend.seen[-1].resources["vpc"]
    assert (record.created_at, record.updated_at) == (T0, T1)
    assert record.attrs == {"a": 2}


def test_a_refused_change_writes_nothing(backend: SpyBackend) -> None:
    recorder = new_recorder(backend)
    recorder.record("vpc", "vpc", "vpc-1", {}, [])
    with pytest.raises(ValueError, match="looks like a credential"):
        recorder.record("role", "role", "r", {"SecretAccessKey": "S"}, [])
    with pytest.raises(ValueError, match="invalid key"):
        recorder.record("Bad Key", "vpc", "vpc-2", {}, [])
    assert recorder.write_count == 1
    assert recorder.doc == backend.seen[-1]


def test_a_failed_write_keeps_the_change_for_the_next_write(backend: SpyBackend) -> None:
    """The resource exists in AWS even if the disk said no: the next write must still carry it."""
    recorder = new_recorder(backend)
    backend.fail_next = True
    with pytest.raises(StateError):
        recorder.record("vpc", "vpc", "vpc-1", {}, [])
    assert backend.read() is None
    recorder.record("subnet.a", "subnet", "subnet-1", {}, ["vpc"])
    stored = backend.read()
    assert stored is not None
    assert set(stored.resources) == {"vpc", "subnet.a"}
    assert stored.serial == recorder.write_count == 1


def test_snapshot_is_a_copy(backend: SpyBackend) -> None:
    recorder = new_recorder(backend)
    recorder.record("vpc", "vpc", "vpc-1", {"tags": {"Name": "a"}}, [])
    copy = recorder.doc
    copy.resources["vpc"].attrs["tags"]["Name"] = "changed"
    copy.serial = 99
    assert recorder.doc.resources["vpc"].attrs == {"tags": {"Name": "a"}}
    assert recorder.doc.serial == 1


def test_the_callers_document_is_not_shared(backend: SpyBackend) -> None:
    doc = StateDocument.new("dev", "us-east-1")
    recorder = Recorder(backend, doc)
    recorder.record("vpc", "vpc", "vpc-1", {}, [])
    assert doc.resources == {} and doc.serial == 0


def test_a_caller_returns_only_once_its_change_is_on_disk(backend: SpyBackend) -> None:
    recorder = new_recorder(backend)
    start = threading.Barrier(6)
    missing: list[str] = []

    def worker(n: int) -> None:
        start.wait()
        key = f"subnet.t{n}"
        recorder.record(key, "subnet", f"subnet-{n}", {}, [])
        on_disk = backend.read()
        if on_disk is None or key not in on_disk.resources:
            missing.append(key)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(worker, range(6)))
    assert missing == []


def test_concurrent_records_from_8_threads(backend: SpyBackend) -> None:
    recorder = new_recorder(backend)
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        start.wait()
        for i in range(10):
            key = f"subnet.t{n}.r{i}"
            recorder.intend(key, "subnet", f"tok-{n}-{i}")
            recorder.record(key, "subnet", f"subnet-{n}-{i}", {"n": n, "i": i}, ["vpc"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(worker, range(8)))

    final = backend.read()
    assert final is not None
    assert set(final.resources) == {f"subnet.t{n}.r{i}" for n in range(8) for i in range(10)}
    assert final.intents == {}
    # Concurrent changes share writes (group commit): never more writes than changes, and the
    # serial counts the writes exactly.
    assert 1 <= recorder.write_count <= 160
    assert final.serial == recorder.write_count
    assert [doc.serial for doc in backend.seen] == list(range(1, recorder.write_count + 1))
    # every write was a complete document: each one holds all the records of the one before
    for older, newer in zip(backend.seen, backend.seen[1:], strict=False):
        assert set(older.resources) <= set(newer.resources)


class GatedBackend(SpyBackend):
    """Holds every write until the test opens the gate."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()

    def write(self, doc: StateDocument) -> None:
        assert self.gate.wait(timeout=10)
        super().write(doc)


def test_a_deletion_is_written_in_the_background_and_flush_waits_for_it(tmp_path: Path) -> None:
    backend = GatedBackend(tmp_path / "dev.json")
    backend.gate.set()
    recorder = new_recorder(backend)
    recorder.record("vpc", "vpc", "vpc-1", {}, [])
    backend.gate.clear()

    recorder.forget("vpc", wait=False)  # returns although the write cannot happen yet
    on_disk = backend.read()
    assert on_disk is not None and "vpc" in on_disk.resources

    backend.gate.set()
    recorder.flush()
    on_disk = backend.read()
    assert on_disk is not None and on_disk.resources == {}
    assert on_disk.serial == recorder.serial


def test_a_background_write_that_failed_is_raised_by_flush(tmp_path: Path) -> None:
    backend = FullDiskBackend(tmp_path / "dev.json")
    recorder = new_recorder(backend)
    recorder.record("vpc", "vpc", "vpc-1", {}, [])
    backend.full = True
    recorder.forget("vpc", wait=False)  # the background write fails: nobody is waiting
    with pytest.raises(StateError, match="disk full"):
        recorder.flush()  # tries once more, fails, says so
    backend.full = False
    recorder.flush()  # the disk has room again: the deletion lands
    on_disk = backend.read()
    assert on_disk is not None and on_disk.resources == {}


class FullDiskBackend(SpyBackend):
    """Every write fails while ``full`` is set."""

    full = False

    def write(self, doc: StateDocument) -> None:
        if self.full:
            raise StateError("cannot write state file: disk full")
        super().write(doc)
