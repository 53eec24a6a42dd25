"""The library's front door: :class:`Redactor`.

``redact_batch`` handles many messages (grouped into conversations in ``seq`` order);
``redact`` is the same as a coroutine that never blocks the event loop: detection runs
in a process pool (or a thread when ``workers == 0``).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field

from redact.engine import Engine
from redact.operators import ConversationState, OperatorTable
from redact.registry import RedactConfig, build_engine
from redact.span import Span


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    text: str
    conversation_id: str | None = None
    seq: int | None = None
    lang: str | None = None
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class Redaction:
    """The outcome for one message: redacted text and spans in original offsets."""

    id: str
    redacted: str
    spans: tuple[Span, ...]
    conversation_id: str | None = None


def render(text: str, spans: Sequence[Span], operators: OperatorTable, state: ConversationState) -> str:
    """Replace each (resolved, sorted) span in one pass over the text."""
    parts: list[str] = []
    pos = 0
    for s in spans:
        parts.append(text[pos : s.start])
        parts.append(operators.for_type(s.type).apply(s.type, text[s.start : s.end], state))
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


# --- worker-process side -------------------------------------------------------------

_WORKER_ENGINE: Engine | None = None


def _worker_init(config: RedactConfig) -> None:
    global _WORKER_ENGINE
    if _WORKER_ENGINE is None:  # inherited from the parent under fork
        _WORKER_ENGINE = build_engine(config)


def _worker_analyze(texts: list[str]) -> list[tuple[Span, ...]]:
    assert _WORKER_ENGINE is not None
    return _WORKER_ENGINE.analyze(texts)


@dataclass
class Redactor:
    """Detect and redact; owns the engine and, when ``workers > 0``, a process pool."""

    config: RedactConfig
    operators: OperatorTable = field(default_factory=OperatorTable)
    state_key: bytes = field(default=b"", repr=False)
    engine: Engine | None = None
    _pool: Executor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.state_key:
            self.state_key = os.urandom(32)

    # -- lifecycle --
    def start(self) -> Redactor:
        global _WORKER_ENGINE
        if self.engine is None:
            self.engine = build_engine(self.config)
        if self.config.workers > 0 and self._pool is None:
            # Under fork, workers inherit the loaded model instead of loading their own.
            _WORKER_ENGINE = self.engine
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(
                self.config.workers,
                mp_context=mp.get_context(method),
                initializer=_worker_init,
                initargs=(self.config,),
            )
        elif self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="redact")
        return self

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Redactor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- detection --
    def _chunks(self, texts: list[str]) -> list[list[str]]:
        size = self.config.chunk_size
        return [texts[i : i + size] for i in range(0, len(texts), size)]

    def analyze(self, texts: Sequence[str]) -> list[tuple[Span, ...]]:
        """Spans per text in original offsets; repeated texts are analysed once."""
        self.start()
        assert self.engine is not None
        unique = list(dict.fromkeys(texts))
        if isinstance(self._pool, ProcessPoolExecutor) and len(unique) > self.config.chunk_size:
            results: list[tuple[Span, ...]] = []
            for part in self._pool.map(_worker_analyze, self._chunks(unique)):
                results.extend(part)
        else:
            results = self.engine.analyze(unique)
        by_text = dict(zip(unique, results, strict=True))
        return [by_text[t] for t in texts]

    async def analyze_async(self, texts: Sequence[str]) -> list[tuple[Span, ...]]:
        self.start()
        assert self._pool is not None and self.engine is not None
        loop = asyncio.get_running_loop()
        unique = list(dict.fromkeys(texts))
        if isinstance(self._pool, ProcessPoolExecutor):
            parts = await asyncio.gather(
                *(loop.run_in_executor(self._pool, _worker_analyze, c) for c in self._chunks(unique))
            )
            results = [r for p in parts for r in p]
        else:
            results = await loop.run_in_executor(self._pool, self.engine.analyze, unique)
        by_text = dict(zip(unique, results, strict=True))
        return [by_text[t] for t in texts]

    # -- redaction --
    def new_state(self) -> ConversationState:
        return ConversationState(self.state_key)

    def redact_batch(
        self,
        messages: Sequence[Message],
        states: Mapping[str, ConversationState] | None = None,
        previous: Mapping[str, str] | None = None,
    ) -> list[Redaction]:
        """Redact messages; those sharing a ``conversation_id`` form one conversation.

        ``states`` carries placeholder numbering from earlier batches (updated in
        place); ``previous`` gives, per conversation, the text of the message just
        before this batch, for the conversation window.
        """
        spans = self.analyze([m.text for m in messages])
        return self._finish(messages, spans, states, previous)

    async def redact(
        self,
        messages: Sequence[Message],
        states: Mapping[str, ConversationState] | None = None,
        previous: Mapping[str, str] | None = None,
    ) -> list[Redaction]:
        """:meth:`redact_batch` as a coroutine; detection runs off the event loop."""
        spans = await self.analyze_async([m.text for m in messages])
        return self._finish(messages, spans, states, previous)

    def _finish(
        self,
        messages: Sequence[Message],
        spans: list[tuple[Span, ...]],
        states: Mapping[str, ConversationState] | None,
        previous: Mapping[str, str] | None,
    ) -> list[Redaction]:
        assert self.engine is not None
        found: list[list[Span]] = [list(s) for s in spans]
        order = _conversation_order(messages)
        own_states: dict[str, ConversationState] = dict(states or {})
        for conv, idxs in order.items():
            prev_text = (previous or {}).get(conv) if conv is not None else None
            prev_idx: int | None = None
            for i in idxs:
                before = messages[prev_idx].text if prev_idx is not None else prev_text
                if conv is not None and before:
                    in_prev, in_cur = self.engine.analyze_boundary(before, messages[i].text)
                    found[i].extend(in_cur)
                    if prev_idx is not None:
                        found[prev_idx].extend(in_prev)
                prev_idx = i
        from redact.resolve import resolve

        resolved = [resolve(f) for f in found]
        out: list[Redaction | None] = [None] * len(messages)
        for conv, idxs in order.items():
            key = conv if conv is not None else ""
            state = own_states.get(key) if conv is not None else None
            if state is None:
                state = self.new_state()
                if conv is not None:
                    own_states[key] = state
                    if isinstance(states, dict):
                        states[key] = state
            for i in idxs:
                if conv is None:
                    state = self.new_state()
                m = messages[i]
                out[i] = Redaction(m.id, render(m.text, resolved[i], self.operators, state), resolved[i], conv)
        return [r for r in out if r is not None]


def _conversation_order(messages: Sequence[Message]) -> dict[str | None, list[int]]:
    """Indices of messages per conversation, in ``seq`` order (input order for ties)."""
    groups: dict[str | None, list[int]] = {}
    for i, m in enumerate(messages):
        groups.setdefault(m.conversation_id, []).append(i)
    for conv, idxs in groups.items():
        if conv is not None:
            idxs.sort(key=lambda i: (messages[i].seq if messages[i].seq is not None else 0, i))
    return groups


def redact_texts(redactor: Redactor, texts: Iterable[str]) -> list[str]:
    """Convenience for tests and notebooks: redact standalone texts."""
    msgs = [Message(str(i), t) for i, t in enumerate(texts)]
    return [r.redacted for r in redactor.redact_batch(msgs)]


