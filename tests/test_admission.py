"""Admission control adapts how many requests it admits at once to ingest latency.

The rule (proxy/middlewares.py), once per interval:

* if the median latency of the interval's ingest requests was longer than its target --
  ``[server] latency_target_ms``, plus ``latency_target_per_message_ms`` for each message
  of a batch after the first -- the limit drops by a quarter, or by the overrun's share
  (at most half), never below the floor;
* otherwise it rises by one (not above ``max_in_flight``) if at least half of it was in
  use or it is below a quarter of ``max_in_flight``, and drifts down by one (not below
  that quarter) if less than an eighth was.
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


def gate(
    limit: int = 64,
    target: float = 0.010,
    floor: int = 4,
    per_message: float = 0.005,
    headroom: float = 0.0,
    parallel: int = 2,
) -> tuple[Admission, Clock]:
    clock = Clock()
    a = Admission(
        limit,
        10.0,
        latency_target=target,
        per_message=per_message,
        floor=floor,
        headroom=headroom,
        parallel=parallel,
        clock=clock,
    )
    return a, clock


def interval(
    a: Admission, clock: Clock, *latencies: float, messages: int = 1, busy: int | None = None
) -> None:
    """Requests of ``messages`` messages finishing within one interval, then its end; at
    its busiest ``busy`` requests were in flight (default: the whole limit)."""
    held = a.limit if busy is None else busy
    for _ in range(held):
        assert a.enter()
    for _ in range(held):
        a.leave()
    for s in latencies:
        a.observe(s, messages)
    clock.now += a.interval
    a.observe(latencies[-1], messages)


@pytest.mark.parametrize(
    ("median", "limit_after"),
    [
        (0.011, 48),  # the median queued, a little: down by a quarter
        (0.009, 64),  # the median was on time: already at max_in_flight, stays there
        (0.010, 64),  # exactly on target counts as on time
        (0.016, 40),  # 10/16 of the target: down to 64 x 0.625
        (0.100, 32),  # ten times the target: down by half, no more
    ],
)
def test_one_interval_moves_the_limit_by_the_median_request(
    median: float, limit_after: int
) -> None:
    """The median request of the interval decides, not the fastest nor the slowest."""
    a, clock = gate()
    interval(a, clock, 0.001, median, 0.5)  # the last one counts twice: the median is 2nd
    assert a.limit == limit_after


def test_a_lucky_fast_minority_does_not_hide_the_queue() -> None:
    """Nine quick requests (short messages that need no model) among twelve that
    queued: the median queued, so the limit comes down (the 10th percentile, which
    this rule replaced, saw a quick request and left it at 64)."""
    a, clock = gate()
    interval(a, clock, *[0.001] * 9, *[0.030] * 12)
    assert a.limit == 32


def test_a_slow_minority_does_not_cut_the_limit() -> None:
    """Nine slow requests among thirteen on time: the median was on time."""
    a, clock = gate()
    interval(a, clock, *[0.030] * 9, *[0.005] * 12)
    assert a.limit == 64


@pytest.mark.parametrize(
    ("messages", "median", "limit_after"),
    [
        (16, 0.080, 64),  # 16 messages are allowed 10 + 15 x 5 = 85 ms: on time
        (16, 0.084, 64),  # just inside the batch's target
        (16, 0.087, 48),  # over the batch's target: the median batch queued
        (2, 0.0149, 64),  # two messages: 15 ms allowed
        (2, 0.0151, 48),
    ],
)
def test_a_batch_is_allowed_more_time_per_further_message(
    messages: int, median: float, limit_after: int
) -> None:
    """A batch's target grows with its size, so batches alone do not pin the floor."""
    a, clock = gate(limit=64)
    interval(a, clock, 0.5, median, messages=messages)  # the last counts twice
    assert a.limit == limit_after


def test_without_a_per_message_allowance_a_batch_has_the_single_target() -> None:
    """latency_target_per_message_ms = 0: a batch is held to the one-message target."""
    a, clock = gate(per_message=0.0)
    interval(a, clock, 0.012, messages=16)
    assert a.limit == 48


@pytest.mark.parametrize(
    ("batch_s", "limit_after"),
    [
        (0.040, 64),  # two batches of 16 on time for their size (85 ms allowed)
        (0.100, 32),  # two batches of 16 late for their size: 25 ms over 10, down by half
    ],
)
def test_mixed_sizes_are_each_measured_against_their_own_target(
    batch_s: float, limit_after: int
) -> None:
    """Two batches of 16 and one single that queued (30 ms against 10): each request
    is measured against its own target, so the batches decide the median."""
    a, clock = gate()
    for _ in range(64):
        assert a.enter()
    for _ in range(2):
        a.observe(batch_s, 16)
    clock.now += a.interval
    a.observe(0.030, 1)
    assert a.limit == limit_after


def test_sustained_queueing_drops_to_the_floor_and_not_below() -> None:
    """Interval after interval over the target: down, stopping at the floor."""
    a, clock = gate()
    seen = []
    for _ in range(20):
        interval(a, clock, 0.013)  # within a third over the target: a quarter each time
        seen.append(a.limit)
    assert seen[:4] == [48, 36, 27, 20]
    assert seen[-1] == 4 and min(seen) == 4


def test_small_limits_still_shrink_by_at_least_one() -> None:
    """A quarter of 3 rounds to nothing: the limit still comes down by one."""
    a, clock = gate(limit=3, floor=1)
    interval(a, clock, 0.011)
    assert a.limit == 2


def test_recovery_is_additive_up_to_max_in_flight_while_the_limit_is_used() -> None:
    """Once requests are fast again and the limit is in use, it climbs by one per
    interval to the ceiling."""
    a, clock = gate(limit=10, floor=2)
    for _ in range(10):
        interval(a, clock, 0.05)
    assert a.limit == 2
    for expected in range(3, 11):
        interval(a, clock, 0.001)
        assert a.limit == expected
    interval(a, clock, 0.001)
    assert a.limit == 10


@pytest.mark.parametrize(
    ("busy", "limit_after"),
    [
        (32, 65),  # half the limit in use: room to grow
        (31, 64),  # between an eighth and half: stays
        (8, 64),  # exactly an eighth: stays
        (7, 63),  # under an eighth: drifts down by one
        (0, 63),  # nothing was in flight at once beyond the requests themselves
    ],
)
def test_an_on_time_interval_moves_the_limit_by_how_much_of_it_was_used(
    busy: int, limit_after: int
) -> None:
    """On time, the limit grows only while in use and drifts down while mostly idle."""
    a = Admission(64, 10.0, latency_target=0.010, floor=4, clock=(clock := Clock()))
    a.ceiling = 100
    interval(a, clock, 0.001, busy=busy)
    assert a.limit == limit_after


def test_a_lightly_loaded_limit_settles_at_a_quarter_of_max_in_flight() -> None:
    """At light load the limit comes down from max_in_flight to a quarter of it, so that
    an overload starting later meets a short queue; it does not go below that."""
    a, clock = gate()
    for _ in range(100):
        interval(a, clock, 0.002, busy=1)
    assert a.limit == 16


def test_after_an_overload_an_idle_limit_climbs_back_to_a_quarter() -> None:
    """A limit cut below its light-load level (an overload, a hiccup) comes back to a
    quarter of max_in_flight by one per on-time interval, in use or not, and stops."""
    a, clock = gate()
    for _ in range(20):
        interval(a, clock, 0.05)
    assert a.limit == 4
    seen = []
    for _ in range(14):
        interval(a, clock, 0.001, busy=1)
        seen.append(a.limit)
    assert seen == [*range(5, 17), 16, 16]


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
    for _ in range(10):
        interval(a, clock, 0.001, busy=0)
    assert a.limit == 64


# --- the learned target (latency_headroom) ---------------------------------------------


def test_the_target_is_learned_from_intervals_where_nothing_queued() -> None:
    """One-message requests of intervals with at most ``parallel`` in flight teach the
    unqueued median; the target becomes headroom times it, as it is learned."""
    a, clock = gate(headroom=2.0, parallel=2)
    assert a.unqueued is None and a.current_target() == 0.010  # nothing learned yet
    interval(a, clock, 0.001, 0.002, 0.002, 0.003, busy=2)
    assert a.unqueued == pytest.approx(0.002)
    assert a.current_target() == pytest.approx(0.004)
    for _ in range(60):  # a slower mix, still unqueued: the average follows it
        interval(a, clock, 0.003, 0.003, 0.003, busy=1)
    assert a.unqueued == pytest.approx(0.003, rel=0.01)
    assert a.current_target() == pytest.approx(0.006, rel=0.01)


def test_a_learned_target_never_exceeds_latency_target_ms() -> None:
    """A server slower than the configured target unqueued keeps the configured one."""
    a, clock = gate(headroom=2.0)
    interval(a, clock, 0.008, 0.008, 0.008, busy=1)
    assert a.current_target() == 0.010


@pytest.mark.parametrize(
    ("busy", "messages", "latencies", "limit"),
    [
        (3, 1, (0.001,) * 5, 64),  # more in flight than workers: requests may have queued
        (1, 4, (0.020,) * 5, 64),  # batches: their time says nothing of one message's
        (1, 1, (0.001,), 64),  # two requests (the helper repeats the last): too few
        (2, 1, (0.001,) * 5, 2),  # limit at parallel: the limit kept them few (overload)
    ],
)
def test_what_does_not_teach_the_unqueued_median(
    busy: int, messages: int, latencies: tuple[float, ...], limit: int
) -> None:
    a, clock = gate(limit=limit, floor=2, headroom=2.0, parallel=2)
    interval(a, clock, *latencies, messages=messages, busy=busy)
    assert a.unqueued is None and a.current_target() == 0.010


def test_an_overload_cannot_raise_its_own_learned_target() -> None:
    """Learned at light load, the target holds through a long overload: its intervals
    (the limit full, the median above the target) never move the learned median."""
    a, clock = gate(headroom=2.0, parallel=2)
    for _ in range(20):
        interval(a, clock, 0.002, 0.002, 0.002, busy=1)
    learned = a.unqueued
    assert learned == pytest.approx(0.002)
    for _ in range(200):
        interval(a, clock, 0.005, 0.006, 0.007)  # busy = the whole limit, always
    assert a.unqueued == learned
    assert a.limit == a.floor


def test_the_learned_target_sheds_what_the_configured_one_would_not() -> None:
    """A median of 6 ms is on time for a 10 ms target, but three times an unqueued 2 ms:
    with headroom 2 (target 4 ms) the limit drops to 4/6 of 64; with headroom 0 (off)
    it does not."""
    for headroom, limit_after in ((2.0, 42), (0.0, 64)):
        a, clock = gate(headroom=headroom, parallel=2)
        interval(a, clock, 0.002, 0.002, 0.002, busy=1)
        interval(a, clock, 0.006, 0.006, 0.006)
        assert a.limit == limit_after, headroom


def test_enter_refuses_at_the_limit_and_counts_nothing() -> None:
    """At the limit a request is refused and the count stays; leaving frees a place."""
    a, _ = gate(limit=2)
    assert a.enter() and a.enter()
    assert not a.enter()
    assert a.in_flight == 2
    a.leave()
    assert a.enter()


def test_floor_never_exceeds_the_ceiling() -> None:
    """A floor above max_in_flight is clamped to it (max_in_flight = 1 stays 1)."""
    a, _ = gate(limit=1, floor=4)
    assert a.floor == 1


async def test_slow_ingest_lowers_the_limit_and_sheds_then_recovers(tmp_path: Path) -> None:
    """Through the app: while ingest is slower than the target the limit falls to its
    floor and requests beyond it are refused with 503 at once; fast again, it climbs."""
    env = make_env(
        tmp_path,
        # A target a burst of eight concurrent requests meets on a test machine once
        # ingest is fast again (their median waits for half of them).
        server={"max_in_flight": 8, "latency_target_ms": 20.0},
        redact={"workers": 1},
    )
    delay = {"s": 0.06}

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
        rounds = 0
        while adm.limit < 8:  # fast again, and as many at once as the limit admits
            rounds += 1
            wave = [post(client, env, message(2000 + rounds * 10 + k)) for k in range(adm.limit)]
            assert {r.status for r in await asyncio.gather(*wave)} == {201}
            assert rounds < 400, "the limit never recovered"
        metrics = await (await client.get("/metrics")).text()
    assert "chatwarden_admission_limit 8" in metrics


async def test_the_app_reports_each_requests_message_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the app: an ingest request is observed with the number of messages it
    carried (a batch's allowance depends on it); other requests are not observed."""
    seen: list[int] = []

    class Recording(Admission):
        __slots__ = ()

        def observe(self, seconds: float, messages: int = 1) -> None:
            seen.append(messages)
            super().observe(seconds, messages)

    monkeypatch.setattr("proxy.app.Admission", Recording)
    env = make_env(tmp_path, server={"latency_target_ms": 5.0}, redact={"workers": 1})
    async with serve(env, Overrides(audit=False)) as client:
        assert isinstance(client.app[ADMISSION], Recording)
        assert (await post(client, env, message(1))).status == 201
        batch = {"messages": [message(10 + k) for k in range(3)]}
        assert (await post(client, env, batch)).status == 201
        assert (await client.get("/metrics")).status == 200
    assert seen == [1, 3]
