"""Group commit for ``put_messages``: concurrent calls share one transaction.

Every ingest request calls ``put_messages`` with its own few records, and each call must be
durable before it returns. A commit costs an fsync (SQLite ``synchronous=FULL``) or a
server round trip with a WAL flush (PostgreSQL), so one transaction per call caps ingest
at the disk's fsync rate. :class:`GroupCommitter` queues calls while a transaction is in
flight and runs everything queued as the next transaction: under load the batch grows
and the commit cost is shared; an idle system still commits each call at once.

Semantics per call are unchanged: its records are idempotent on ``(tenant, message_id)``
across and within calls (a later call in the same group that repeats an id gets
``created=False`` and the first call's record), results come back in input order, and a
call returns only after the commit that holds its records. If a group's transaction fails
with StorageUnavailable (the database is unreachable or refused the commit), every call of
the group fails with it at once — retrying each alone against a dead server would only
make the last caller wait longer. Any other failure (a record the database rejects, a
bug) is isolated: each call of the group is retried alone once, so one bad call cannot
fail the others.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from proxy.storage.base import OutboxItem, StoredMessage
from proxy.storage.errors import StorageUnavailable

__all__ = ["GroupCommitter", "PutBatch"]

Result = list[tuple[StoredMessage, bool]]
PutBatch = Callable[[list[StoredMessage], list[OutboxItem]], Awaitable[Result]]


@dataclass(slots=True)
class _Call:
    records: list[StoredMessage]
    outbox: list[OutboxItem]
    future: asyncio.Future[Result]


class GroupCommitter:
    """Runs ``put_batch`` over the records of all calls queued since the last transaction.

    ``max_records`` bounds one transaction; ``parallel`` is how many transactions may be in
    flight at once (1 for SQLite's single writer; a few for PostgreSQL).
    """

    def __init__(self, put_batch: PutBatch, *, max_records: int = 2000, parallel: int = 1) -> None:
        self._put_batch = put_batch
        self._max = max_records
        self._parallel = parallel
        self._queue: deque[_Call] = deque()
        self._active = 0  # workers draining the queue; changed only inside _drain's frame
        self._tasks: set[asyncio.Task[None]] = set()  # referenced so none is collected
        self.transactions = 0  # for tests and metrics: transactions run so far

    async def put(
        self, records: Sequence[StoredMessage], outbox: Sequence[OutboxItem] = ()
    ) -> Result:
        if not records:
            return []
        call = _Call(list(records), list(outbox), asyncio.get_running_loop().create_future())
        # If the caller was cancelled, nobody reads the outcome: mark it retrieved.
        call.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.append(call)
        if self._active < self._parallel:
            # Counted here, uncounted in _drain after its last look at the queue: no call
            # can be queued in between without a worker seeing it.
            self._active += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # shield: a cancelled caller must not cancel the group it is part of.
        return await asyncio.shield(call.future)

    def _take(self) -> list[_Call]:
        group: list[_Call] = []
        n = 0
        while self._queue and (not group or n + len(self._queue[0].records) <= self._max):
            call = self._queue.popleft()
            group.append(call)
            n += len(call.records)
        return group

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._run(self._take())
        finally:
            self._active -= 1

    async def _run(self, group: list[_Call]) -> None:
        records = [r for c in group for r in c.records]
        outbox = [o for c in group for o in c.outbox]
        try:
            self.transactions += 1
            results = await self._put_batch(records, outbox)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):  # the loop is shutting down
                for c in group:
                    c.future.cancel()
                raise
            if len(group) == 1 or isinstance(exc, StorageUnavailable):
                for c in group:
                    if not c.future.done():
                        c.future.set_exception(exc)
                return
            for c in group:  # isolate the failing call: each alone, once
                await self._run([c])
            return
        i = 0
        for c in group:
            part = results[i : i + len(c.records)]
            i += len(c.records)
            if not c.future.done():
                c.future.set_result(part)
