"""The library's front door: :class:`Redactor`.

``redact_batch`` handles many messages (grouped into conversations in ``seq`` order);
``redact`` is the same as a coroutine that never blocks the event loop: detection runs
in a process pool (or a thread when ``workers == 0``).

Where the CPU goes: detection (patterns, NER) and the conversation window's boundary
check run in the pool; only resolution and rendering (cheap, and they need the
conversation's placeholder state) run in the caller. Concurrent :meth:`Redactor.redact`
calls are *coalesced*: while the pool is busy, new calls queue, and everything queued
goes to the pool as one call when a worker frees up (group commit, for detection). An
idle redactor sends each call at once, so coalescing adds no latency; under load it
shares the per-call cost (pickling, pipe round trip, ``nlp.pipe`` set-up) between calls.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from redact.engine import Engine
from redact.ner import single_blas_thread
from redact.operators import ConversationState, OperatorTable
from redact.registry import RedactConfig, build_engine
from redact.resolve import resolve
from redact.span import Span
from redact.workers import WorkerPool


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


def render(
    text: str, spans: Sequence[Span], operators: OperatorTable, state: ConversationState
) -> str:
    """Replace each (resolved, sorted) span in one pass over the text."""
    parts: list[str] = []
    pos = 0
    for s in spans:
        parts.append(text[pos : s.start])
        parts.append(operators.for_type(s.type).apply(s.type, text[s.start : s.end], state))
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


# A boundary pair: (text before, text after) two consecutive messages of a conversation.
Pair = tuple[str, str]
# The boundary check's answer for a pair: (spans in the text before, spans in the text after).
Boundary = tuple[tuple[Span, ...], tuple[Span, ...]]


def run_detection(
    engine: Engine, texts: Sequence[str], pairs: Sequence[Pair]
) -> tuple[list[tuple[Span, ...]], list[Boundary]]:
    """Spans per text and boundary spans per pair; what one pool call computes."""
    spans = engine.analyze(texts) if texts else []
    bounds = [engine.analyze_boundary(before, after) for before, after in pairs]
    return spans, bounds


# Pool calls each detection worker may hold at once: the one it runs and one waiting in
# its pipe, so that it starts the next as soon as it answers, without waiting for the
# event loop to read the answer and send more (measured on the 2-core benchmark host at
# batched saturation: the machine was ~90% busy with 1, ~93% with 2).
PIPELINE_DEPTH = 2

# --- worker-process side -------------------------------------------------------------

_WORKER_ENGINE: Engine | None = None


def _worker_init(config: RedactConfig) -> None:
    global _WORKER_ENGINE
    if _WORKER_ENGINE is None:  # inherited from the parent under fork
        _WORKER_ENGINE = build_engine(config)
    elif _WORKER_ENGINE.ner is not None:
        single_blas_thread()  # as the parent's loader did; not left to what fork keeps


def _worker_analyze(texts: list[str]) -> list[tuple[Span, ...]]:
    assert _WORKER_ENGINE is not None
    return _WORKER_ENGINE.analyze(texts)


def _worker_detect(
    texts: list[str], pairs: list[Pair]
) -> tuple[list[tuple[Span, ...]], list[Boundary]]:
    assert _WORKER_ENGINE is not None
    return run_detection(_WORKER_ENGINE, texts, pairs)


# --- coalescing concurrent calls -----------------------------------------------------

DetectFn = Callable[
    [list[str], list[Pair]], Awaitable[tuple[list[tuple[Span, ...]], list[Boundary]]]
]


@dataclass(slots=True)
class _Call:
    texts: list[str]
    pairs: list[Pair]
    future: asyncio.Future[tuple[list[tuple[Span, ...]], list[Boundary]]]


class _Coalescer:
    """Queues detection calls while ``parallel`` pool calls are in flight and sends the
    queue (up to ``max_items`` texts, and ``PAIRS_PER_TEXT`` times as many pairs) as the
    next pool call.

    Texts and pairs are capped apart: a pair's boundary check costs a few microseconds,
    a text's analysis hundreds (NER), so pairs counted as texts would halve the groups of
    batched requests (16 texts and ~16 pairs each) while saving nothing. Larger groups
    are cheaper per text: NER runs one ``nlp.pipe`` batch per pool call (detection took
    ~9% less CPU per text in calls of 48 dev.jsonl texts than in calls of 16).
    """

    PAIRS_PER_TEXT = 8

    def __init__(self, loop: asyncio.AbstractEventLoop, parallel: int, max_items: int) -> None:
        self.loop = loop
        self._parallel = max(1, parallel)
        self._max = max(1, max_items)
        self._queue: deque[_Call] = deque()
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.pool_calls = 0  # for tests: pool calls made so far

    def submit(
        self, texts: list[str], pairs: list[Pair], detect: DetectFn
    ) -> asyncio.Future[tuple[list[tuple[Span, ...]], list[Boundary]]]:
        call = _Call(texts, pairs, self.loop.create_future())
        # A caller that stopped waiting (cancelled, or failed elsewhere) reads nothing.
        call.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.append(call)
        if self._active < self._parallel:
            self._active += 1
            task = self.loop.create_task(self._drain(detect))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return call.future

    def _take(self) -> list[_Call]:
        group: list[_Call] = []
        texts = pairs = 0
        max_pairs = self.PAIRS_PER_TEXT * self._max
        while self._queue:
            head = self._queue[0]
            if group and (
                texts + len(head.texts) > self._max or pairs + len(head.pairs) > max_pairs
            ):
                break
            group.append(self._queue.popleft())
            texts += len(head.texts)
            pairs += len(head.pairs)
        return group

    async def _drain(self, detect: DetectFn) -> None:
        try:
            while self._queue:
                group = [c for c in self._take() if not c.future.done()]
                if not group:
                    continue
                texts = list(dict.fromkeys(t for c in group for t in c.texts))
                pairs = [p for c in group for p in c.pairs]
                self.pool_calls += 1
                try:
                    spans, bounds = await detect(texts, pairs)
                except asyncio.CancelledError:
                    for c in group:
                        c.future.cancel()
                    raise
                except BaseException as exc:  # fail every call of the group: fail closed
                    for c in group:
                        if not c.future.done():
                            c.future.set_exception(exc)
                    continue
                by_text = dict(zip(texts, spans, strict=True))
                k = 0
                for c in group:
                    part = bounds[k : k + len(c.pairs)]
                    k += len(c.pairs)
                    if not c.future.done():
                        c.future.set_result(([by_text[t] for t in c.texts], part))
        finally:
            self._active -= 1


@dataclass
class Redactor:
    """Detect and redact; owns the engine and, when ``workers > 0``, a process pool."""

    config: RedactConfig
    operators: OperatorTable = field(default_factory=OperatorTable)
    state_key: bytes = field(default=b"", repr=False)
    engine: Engine | None = None
    _pool: WorkerPool | Executor | None = field(default=None, init=False, repr=False)
    _coalescer: _Coalescer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.state_key:
            self.state_key = os.urandom(32)

    # -- lifecycle --
    def start(self) -> Redactor:
        global _WORKER_ENGINE
        if self.engine is None:
            self.engine = build_engine(self.config)
            # One call before any fork: lazily built model state is made once, in the
            # parent, and inherited by every worker instead of paid by each one's first call.
            self.engine.analyze(["Warm up: Anna Li paid 4111 1111 1111 1111 from Berlin"])
        if self.config.workers > 0 and self._pool is None:
            # Under fork, workers inherit the loaded model instead of loading their own.
            _WORKER_ENGINE = self.engine
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            self._pool = WorkerPool(
                self.config.workers,
                depth=PIPELINE_DEPTH,
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
        self._coalescer = None

    def __enter__(self) -> Redactor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- detection --
    def _chunks(self, items: list[str]) -> list[list[str]]:
        size = self.config.chunk_size
        return [items[i : i + size] for i in range(0, len(items), size)]

    def _detect(
        self, texts: Sequence[str], pairs: Sequence[Pair]
    ) -> tuple[list[tuple[Span, ...]], list[Boundary]]:
        """Spans per text (repeated texts analysed once) and boundary spans per pair."""
        self.start()
        assert self.engine is not None
        unique = list(dict.fromkeys(texts))
        size = self.config.chunk_size
        if isinstance(self._pool, WorkerPool) and len(unique) + len(pairs) > size:
            jobs: list[tuple[list[str], list[Pair]]] = [
                (unique[i : i + size], []) for i in range(0, len(unique), size)
            ]
            jobs += [([], list(pairs[i : i + size])) for i in range(0, len(pairs), size)]
            results: list[tuple[Span, ...]] = []
            bounds: list[Boundary] = []
            for s, b in self._pool.map(_worker_detect, jobs):
                results.extend(s)
                bounds.extend(b)
        else:
            results, bounds = run_detection(self.engine, unique, list(pairs))
        by_text = dict(zip(unique, results, strict=True))
        return [by_text[t] for t in texts], bounds

    def analyze(self, texts: Sequence[str]) -> list[tuple[Span, ...]]:
        """Spans per text in original offsets; repeated texts are analysed once."""
        return self._detect(texts, ())[0]

    def _coalesced(
        self, texts: list[str], pairs: list[Pair]
    ) -> asyncio.Future[tuple[list[tuple[Span, ...]], list[Boundary]]]:
        self.start()
        loop = asyncio.get_running_loop()
        co = self._coalescer
        if co is None or co.loop is not loop:
            parallel = self._pool.capacity if isinstance(self._pool, WorkerPool) else 1
            co = self._coalescer = _Coalescer(loop, parallel, self.config.chunk_size)
        return co.submit(texts, pairs, self._run_in_pool)

    def _run_in_pool(
        self, texts: list[str], pairs: list[Pair]
    ) -> Awaitable[tuple[list[tuple[Span, ...]], list[Boundary]]]:
        assert self._pool is not None and self.engine is not None
        if isinstance(self._pool, WorkerPool):
            return self._pool.run(_worker_detect, texts, pairs)
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._pool, run_detection, self.engine, texts, pairs)

    async def analyze_async(self, texts: Sequence[str]) -> list[tuple[Span, ...]]:
        """:meth:`analyze` off the event loop (coalesced with concurrent calls)."""
        unique = list(dict.fromkeys(texts))
        size = self.config.chunk_size
        # A large call is split so that every worker takes a share.
        parts = await asyncio.gather(
            *(self._coalesced(unique[i : i + size], []) for i in range(0, len(unique), size))
        )
        by_text: dict[str, tuple[Span, ...]] = {}
        for chunk, (spans, _) in zip(self._chunks(unique), parts, strict=True):
            by_text.update(zip(chunk, spans, strict=True))
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
        links = _links(messages, previous)
        spans, bounds = self._detect(
            [m.text for m in messages], [(b, messages[i].text) for _, i, b in links]
        )
        return self._assemble(messages, spans, links, bounds, states)

    async def redact(
        self,
        messages: Sequence[Message],
        states: Mapping[str, ConversationState] | None = None,
        previous: Mapping[str, str] | None = None,
    ) -> list[Redaction]:
        """:meth:`redact_batch` as a coroutine; detection runs off the event loop."""
        links = _links(messages, previous)
        pairs = [(b, messages[i].text) for _, i, b in links]
        # Queued before the texts, so both usually travel in the same pool call.
        window = self._coalesced([], pairs) if pairs else None
        try:
            spans = await self.analyze_async([m.text for m in messages])
        except BaseException:
            if window is not None:
                window.cancel()
            raise
        bounds = (await window)[1] if window is not None else []
        return self._assemble(messages, spans, links, bounds, states)

    def finish(
        self,
        messages: Sequence[Message],
        spans: Sequence[tuple[Span, ...]],
        states: Mapping[str, ConversationState] | None = None,
        previous: Mapping[str, str] | None = None,
    ) -> list[Redaction]:
        """Redact messages whose spans were already detected (:meth:`analyze`), running
        the conversation window's boundary check here, in this process."""
        self.start()
        assert self.engine is not None
        links = _links(messages, previous)
        _, bounds = run_detection(self.engine, (), [(b, messages[i].text) for _, i, b in links])
        return self._assemble(messages, spans, links, bounds, states)

    def _assemble(
        self,
        messages: Sequence[Message],
        spans: Sequence[tuple[Span, ...]],
        links: Sequence[tuple[int | None, int, str]],
        bounds: Sequence[Boundary],
        states: Mapping[str, ConversationState] | None,
    ) -> list[Redaction]:
        found: list[list[Span]] = [list(s) for s in spans]
        for (prev_idx, i, _), (in_prev, in_cur) in zip(links, bounds, strict=True):
            found[i].extend(in_cur)
            if prev_idx is not None:
                found[prev_idx].extend(in_prev)
        resolved = [resolve(f) for f in found]
        order = _conversation_order(messages)
        own_states: dict[str, ConversationState] = dict(states or {})
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
                out[i] = Redaction(
                    m.id, render(m.text, resolved[i], self.operators, state), resolved[i], conv
                )
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


def _links(
    messages: Sequence[Message], previous: Mapping[str, str] | None
) -> list[tuple[int | None, int, str]]:
    """(index of the message before or None, index, text before) for every message of a
    conversation that has a message before it: the conversation window's pairs."""
    links: list[tuple[int | None, int, str]] = []
    for conv, idxs in _conversation_order(messages).items():
        if conv is None:
            continue
        prev_idx: int | None = None
        before = (previous or {}).get(conv)
        for i in idxs:
            if before:
                links.append((prev_idx, i, before))
            prev_idx, before = i, messages[i].text
    return links


def redact_texts(redactor: Redactor, texts: Iterable[str]) -> list[str]:
    """Convenience for tests and notebooks: redact standalone texts."""
    msgs = [Message(str(i), t) for i, t in enumerate(texts)]
    return [r.redacted for r in redactor.redact_batch(msgs)]
