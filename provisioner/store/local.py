"""The local file backend: one JSON file, atomic replace, and an OS lock beside it.

Atomicity comes from writing a temporary file in the same directory, fsyncing it and
``os.replace``-ing it onto the target, so a reader (or a crash) sees the old file or the new
one. The lock is ``flock`` on ``<state>.lock``: the kernel releases it when the holder dies, so
a lock can never outlive its process on this host, and no check-then-create race exists.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from provisioner.errors import LockError, StateError
from provisioner.store.backend import LockInfo
from provisioner.store.document import DAMAGED_HINT, StateDocument

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
_ACQUIRE_ATTEMPTS = 5


class LocalBackend:
    """State in a local JSON file (mode 0600), locked with ``flock`` on ``<path>.lock``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + LOCK_SUFFIX)
        self.last_lock_note: str | None = None
        """Set by ``lock`` when it took over a lock left by a dead process; None otherwise."""

    def describe(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def set_aside(self, suffix: str) -> Path:
        """Rename the state file to ``<file><suffix>`` (under the lock): kept, no longer used.
        A file set aside before under that name stays: this one becomes ``<file><suffix>-2``
        (``-3``, ...)."""
        target = self.path.with_name(self.path.name + suffix)
        taken = 1
        while target.exists():
            taken += 1
            target = self.path.with_name(f"{self.path.name}{suffix}-{taken}")
        try:
            os.replace(self.path, target)
        except OSError as exc:
            raise StateError(f"cannot move {self.path} aside: {exc.strerror}") from None
        return target

    def read(self) -> StateDocument | None:
        """The document, or None if the file does not exist; the file is never modified here."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StateError(
                f"state file {self.path}: not UTF-8 text (byte {exc.start})", DAMAGED_HINT
            ) from None
        return StateDocument.from_json(text, str(self.path))

    def write(self, doc: StateDocument) -> None:
        """Atomically replace the file: temp file, fsync, ``os.replace``, fsync the directory."""
        data = doc.to_json().encode("utf-8")
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(
                dir=directory, prefix=f".{self.path.name}.", suffix=".tmp"
            )
        except OSError as exc:
            raise StateError(f"cannot write state file {self.path}: {exc.strerror}") from None
        try:
            # mkstemp creates the file 0600 and os.replace keeps that mode on the target.
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, self.path)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            if isinstance(exc, OSError):
                raise StateError(
                    f"cannot write state file {self.path}: {exc.strerror or exc}",
                    "the previous state file is unchanged; fix the cause and run again",
                ) from None
            raise
        try:
            _fsync_directory(directory)
        except OSError as exc:
            raise StateError(
                f"wrote state file {self.path} but could not sync its directory: {exc.strerror}"
            ) from None

    @contextlib.contextmanager
    def lock(self, operation: str) -> Iterator[None]:
        """Hold ``flock(LOCK_EX)`` on the lock file for the block; fail at once if it is held.

        The lock file is removed when the block ends (as are the folders made for it, while
        empty): a read-only `plan` leaves nothing behind. A process that opened the old file
        meanwhile finds it is no longer the lock file and opens the new one (``_acquire``)."""
        self.last_lock_note = None
        made = [
            d for d in (self.lock_path.parent, *self.lock_path.parent.parents) if not d.exists()
        ]
        fd = self._acquire()
        try:
            previous = _read_holder(fd)
            if previous is not None:
                self.last_lock_note = (
                    f"took over the lock on {self.path} left by {previous.describe()}: "
                    "that process has ended"
                )
                log.warning("%s", self.last_lock_note)
            _rewrite(fd, LockInfo.current(operation).to_json())
            self._remove_stale_temp_files()
            try:
                yield
            finally:
                _rewrite(fd, "")
                with contextlib.suppress(OSError):
                    os.unlink(self.lock_path)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock
            for folder in made:  # deepest first; one holding anything stays
                try:
                    folder.rmdir()
                except OSError:
                    break

    def _remove_stale_temp_files(self) -> None:
        """Temp files of this state left by a writer killed between create and rename: only a
        lock holder writes, so under the lock none of them can be in use."""
        pattern = re.compile(rf"^\.{re.escape(self.path.name)}\.[A-Za-z0-9_]{{8}}\.tmp$")
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return
        for name in names:
            if pattern.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(self.path.parent / name)
                    log.info("removed %s, left by a state write that never finished", name)

    def _acquire(self) -> int:
        """Open and flock the lock file; retry if ``unlock`` removed it between open and flock.

        Without the inode check two processes could each lock a different file of the same name.
        """
        for _ in range(_ACQUIRE_ATTEMPTS):
            fd = self._open_lock_file()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise self._locked_error(holder) from None
            if _same_file(fd, self.lock_path):
                return fd
            os.close(fd)
        raise LockError(
            f"could not lock {self.path}: its lock file keeps being removed",
            "is another smprov running `smprov unlock` in a loop?",
        )

    def unlock(self) -> str:
        """Remove a lock left behind, refusing if a live process on this host still holds it."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR)
        except FileNotFoundError:
            return f"no lock on {self.path}: nothing to remove"
        except OSError as exc:
            raise StateError(f"cannot open lock file {self.lock_path}: {exc.strerror}") from None
        try:
            holder = _read_holder(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if holder is None or (holder.host == socket.gethostname() and _alive(holder.pid)):
                    who = f"pid {holder.pid}" if holder else "an unknown pid"
                    raise LockError(
                        f"the lock on {self.path} is held by a running process {who}; "
                        "stop it first",
                        "wait for it to finish, or stop that process, then run `smprov unlock`",
                    ) from None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock_path)
        finally:
            os.close(fd)
        if holder is None:
            return f"removed the unheld lock file {self.lock_path}"
        return f"removed the lock on {self.path} held by {holder.describe()}"

    def _open_lock_file(self) -> int:
        for _ in range(_ACQUIRE_ATTEMPTS):
            try:
                self.lock_path.parent.mkdir(parents=True, exist_ok=True)
                return os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except FileNotFoundError:
                continue  # a releasing holder removed the empty folder in between: make it again
            except OSError as exc:
                raise StateError(
                    f"cannot open lock file {self.lock_path}: {exc.strerror}"
                ) from None
        raise StateError(f"cannot open lock file {self.lock_path}: its folder keeps disappearing")

    def _locked_error(self, holder: LockInfo | None) -> LockError:
        who = holder.describe() if holder else "another process (holder not recorded yet)"
        return LockError(
            f"state {self.path} is locked by {who}",
            "wait for it to finish; if that process is gone, run `smprov unlock`",
        )


def _read_holder(fd: int) -> LockInfo | None:
    """The holder recorded in the lock file; reads by offset, so the fd position is irrelevant."""
    chunks: list[bytes] = []
    offset = 0
    while chunk := os.pread(fd, 65536, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return LockInfo.from_json(b"".join(chunks).decode("utf-8", errors="replace"))


def _rewrite(fd: int, text: str) -> None:
    """Replace the lock file's content in place (the file itself must stay: it carries the lock)."""
    os.ftruncate(fd, 0)
    if text:
        os.pwrite(fd, text.encode("utf-8"), 0)
    os.fsync(fd)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not one unlinked since it was opened)."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (signal 0 probes without killing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it just belongs to someone else
    return True


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; some filesystems cannot fsync a directory (EINVAL)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)
