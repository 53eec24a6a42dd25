"""Forwarding redacted copies upstream through the durable outbox.

Ingest writes an outbox row in the same transaction as the message (only when
``[upstream] url`` is set), so a message is never acknowledged without its forward being
durable, and a slow or dead upstream never slows ingest: delivery happens here, in a
background task (:func:`outbox_context`, a ``cleanup_ctx``).

The worker fetches due rows (leasing them, so several replicas can share one outbox),
POSTs each payload (``application/json``, ``Idempotency-Key: <message_id>``) and deletes
the row on a 2xx answer. Anything else is retried with exponential backoff and jitter:
``min(max_backoff, base * 2**attempts) * U(0.5, 1)``. After ``max_attempts`` a row is
*parked*, retried once every ``park_interval`` (an hour by default) and counted in
``chatwarden_outbox_total{outcome="parked"}`` -- never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web

from proxy.logging import exception_fields, get_logger
from proxy.metrics import Metrics
from proxy.storage.base import OutboxRow, Storage
from proxy.storage.errors import StorageUnavailable

__all__ = ["OUTBOX", "OutboxWorker", "backoff"]

log = get_logger("chatwarden.outbox")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def backoff(
    attempts: int, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds before attempt ``attempts + 1`` (``attempts`` earlier tries failed)."""
    return float(min(cap, base * (2 ** min(attempts, 30))) * (0.5 + 0.5 * rand()))


@dataclass
class OutboxWorker:
    """Delivers due outbox rows. ``storage`` may be set after construction (the app
    opens storage when it starts)."""

    storage: Storage | None
    metrics: Metrics
    timeout: float = 5.0
    max_attempts: int = 12
    batch: int = 32
    concurrency: int = 8
    base_backoff: float = 1.0
    max_backoff: float = 300.0
    park_interval: float = 3600.0
    poll_interval: float = 1.0
    clock: Callable[[], datetime] = _utcnow
    _wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def notify(self) -> None:
        """New rows were committed: fetch now instead of at the next poll."""
        self._wake.set()

    async def run(self, session: aiohttp.ClientSession) -> None:
        failures = 0
        while True:
            try:
                n = await self.run_once(session)
                failures = 0
            except StorageUnavailable:
                failures += 1
                self.metrics.failures.inc(kind="outbox_storage")
                await asyncio.sleep(backoff(failures, self.poll_interval, 30.0))
                continue
            except Exception as exc:  # a bug must not stop delivery for good
                failures += 1
                self.metrics.failures.inc(kind="outbox")
                log.warning("outbox worker error", **exception_fields(exc))
                await asyncio.sleep(backoff(failures, self.poll_interval, 30.0))
                continue
            if n < self.batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await self._wake.wait()

    async def run_once(self, session: aiohttp.ClientSession) -> int:
        """Deliver one batch of due rows; return how many were fetched."""
        assert self.storage is not None, "set OutboxWorker.storage before running it"
        lease = self.timeout * 2 + 5
        rows = await self.storage.outbox_fetch_due(self.clock(), self.batch, lease_seconds=lease)
        self.metrics.outbox_pending.set(len(rows))
        if not rows:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(row: OutboxRow) -> None:
            async with gate:
                await self._deliver(session, row)

        await asyncio.gather(*(one(r) for r in rows))
        return len(rows)

    async def _deliver(self, session: aiohttp.ClientSession, row: OutboxRow) -> None:
        kind: str
        try:
            async with session.post(
                row.destination,
                data=row.payload,
                headers={"Content-Type": "application/json", "Idempotency-Key": row.message_id},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    assert self.storage is not None
                    await self.storage.outbox_done(row.id)
                    self.metrics.outbox.inc(outcome="delivered")
                    return
                kind = f"http_{resp.status}"
        except TimeoutError:
            kind = "timeout"
        except aiohttp.ClientError as exc:
            kind = type(exc).__name__
        attempts = row.attempts + 1
        if attempts >= self.max_attempts:
            delay, outcome = self.park_interval, "parked"
        else:
            delay, outcome = backoff(attempts - 1, self.base_backoff, self.max_backoff), "retried"
        assert self.storage is not None
        await self.storage.outbox_retry(row.id, self.clock() + timedelta(seconds=delay), kind)
        self.metrics.outbox.inc(outcome=outcome)
        log.info(
            "upstream delivery failed",
            outbox_id=row.id,
            attempts=attempts,
            cause=kind,
            next_in_s=round(delay, 1),
        )


OUTBOX = web.AppKey("chatwarden.outbox", OutboxWorker)


def outbox_context(
    worker: OutboxWorker, storage: Callable[[web.Application], Storage] | None = None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx that runs ``worker`` for the app's life and stops it on shutdown;
    ``storage(app)``, if given, supplies the worker's storage when the app starts."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if storage is not None:
            worker.storage = storage(app)
        app[OUTBOX] = worker
        async with aiohttp.ClientSession() as session:
            task = asyncio.create_task(worker.run(session), name="chatwarden-outbox")
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return ctx
