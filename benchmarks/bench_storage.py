"""Throughput of sealing and of the storage backends (not part of the unit run).

    .venv/bin/python -m benchmarks.bench_storage [--n 2000] [--concurrency 50] [--pg URL]

Measures, on this machine:
* ``seal`` / ``open`` of a 1 KiB original through :class:`proxy.sealing.Sealer` (data key
  cached, as on the ingest path);
* ``put_messages`` on SQLite and PostgreSQL: one message per call sequentially, one message
  per call with ``--concurrency`` calls in flight (what concurrent ingest requests do),
  and batches of 100;
* ``query_messages`` pages of 100 by purpose.

Prints one JSON object. PostgreSQL uses a throwaway schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from proxy.sealing import SealContext, Sealer
from proxy.storage import Storage, open_storage
from proxy.testing import FakeKeyStore, make_message


async def _rate(n: int, fn: Callable[[int], Awaitable[Any]], concurrency: int = 1) -> float:
    """Operations per second of ``fn(i)`` for i in range(n), ``concurrency`` in flight."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await fn(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return round(n / (time.perf_counter() - t0), 1)


async def bench_sealer(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        storage = await open_storage(f"sqlite://{d}/s.db")
        sealer = Sealer(FakeKeyStore(regions=("eu",)), storage)
        body = bytes(1024)
        ctxs = [SealContext("t", f"c{i % 50}", f"m{i}", "eu") for i in range(n)]
        blobs: list[bytes] = [b""] * n

        async def seal(i: int) -> None:
            blobs[i] = await sealer.seal(ctxs[i], body)

        await seal(0)
        out = {"seal_per_s": await _rate(n, seal)}
        out["open_per_s"] = await _rate(n, lambda i: sealer.open(ctxs[i], blobs[i]))
        await storage.close()
    return out


async def bench_backend(storage: Storage, n: int, concurrency: int) -> dict[str, float]:
    base = uuid.uuid4().hex[:6]

    def msg(prefix: str, i: int) -> Any:
        return make_message(i, message_id=f"{base}{prefix}{i}", conversation_id=f"c{i % 200}",
                            purposes=frozenset({"risk_control"}) if i % 10 == 0 else frozenset())

    out = {
        "put_1_sequential_per_s": await _rate(
            n // 4, lambda i: storage.put_messages([msg("s", i)])),
        f"put_1_concurrent{concurrency}_per_s": await _rate(
            n, lambda i: storage.put_messages([msg("c", i)]), concurrency),
        "put_batch100_msgs_per_s": round(100 * await _rate(
            n // 100, lambda i: storage.put_messages([msg("b", i * 100 + j) for j in range(100)])
        ), 1),
    }
    out["replay_1_concurrent_per_s"] = await _rate(
        n, lambda i: storage.put_messages([msg("c", i)]), concurrency)
    out["query_page100_per_s"] = await _rate(
        50, lambda i: storage.query_messages("t1", purpose="risk_control", limit=100))
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"n": args.n, "sealer": await bench_sealer(args.n)}
    with tempfile.TemporaryDirectory() as d:
        s = await open_storage(f"sqlite://{d}/bench.db")
        try:
            result["sqlite"] = await bench_backend(s, args.n, args.concurrency)
        finally:
            await s.close()
    if args.pg:
        schema = f"cw_bench_{uuid.uuid4().hex[:8]}"
        s = await open_storage(f"{args.pg}?schema={schema}")
        try:
            result["postgres"] = await bench_backend(s, args.n, args.concurrency)
        finally:
            await s.drop_schema()  # type: ignore[attr-defined]
            await s.close()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test",
                   help="PostgreSQL URL ('' to skip)")
    args = p.parse_args()
    res = asyncio.run(main_async(args))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
