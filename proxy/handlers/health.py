"""Operational endpoints, open without a token and never refused by admission control:

* ``GET /healthz`` -- the process is alive (no I/O; always cheap).
* ``GET /readyz`` -- the model is loaded and storage answers a ping: 200, else 503 with
  ``Retry-After`` and which check failed (``{"checks": {"model": "ok", "storage":
  "unavailable"}}``).
* ``GET /metrics`` -- Prometheus text (see :mod:`proxy.metrics`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from proxy.audit import runtime as audit_runtime
from proxy.metrics import METRICS

__all__ = ["READINESS", "Readiness", "register"]


@dataclass(slots=True)
class Readiness:
    """Named checks, each an async callable that raises when not ready."""

    checks: dict[str, Callable[[], Awaitable[None]]]
    timeout: float = 2.0
    retry_after: int = 1


READINESS = web.AppKey("chatwarden.readiness", Readiness)


def register(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    ready = request.app.get(READINESS)
    results: dict[str, str] = {}
    if ready is None:
        results["service"] = "starting"
    else:
        for name, check in ready.checks.items():
            try:
                async with asyncio.timeout(ready.timeout):
                    await check()
                results[name] = "ok"
            except Exception:  # any failure: not ready (details stay out of the answer)
                results[name] = "unavailable"
    ok = all(v == "ok" for v in results.values())
    resp = web.Response(
        status=200 if ok else 503,
        text=json.dumps({"status": "ready" if ok else "not_ready", "checks": results}),
        content_type="application/json",
    )
    if not ok:
        resp.headers["Retry-After"] = str(ready.retry_after if ready else 1)
    return resp


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        # The audit trail's counters (events, checkpoints, failures by cause) follow.
        text=request.app[METRICS].render() + audit_runtime.metrics_text(request.app),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )
