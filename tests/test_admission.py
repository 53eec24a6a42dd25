"""Admission control adapts how many requests it admits at once to ingest latency.

The rule (proxy/middlewares.py): once per interval, if even the fastest ingest request
of the interval took longer than ``[server] latency_target_ms`` the limit drops by a
quarter (not below the floor), otherwise it rises by one (not above ``max_in_flight``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from proxy.app import Overrides
from proxy.middlewares import ADMISSION, Admission
from redact import RedactConfig
from tests.app_testing import BrokenRedactor, make_env, message, serve


async def post(client: Any, env: Any, doc: Any) -> Any:
    return await client.post("/v1/messages", json=doc, headers=env.auth("ingest"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def gate(limit: int = 64, target: float = 0.010, floor: int = 4) -> tuple[Admission, Clock]:
    clock = Clock()
    return Admission(limit, 10.0, latency_target=target, floor=floor, clock=clock), clock


def interval(a: Admission, clock: Clock, *latencies: float) -> None:
    """Requests finishing within one interval, then the interval's end."""
    for s in latencies:
        a.observe(s)
    clock.now += a.interval
    a.observe(latencies[-1])


@pytest.mark.parametrize(
    ("fastest", "limit_after"),
    [
        (0.011, 48),  # even the fastest queued: a standing queue -> down by a quarter
        (0.009, 64),  # the fastest was on time: already at max_in_flight, stays there
        (0.010, 64),  # exactly on target counts as on time
    ],
)
def test_one_interval_moves_the_limit_by_the_fastest_request(
    fastest: float, limit_after: int
) -> None:
    """Only the fastest request of the interval decides, not the slow ones."""
    a, clock = gate()
    interval(a, clock, 0.5, fastest, 0.2)
    assert a.limit == limit_after


def test_sustained_queueing_drops_to_the_floor_and_not_below() -> None:
    """Interval after interval over the target: down by quarters, stopping at the floor."""
    a, clock = gate()
    seen = []
    for _ in range(20):
        interval(a, clock, 0.05)
        seen.append(a.limit)
    assert seen[:4] == [48, 36, 27, 20]
    assert seen[-1] == 4 and min(seen) == 4


def test_small_limits_still_shrink_by_at_least_one() -> None:
    """A quarter of 3 rounds to nothing: the limit still comes down by one."""
    a, clock = gate(limit=3, floor=1)
    interval(a, clock, 0.05)
    assert a.limit == 2


def test_recovery_is_additive_up_to_max_in_flight() -> None:
    """Once requests are fast again the limit climbs by one per interval to the ceiling."""
    a, clock = gate(limit=10, floor=2)
    for _ in range(10):
        interval(a, clock, 0.05)
    assert a.limit == 2
    for expected in range(3, 11):
        interval(a, clock, 0.001)
        assert a.limit == expected
    interval(a, clock, 0.001)
    assert a.limit == 10


def test_no_decision_inside_an_interval() -> None:
    """Many slow requests within one interval change nothing until it ends."""
    a, _ = gate()
    for _ in range(100):
        a.observe(1.0)
    assert a.limit == 64


def test_target_zero_keeps_the_limit_fixed() -> None:
    """latency_target_ms = 0 turns adaptation off: max_in_flight is the limit."""
    a, clock = gate(target=0.0)
    for _ in range(10):
        interval(a, clock, 5.0)
    assert a.limit == 64


def test_floor_never_exceeds_the_ceiling() -> None:
    """A floor above max_in_flight is clamped to it (max_in_flight = 1 stays 1)."""
    a, _ = gate(limit=1, floor=4)
    assert a.floor == 1


async def test_slow_ingest_lowers_the_limit_and_sheds_then_recovers(tmp_path: Path) -> None:
    """Through the app: while ingest is slower than the target the limit falls to its
    floor and requests beyond it are refused with 503 at once; fast again, it climbs."""
    env = make_env(
        tmp_path,
        server={"max_in_flight": 8, "latency_target_ms": 5.0},
        redact={"workers": 1},
    )
    delay = {"s": 0.03}

    class SlowRedactor(BrokenRedactor):
        async def analyze_async(self, texts: Any) -> Any:
            await asyncio.sleep(delay["s"])
            return await BrokenRedactor.analyze_async(self, texts)

    redactor = SlowRedactor(RedactConfig(ner=False, workers=0), state_key=b"s" * 32)
    async with serve(env, Overrides(audit=False, redactor=redactor)) as client:
        adm = client.app[ADMISSION]
        assert (adm.limit, adm.floor) == (8, 2)
        before = await (await client.get("/metrics")).text()
        assert "chatwarden_admission_limit 8" in before  # reported before any ingest
        i = 0
        while adm.limit > adm.floor:  # slow requests, one after another
            i += 1
            assert (await post(client, env, message(i))).status == 201
            assert i < 100, "the limit never came down"
        # At the floor, a third concurrent request is refused without waiting.
        batch = [asyncio.create_task(post(client, env, message(1000 + k))) for k in range(3)]
        statuses = sorted([(await t).status for t in batch])
        assert statuses == [201, 201, 503]
        delay["s"] = 0.0
        while adm.limit < 8:
            i += 1
            assert (await post(client, env, message(i))).status == 201
            assert i < 400, "the limit never recovered"
        metrics = await (await client.get("/metrics")).text()
    assert "chatwarden_admission_limit 8" in metrics
