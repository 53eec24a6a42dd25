"""Purpose tagging: which purposes a message (and so its conversation) may serve.

Interface used by ``chatwarden redact`` and the ingest path; the rules are compiled from
the policy files (filled in by the policies work, issue 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TagInput:
    text: str
    entity_types: frozenset[str] = frozenset()
    conversation_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PurposeTagger:
    def message_purposes(self, message: TagInput) -> frozenset[str]:
        return frozenset()

    def tag_conversations(self, messages: Sequence[TagInput]) -> list[tuple[str, ...]]:
        """Purposes per message, conversation-scoped: the union over its conversation."""
        own = [self.message_purposes(m) for m in messages]
        by_conv: dict[str, set[str]] = {}
        for m, p in zip(messages, own, strict=True):
            if m.conversation_id is not None:
                by_conv.setdefault(m.conversation_id, set()).update(p)
        return [
            tuple(sorted(by_conv[m.conversation_id] if m.conversation_id is not None else p))
            for m, p in zip(messages, own, strict=True)
        ]


def load_default_tagger() -> PurposeTagger:
    return PurposeTagger()
