"""The error middleware: any 503, whoever raised it, tells the client when to retry."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from proxy.middlewares import ERROR_SETTINGS, ErrorSettings, errors


async def _unavailable(request: web.Request) -> web.Response:
    raise web.HTTPServiceUnavailable(
        text='{"error": "store down"}', content_type="application/json"
    )


async def test_plain_http_503_gets_retry_after_and_the_error_shape() -> None:
    """A bare HTTPServiceUnavailable from a route module leaves with Retry-After set."""
    app = web.Application(middlewares=[errors])
    app[ERROR_SETTINGS] = ErrorSettings(7)
    app.router.add_get("/x", _unavailable)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/x")
        body = await resp.json()
    assert resp.status == 503 and resp.headers["Retry-After"] == "7"
    assert body["error"]["message"] == "store down"
