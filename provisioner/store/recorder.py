"""The thread-safe recorder: every change the engine makes reaches disk at once.

The executor runs steps on a thread pool; each step calls the recorder the moment AWS confirms a
change. One lock serialises the mutations, one more the writes, so every file written is a
complete, valid document whose serial is exactly one more than the previous one.

What exists is on disk before the step that made it is reported (an id must be recorded before
anything builds on it). A deletion is written at once too, but by a background write the step
does not wait for: a crash before it lands leaves a resource recorded that is gone, which the next
refresh finds missing and drops, so the teardown's chain need not pay an fsync per step.
``flush`` waits for every change and raises a failed background write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from provisioner.store.backend import StateBackend
from provisioner.store.document import StateDocument, utc_now


class Recorder:
    """Owns the live state document of a run and writes it after every change."""

    def __init__(
        self,
        backend: StateBackend,
        doc: StateDocument,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self._backend = backend
        self._doc = doc.copy()
        self._clock = clock
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        #: The background writer of unawaited changes (forgets), and its failure if any.
        self._background_lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._background_wanted = False
        self._background_error: BaseException | None = None
        #: Changes made (``_made``) and changes known to be on disk (``_written``).
        self._made = 0
        self._written = 0
        self.write_count = 0

    @property
    def doc(self) -> StateDocument:
        """A deep copy of the current document (safe to read while other threads record)."""
        with self._lock:
            return self._doc.copy()

    @property
    def serial(self) -> int:
        """The current serial, without copying the document."""
        with self._lock:
            return self._doc.serial

    def record(
        self,
        key: str,
        kind: str,
        id: str,
        attrs: Mapping[str, Any],
        depends_on: Iterable[str] = (),
    ) -> None:
        """A resource exists in AWS with this id; clears its intent."""
        deps = tuple(depends_on)
        self._change(lambda doc, now: doc.put_resource(key, kind, id, attrs, deps, now))

    def keep(self, key: str, reason: str | None) -> None:
        """A `down` kept this resource (``reason``), or (None) it is the stack's again."""
        self._change(lambda doc, now: doc.mark_kept(key, reason, now))

    def forget(self, key: str, *, wait: bool = True) -> None:
        """A resource is gone from AWS (or was never there); clears its intent too. With
        ``wait=False`` the write happens in the background (see the module docstring)."""
        self._change(lambda doc, _now: doc.drop_resource(key), wait=wait)

    def intend(self, key: str, kind: str, token: str, name: str | None = None) -> None:
        """A create is about to start with this client token (and, for a name-keyed resource,
        this name); written before the AWS call."""
        self._change(lambda doc, now: doc.put_intent(key, kind, token, now, name))

    def clear_intent(self, key: str) -> None:
        """The create did not happen after all (it failed before AWS made anything)."""
        self._change(lambda doc, _now: doc.drop_intent(key))

    def set_data(self, name: str, value: str) -> None:
        """Keep a generated value so later runs reuse it."""
        self._change(lambda doc, _now: doc.put_data(name, value))

    def set_account(self, account: str | None, endpoint: str | None) -> None:
        """Record the AWS account (and custom endpoint) the stack lives in."""
        self._change(lambda doc, _now: doc.set_account(account, endpoint))

    def flush(self) -> None:
        """Return once every change is on disk; raise if a background write failed (the
        changes stay in memory and this makes one more attempt first)."""
        with self._background_lock:
            writer = self._background
        if writer is not None:
            writer.join()
        with self._lock:
            made = self._made
        error, self._background_error = self._background_error, None
        try:
            self._write_through(made)
        except BaseException:
            if error is not None:
                raise error from None
            raise

    def _kick(self) -> None:
        """Have the background writer write what has been changed (starting it if idle)."""
        with self._background_lock:
            self._background_wanted = True
            if self._background is None:
                self._background = threading.Thread(
                    target=self._write_in_background, name="state-writer", daemon=True
                )
                self._background.start()

    def _write_in_background(self) -> None:
        while True:
            with self._background_lock:
                if not self._background_wanted or self._background_error is not None:
                    self._background = None
                    return
                self._background_wanted = False
            with self._lock:
                made = self._made
            try:
                self._write_through(made)
            except BaseException as exc:  # flush (or the next awaited change) reports it
                with self._background_lock:
                    self._background_error = exc

    def _change(self, mutate: Callable[[StateDocument, str], object], *, wait: bool = True) -> None:
        """Apply ``mutate``, then make sure it is on disk before returning.

        An invalid change (ValueError) leaves the document untouched. If the write fails the
        change stays in memory, because it is true of AWS, and the next write carries it; the
        serial is rolled back so it still counts the writes that happened. Concurrent changes
        share writes (group commit): the serial counts writes, not changes.
        """
        with self._lock:
            mutate(self._doc, self._clock())
            self._made += 1
            mine = self._made
        if wait:
            self._write_through(mine)
        else:
            self._kick()

    def _write_through(self, mine: int) -> None:
        """Return once change number ``mine`` (and every one before it) is on disk."""
        # Group commit: one writer at a time; a write carries every change made before it, so a
        # caller whose change another thread's write already carried returns at once. Either
        # way no caller returns before its change is on disk.
        with self._write_lock:
            if self._written >= mine:
                return
            with self._lock:
                covered = self._made
                self._doc.serial += 1
                # Records are immutable: a shared copy is a consistent document, and
                # writing it outside the lock lets other steps record meanwhile (their changes
                # ride on the next write instead of queueing behind this one's fsync).
                frozen = self._doc.shared_copy()
            try:
                self._backend.write(frozen)
            except BaseException:
                with self._lock:
                    self._doc.serial -= 1
                raise
            self._written = covered
            self.write_count += 1
