"""Errors of the audit trail. Messages name the kind of problem and the fix, never content."""

from __future__ import annotations

from proxy.errors import ChatwardenError


class AuditError(ChatwardenError):
    """Base class of every audit error."""


class AuditUnavailable(AuditError):
    """The audit store could not durably record an event (unwritable, stalled or
    overloaded). Callers must fail closed: answer 503 and return no data."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        # One of "unwritable", "timeout", "backlog": the /metrics label.
        self.cause = cause


class InvalidEvent(AuditError):
    """An audit event was built with a field that is not allowed (wrong kind, too long,
    not a keyed hash...)."""


class EventNotFound(AuditError):
    """No audit event carries the requested id."""


class VerificationFailed(AuditError):
    """The trail, a proof, a checkpoint or a bundle does not verify."""
