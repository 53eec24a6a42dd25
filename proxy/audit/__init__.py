"""Tamper-evident audit trail: an RFC 9162 Merkle log of audit events with signed
checkpoints, stores on SQLite and PostgreSQL, verification and proofs.

The service calls :meth:`AuditTrail.record` before returning any data; see
:mod:`proxy.audit.log` for the fail-closed contract.
"""

from proxy.audit.errors import AuditError, AuditUnavailable, InvalidEvent, VerificationFailed
from proxy.audit.events import EVENT_KINDS, Actor, AuditEvent, Decision
from proxy.audit.log import AuditMetrics, AuditQuery, AuditTrail, CheckpointPolicy

__all__ = [
    "EVENT_KINDS",
    "Actor",
    "AuditError",
    "AuditEvent",
    "AuditMetrics",
    "AuditQuery",
    "AuditTrail",
    "AuditUnavailable",
    "CheckpointPolicy",
    "Decision",
    "InvalidEvent",
    "VerificationFailed",
]
