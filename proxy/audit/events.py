"""The audit event: who did what, for which purpose, under which case, and what was decided.

An event never holds chat text or a detected value. Data subjects appear only as keyed
hashes (:func:`subject_ref`, HMAC-SHA256 under the audit subject key), resources only as
ids and counts, the decision only as the policy's rule name and reason. The reader's
justification is the one free-text field; the service passes it through its redactor
before building the event and it is length-capped here.

Events encode to canonical JSON (sorted keys, no spaces, ASCII): the same event always
has the same bytes, so its Merkle leaf hash can be recomputed by anyone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from proxy.audit.errors import InvalidEvent

# Every kind of event the service records. Names are a stored contract: never rename one.
EVENT_KINDS: frozenset[str] = frozenset(
    {
        "read",  # a read of messages, allowed or denied
        "case.request",
        "case.approve",
        "case.refuse",
        "case.expire",
        "case.close",
        "case.export",
        "key.rotate",
        "key.rewrap",
        "key.retire",
        "erasure",
        "retention.run",
        "policy.load",
        "config.change",
        "audit.query",  # an auditor read the trail itself
        "subject.disclosures",  # a disclosure report was produced
    }
)

MAX_JUSTIFICATION = 1000
MAX_ID = 200
_SUBJECT_REF = re.compile(r"\A[0-9a-f]{64}\Z")
_DETAIL_KEY = re.compile(r"\A[a-z][a-z0-9_]{0,63}\Z")

DetailValue = str | int | bool


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: the token's id (never the token) and its role."""

    token_id: str
    role: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's verdict, as a value: allow or deny, the rule and a short reason."""

    allow: bool
    rule: str
    reason: str = ""

    @classmethod
    def of(cls, decision: Any) -> Decision:
        """Copy any decision value with ``allow``, ``rule`` and ``reason`` attributes (the
        policy engine's ``policies.model.Decision``) by name, never by position."""
        return cls(allow=bool(decision.allow), rule=str(decision.rule), reason=str(decision.reason))


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audited action. Build it with keyword arguments; ids and time have defaults."""

    kind: str
    actor: Actor
    decision: Decision
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    purpose: str | None = None
    case_id: str | None = None
    justification: str | None = None
    # Resources touched: message and conversation ids (never content) and how many.
    message_ids: tuple[str, ...] = ()
    conversation_ids: tuple[str, ...] = ()
    count: int = 0
    # Data subjects whose messages were touched, as keyed hashes (see subject_ref).
    subjects: tuple[str, ...] = ()
    # Small typed facts (key version, retention counts...); never content.
    detail: tuple[tuple[str, DetailValue], ...] = ()
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if not isinstance(self.decision, Decision):
            # The policy engine's Decision is accepted as is and copied by field name.
            try:
                object.__setattr__(self, "decision", Decision.of(self.decision))
            except AttributeError:
                raise InvalidEvent("decision must have allow, rule and reason") from None
        if self.kind not in EVENT_KINDS:
            raise InvalidEvent("unknown audit event kind; use one of EVENT_KINDS")
        if self.time.tzinfo is None:
            raise InvalidEvent("audit event time must be timezone-aware (UTC)")
        for name, value in (
            ("event_id", self.event_id),
            ("actor token id", self.actor.token_id),
            ("actor role", self.actor.role),
            ("decision rule", self.decision.rule),
        ):
            _check_id(name, value)
        for name, opt in (("purpose", self.purpose), ("case id", self.case_id)):
            if opt is not None:
                _check_id(name, opt)
        if len(self.decision.reason) > MAX_JUSTIFICATION:
            raise InvalidEvent("decision reason is too long; keep it under 1000 characters")
        if self.justification is not None and len(self.justification) > MAX_JUSTIFICATION:
            raise InvalidEvent("justification is too long; keep it under 1000 characters")
        for mid in (*self.message_ids, *self.conversation_ids):
            _check_id("resource id", mid)
        if self.count < 0:
            raise InvalidEvent("resource count must not be negative")
        for s in self.subjects:
            if not _SUBJECT_REF.match(s):
                raise InvalidEvent("subjects must be keyed hashes from subject_ref(), not raw ids")
        for key, fact in self.detail:
            if not _DETAIL_KEY.match(key):
                raise InvalidEvent("detail keys must be short snake_case names")
            if isinstance(fact, str):
                _check_id("detail value", fact)
            elif not isinstance(fact, int | bool):
                raise InvalidEvent("detail values must be short strings, integers or booleans")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form that is hashed into the log (see :func:`canonical`)."""
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "time": format_time(self.time),
            "actor": {"token_id": self.actor.token_id, "role": self.actor.role},
            "purpose": self.purpose,
            "case_id": self.case_id,
            "justification": self.justification,
            "resources": {
                "message_ids": list(self.message_ids),
                "conversation_ids": list(self.conversation_ids),
                "count": self.count,
            },
            "subjects": list(self.subjects),
            "decision": {
                "allow": self.decision.allow,
                "rule": self.decision.rule,
                "reason": self.decision.reason,
            },
            "detail": {k: v for k, v in self.detail},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuditEvent:
        """Rebuild an event from :meth:`to_dict` output; raise InvalidEvent if malformed."""
        try:
            res = d["resources"]
            dec = d["decision"]
            act = d["actor"]
            return cls(
                event_id=_str(d["event_id"]),
                kind=_str(d["kind"]),
                time=parse_time(_str(d["time"])),
                actor=Actor(token_id=_str(act["token_id"]), role=_str(act["role"])),
                purpose=_opt_str(d["purpose"]),
                case_id=_opt_str(d["case_id"]),
                justification=_opt_str(d["justification"]),
                message_ids=tuple(_str(x) for x in res["message_ids"]),
                conversation_ids=tuple(_str(x) for x in res["conversation_ids"]),
                count=_int(res["count"]),
                subjects=tuple(_str(x) for x in d["subjects"]),
                decision=Decision(
                    allow=_bool(dec["allow"]), rule=_str(dec["rule"]), reason=_str(dec["reason"])
                ),
                detail=tuple(sorted((str(k), v) for k, v in dict(d["detail"]).items())),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidEvent(f"malformed audit event ({type(exc).__name__})") from None


def subject_refs(hash_subject: Callable[[str], str], subject_ids: Iterable[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated keyed hashes of ``subject_ids`` using ``hash_subject``."""
    return tuple(sorted({hash_subject(s) for s in subject_ids}))


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z``: one spelling per instant."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> datetime:
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError("naive time")
    try:
        return t.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range") from None


def _check_id(name: str, value: str) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise InvalidEvent(f"{name} must be a non-empty string of at most {MAX_ID} characters")


def _str(x: Any) -> str:
    if not isinstance(x, str):
        raise TypeError("expected a string")
    return x


def _opt_str(x: Any) -> str | None:
    return None if x is None else _str(x)


def _int(x: Any) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise TypeError("expected an integer")
    return x


def _bool(x: Any) -> bool:
    if not isinstance(x, bool):
        raise TypeError("expected a boolean")
    return x


def read_event(
    *,
    actor: Actor,
    decision: Any,
    purpose: str | None,
    messages: Iterable[Any],
    hash_subject: Callable[[str], str],
    case_id: str | None = None,
    justification: str | None = None,
    time: datetime | None = None,
) -> AuditEvent:
    """The audit event of one read, built from the messages it returns.

    ``messages`` are stored messages (anything with ``message_id``, ``conversation_id``,
    ``sender_id`` and optionally ``recipient_id``): their ids become the resources, and
    both parties become the data subjects, as keyed hashes — which is what makes the
    disclosure report of a subject complete. A denied read passes no messages.
    """
    msgs = list(messages)
    subjects: list[str] = []
    for m in msgs:
        subjects.append(str(m.sender_id))
        recipient = getattr(m, "recipient_id", None)
        if recipient:
            subjects.append(str(recipient))
    return AuditEvent(
        kind="read",
        actor=actor,
        decision=Decision.of(decision),
        time=time if time is not None else datetime.now(UTC),
        purpose=purpose,
        case_id=case_id,
        justification=justification,
        message_ids=tuple(str(m.message_id) for m in msgs),
        conversation_ids=tuple(sorted({str(m.conversation_id) for m in msgs})),
        count=len(msgs),
        subjects=subject_refs(hash_subject, subjects),
    )
