"""Errors a user can act on.

Every failure smprov expects is one of these: the CLI turns it into a one-line message (plus a hint)
and an exit code. A Python traceback reaching the user is a bug.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


class SmprovError(Exception):
    """Base of every expected failure; ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(SmprovError):
    """The command line itself is wrong (exit 2)."""

    exit_code = 2


class ConfigError(SmprovError):
    """The configuration is invalid: one entry in ``problems`` per bad field (exit 2).

    ``partial`` is the configuration with each ``invalid`` key at its default, when the file was
    readable and its region valid: the AWS-side checks of the valid keys still run on it, so one
    run reports every problem."""

    exit_code = 2

    def __init__(
        self,
        problems: list[str],
        hint: str | None = None,
        *,
        partial: Any = None,
        invalid: Collection[str] = (),
    ) -> None:
        self.problems = list(problems)
        self.partial = partial
        self.invalid = frozenset(invalid)
        message = "invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message, hint)


class StateError(SmprovError):
    """The state file is missing, damaged, from a newer smprov, or belongs elsewhere."""


class LockError(SmprovError):
    """Another smprov holds the state lock."""


class AwsError(SmprovError):
    """AWS refused or failed a call; carries AWS's own error code and message."""

    def __init__(
        self,
        message: str,
        code: str | None = None,
        operation: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.code = code
        self.operation = operation


class NameTaken(AwsError):
    """A create found its name held by a resource that is not this stack's, so it made nothing.
    The engine drops the create's intent: no later run may take that resource for the one the
    create made (an intent's name is adopted untagged, as what a killed create left)."""
