"""Where a state document lives: the contract every backend (local file, later S3) keeps."""

from __future__ import annotations

import json
import os
import socket
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from provisioner import __version__
from provisioner.store.document import StateDocument, utc_now


class StateBackend(Protocol):
    """Reads, writes and locks one stack's state.

    ``write`` must be atomic: after a crash the stored document is either the old one or the new
    one, never a mix. ``lock`` must exclude other smprov processes for its whole ``with`` block.
    """

    def describe(self) -> str:
        """Where the state lives, for messages (``state/dev.json``, ``s3://bucket/key``)."""
        ...

    def exists(self) -> bool:
        """Whether a state document is stored (damaged or not)."""
        ...

    def read(self) -> StateDocument | None:
        """The stored document, or None when there is none yet; StateError when damaged."""
        ...

    def write(self, doc: StateDocument) -> None:
        """Replace the stored document atomically."""
        ...

    def lock(self, operation: str) -> AbstractContextManager[None]:
        """Hold the state lock for ``operation`` (e.g. ``"up"``); LockError if someone has it."""
        ...

    def unlock(self) -> str:
        """Break a stale lock; return a description of what was removed (or that none was)."""
        ...


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock: written into the lock so a blocked user can see whom they wait for."""

    host: str
    pid: int
    since: str
    operation: str
    version: str

    @classmethod
    def current(cls, operation: str) -> LockInfo:
        """The holder description of this process, taking the lock now."""
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            since=utc_now(),
            operation=operation,
            version=__version__,
        )

    def describe(self) -> str:
        """``pid 4242 on host build-7 since 2026-11-25T17:00:00Z (smprov up)``."""
        return f"pid {self.pid} on host {self.host} since {self.since} (smprov {self.operation})"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LockInfo | None:
        """Parse lock-file text; None when it is empty or not ours (e.g. a half-written lock).

        Holder information is advisory (the OS lock is the truth), so a bad one is not an error.
        """
        try:
            raw: Any = json.loads(text)
        except ValueError:
            return None
        if not isinstance(raw, dict) or set(raw) != {
            "host",
            "pid",
            "since",
            "operation",
            "version",
        }:
            return None
        if not isinstance(raw["pid"], int) or isinstance(raw["pid"], bool):
            return None
        if not all(isinstance(raw[k], str) for k in ("host", "since", "operation", "version")):
            return None
        return cls(**raw)
