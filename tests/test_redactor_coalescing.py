"""Concurrent ``Redactor.redact`` calls are coalesced into shared pool calls."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from redact import Message, RedactConfig, Redactor
from redact.detectors.base import PatternDetector
from redact.engine import Engine
from redact.redactor import Pair, _Coalescer

_SIXTEEN = PatternDetector("sixteen", "CREDIT_CARD", re.compile(r"\b(?:\d{4}[ -]?){3}\d{4}\b"))


def _redactor() -> Redactor:
    return Redactor(RedactConfig(ner=False), engine=Engine((_SIXTEEN,)), state_key=b"k" * 32)


def _msgs(i: int) -> list[Message]:
    return [Message(f"m{i}", f"card 4111 1111 1111 {1000 + i} ok", f"c{i % 3}", i)]


async def test_concurrent_calls_answer_as_calls_one_at_a_time() -> None:
    """Coalesced calls get exactly the redactions they would get alone."""
    with _redactor() as r:
        together = await asyncio.gather(*(r.redact(_msgs(i)) for i in range(20)))
    with _redactor() as r:
        alone = [await r.redact(_msgs(i)) for i in range(20)]
    assert together == alone


async def test_calls_queued_while_the_pool_is_busy_share_one_pool_call() -> None:
    """Twenty concurrent calls need far fewer than twenty pool calls."""
    with _redactor() as r:
        await asyncio.gather(*(r.redact(_msgs(i)) for i in range(20)))
        assert r._coalescer is not None and r._coalescer.pool_calls < 20


async def test_window_pair_of_a_call_is_answered_with_its_texts() -> None:
    """A split number is caught in a coalesced call that carries the previous text."""
    with _redactor() as r:
        outs = await asyncio.gather(
            r.redact([Message("b", "1111 1111 thanks", "c", 1)], previous={"c": "card 4111 1111"}),
            *(r.redact(_msgs(i)) for i in range(5)),
        )
    assert [(s.start, s.end) for s in outs[0][0].spans] == [(0, 9)]


class _Failing(Engine):
    def analyze(self, texts: object) -> list[tuple[()]]:  # type: ignore[override]
        raise RuntimeError("detector crashed (test fake)")


async def test_a_failed_pool_call_fails_every_call_it_carried() -> None:
    """When the shared pool call fails, each coalesced call raises: nothing passes unredacted."""
    with Redactor(RedactConfig(ner=False), engine=_Failing((_SIXTEEN,)), state_key=b"k" * 32) as r:
        results = await asyncio.gather(
            *(r.redact(_msgs(i)) for i in range(5)), return_exceptions=True
        )
    assert all(isinstance(x, RuntimeError) for x in results)


async def _grouped(
    max_items: int, calls: list[tuple[list[str], list[Pair]]]
) -> list[tuple[int, int]]:
    """(texts, pairs) of each pool call a coalescer makes for ``calls`` queued behind a
    first call that holds the only pool slot."""
    co = _Coalescer(asyncio.get_running_loop(), 1, max_items)
    groups: list[tuple[int, int]] = []
    gate = asyncio.Event()

    async def detect(texts: list[str], pairs: list[Pair]) -> tuple[list[tuple[()]], list[Any]]:
        groups.append((len(texts), len(pairs)))
        await gate.wait()
        return [() for _ in texts], [((), ()) for _ in pairs]

    first = co.submit(["first"], [], detect)
    await asyncio.sleep(0)
    rest = [co.submit(t, p, detect) for t, p in calls]
    gate.set()
    await asyncio.gather(first, *rest)
    return groups[1:]


async def test_boundary_pairs_do_not_crowd_texts_out_of_a_group() -> None:
    """The group cap counts texts: two calls of 2 texts and 2 pairs each fit a cap of 4
    together (a pair's check costs a tiny fraction of a text's analysis)."""
    calls = [([f"t{i}", f"u{i}"], [("x", f"t{i}"), ("y", f"u{i}")]) for i in range(2)]
    assert await _grouped(4, calls) == [(4, 4)]


async def test_texts_beyond_the_cap_go_in_the_next_group() -> None:
    """Three calls of 2 texts with a cap of 4: two share a group, the third goes next."""
    calls = [([f"t{i}", f"u{i}"], []) for i in range(3)]
    assert await _grouped(4, calls) == [(4, 0), (2, 0)]


async def test_pairs_have_a_cap_of_their_own() -> None:
    """Pairs are capped at PAIRS_PER_TEXT times the text cap, so a group stays bounded."""
    many = [("a", f"b{i}") for i in range(_Coalescer.PAIRS_PER_TEXT)]
    calls = [([], many), ([], many), ([], many)]
    assert await _grouped(2, calls) == [(0, 2 * len(many)), (0, len(many))]
