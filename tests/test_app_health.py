"""GET /healthz, /readyz and /metrics, and the error shape of unknown routes."""

from __future__ import annotations

from pathlib import Path

from proxy.app import Overrides
from tests.app_testing import FlakyStorage, flaky_opener, make_env, message, serve


async def test_healthz_is_alive_without_a_token(tmp_path: Path) -> None:
    """/healthz answers 200 with no token."""
    async with serve(make_env(tmp_path)) as client:
        resp = await client.get("/healthz")
        assert resp.status == 200 and (await resp.json())["status"] == "alive"


async def test_readyz_is_ready_when_model_and_storage_are(tmp_path: Path) -> None:
    """/readyz answers 200 naming both checks ok."""
    async with serve(make_env(tmp_path)) as client:
        resp = await client.get("/readyz")
        body = await resp.json()
    assert resp.status == 200 and body["checks"] == {"model": "ok", "storage": "ok"}


async def test_readyz_is_503_when_storage_is_down(tmp_path: Path) -> None:
    """/readyz answers 503 with Retry-After and names the failing check; /healthz stays 200."""
    holder: list[FlakyStorage] = []
    async with serve(
        make_env(tmp_path), Overrides(audit=False, open_storage=flaky_opener(holder))
    ) as client:
        holder[0].down = True
        ready = await client.get("/readyz")
        body = await ready.json()
        alive = await client.get("/healthz")
    assert ready.status == 503 and "Retry-After" in ready.headers
    assert body["checks"]["storage"] == "unavailable"
    assert alive.status == 200


async def test_metrics_count_requests_latency_and_failures(tmp_path: Path) -> None:
    """/metrics exposes request counts by route/status, latency histogram and failures by kind."""
    env = make_env(tmp_path)
    holder: list[FlakyStorage] = []
    async with serve(env, Overrides(audit=False, open_storage=flaky_opener(holder))) as client:
        await client.post("/v1/messages", json=message(), headers=env.auth())
        holder[0].down = True
        await client.post("/v1/messages", json=message(2), headers=env.auth())
        holder[0].down = False
        text = await (await client.get("/metrics")).text()
    assert (
        'chatwarden_http_requests_total{method="POST",route="/v1/messages",status="201"} 1' in text
    )
    assert (
        'chatwarden_http_requests_total{method="POST",route="/v1/messages",status="503"} 1' in text
    )
    assert 'chatwarden_http_request_duration_seconds_count{route="/v1/messages"} 2' in text
    assert 'chatwarden_failures_total{kind="storage"} 1' in text
    assert "chatwarden_in_flight_requests 0" in text


async def test_unknown_route_is_404_in_the_error_shape(tmp_path: Path) -> None:
    """An unknown path answers 404 with the JSON error body."""
    async with serve(make_env(tmp_path)) as client:
        resp = await client.get("/v1/nothing")
        body = await resp.json()
    assert resp.status == 404 and body["error"]["code"] == "not_found"


async def test_wrong_method_is_405_in_the_error_shape(tmp_path: Path) -> None:
    """PUT on the messages route answers 405 with Allow and the JSON error body."""
    async with serve(make_env(tmp_path)) as client:
        resp = await client.put("/v1/messages")
        body = await resp.json()
    assert resp.status == 405 and body["error"]["code"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]


async def test_request_id_is_echoed(tmp_path: Path) -> None:
    """A safe X-Request-ID from the client is echoed back."""
    async with serve(make_env(tmp_path)) as client:
        resp = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"


async def test_audit_endpoints_are_composed_into_the_app(tmp_path: Path) -> None:
    """With the audit trail on, /v1/audit answers the auditor and refuses other roles."""
    env = make_env(tmp_path)
    async with serve(env, Overrides(audit=True)) as client:
        ok = await client.get("/v1/audit", headers=env.auth("auditor"))
        wrong = await client.get("/v1/audit", headers=env.auth("ingest"))
        anonymous = await client.get("/v1/audit")
    assert (ok.status, wrong.status, anonymous.status) == (200, 403, 401)


async def test_errors_raised_by_other_route_modules_get_the_common_shape(tmp_path: Path) -> None:
    """An HTTPForbidden with a flat JSON error from another module is re-shaped."""
    env = make_env(tmp_path)
    async with serve(env, Overrides(audit=True)) as client:
        resp = await client.get("/v1/audit", headers=env.auth("ingest"))
        body = await resp.json()
    assert resp.status == 403
    assert body["error"]["code"] == "forbidden" and body["error"]["message"]
