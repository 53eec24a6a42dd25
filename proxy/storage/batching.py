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
call returns only after the commit that holds its records.

A call may carry conversation writes (placeholder state compare-and-set, a new data key,
the data key its records are sealed under: :class:`~proxy.storage.base.ConversationWrite`).
The batch function checks them first, call by call in queue order, under the
transaction's locks and against the effect of the calls admitted before it
(:func:`~proxy.storage.base.admit`); a call whose check fails is left out of the
transaction — none of its records, state or keys are written — and gets its
:class:`~proxy.storage.errors.WriteConflict` as its outcome, while the rest of the group
commits in the same transaction. That is why the batch function sees the calls, not one
flat list: a lost compare-and-set (another replica numbered the conversation first) is an
expected outcome, not a failure, and costs the group neither a rollback nor a retry.
(Raising it would roll the group back and retry every call alone, below: N + 1
transactions for one lost race. Per-call SAVEPOINTs would avoid that on SQLite, but on
PostgreSQL each one is a round trip, and the put writes a whole group in a constant
number of round trips.)

If a group's transaction fails
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

from proxy.storage.base import ConversationWrite, OutboxItem, StoredMessage
from proxy.storage.errors import StorageUnavailable, WriteConflict

__all__ = ["GroupCommitter", "Put", "PutBatch", "Result"]

Result = list[tuple[StoredMessage, bool]]


@dataclass(frozen=True, slots=True)
class Put:
    """One ``put_messages`` call as the batch function sees it."""

    records: list[StoredMessage]
    outbox: list[OutboxItem]
    conversations: list[ConversationWrite]


PutBatch = Callable[[list[Put]], Awaitable[list[Result | WriteConflict]]]
"""Runs one transaction over ``puts``; per put, in order, its results or its conflict."""


@dataclass(slots=True)
class _Call:
    put: Put
    future: asyncio.Future[Result]


class GroupCommitter:
    """Runs ``put_batch`` over all calls queued since the last transaction.

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
        self,
        records: Sequence[StoredMessage],
        outbox: Sequence[OutboxItem] = (),
        conversations: Sequence[ConversationWrite] = (),
    ) -> Result:
        if not records and not conversations:
            return []
        call = _Call(
            Put(list(records), list(outbox), list(conversations)),
            asyncio.get_running_loop().create_future(),
        )
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
        while self._queue and (not group or n + len(self._queue[0].put.records) <= self._max):
            call = self._queue.popleft()
            group.append(call)
            n += len(call.put.records)
        return group

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._run(self._take())
        finally:
            self._active -= 1

    async def _run(self, group: list[_Call]) -> None:
        try:
            self.transactions += 1
            outcomes = await self._put_batch([c.put for c in group])
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
        for c, outcome in zip(group, outcomes, strict=True):
            if c.future.done():
                continue
            if isinstance(outcome, WriteConflict):
                c.future.set_exception(outcome)
            else:
                c.future.set_result(outcome)
