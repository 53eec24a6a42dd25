"""Concurrent ``Redactor.redact`` calls are coalesced into shared pool calls."""

from __future__ import annotations

import asyncio
import re

from redact import Message, RedactConfig, Redactor
from redact.detectors.base import PatternDetector
from redact.engine import Engine

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
