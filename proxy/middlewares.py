"""The middleware chain, outermost first:

1. :func:`observe` -- request id (``X-Request-ID``, generated unless the client sent a
   safe one), bound into every log line of the request; one access log line; metrics.
   Requests refused by admission get no line each: :class:`ShedLog` writes one line
   with their count per second at most (under overload a line per refusal costs the
   event loop ~24 us each, hundreds of times a second, and floods the log).
2. :func:`errors` -- the ONE place errors become HTTP answers: ``{"error": {"code",
   "message"}}`` with the status of the error's kind (table in :func:`error_response`).
   Messages name the field or the kind of problem, never request content.
3. :func:`admission` -- bounded work: at most :attr:`Admission.limit` requests are
   processed at once (health and metrics endpoints excepted); the next one gets 503 with
   ``Retry-After`` at once instead of waiting in an unbounded queue. Ingest also holds
   its messages against ``[server] max_in_flight_messages`` (:meth:`Admission.try_admit`).
   Each request runs under ``[server] request_timeout``.

   The limit adapts to keep ingest latency near ``[server] latency_target_ms``
   (:meth:`Admission.observe`): a fixed count cannot, because how long N requests in
   flight wait depends on the machine and the messages. Every 100 ms the median latency
   of the interval's ingest requests is compared with its target: ``latency_target_ms``
   for one message, plus ``latency_target_per_message_ms`` for each further message of
   a batch (a batch takes longer than one message even on an idle server; held to the
   one-message target, batched traffic would sit at the floor, below its throughput).
   The median, not a lucky few: under overload a short message that needs no model
   gets through in a few milliseconds while the rest queue. Watching the fastest
   request, and then the fastest tenth, the admitted requests' median settled at 1.6x
   the target under overload and their p99 at ~4x; held to the median, their p99 stays
   near 3x (measured on the 2-core benchmark host).

   * Slower than its target: half the requests queued, so there is a standing queue.
     The limit drops by a quarter, or by the share the median overran the target
     (twice the target: half; never more), never below ``2 x [redact] workers``: that
     many requests keep every detection worker fed.
   * On time, with at least half the limit in flight at some moment of the interval, or
     with the limit below a quarter of ``[server] max_in_flight``: the limit rises by
     one, up to ``max_in_flight``.
   * On time, with less than an eighth of it ever in flight: it drifts down by one, not
     below a quarter of ``max_in_flight``.

   So at light load the limit sits at a quarter of ``max_in_flight``: an overload that
   starts meets a short queue rather than ``max_in_flight``'s (64 requests take a second
   to drain, and every request in it would carry that second), while bursts far above
   the usual peak still get in, and a hiccup that cut the limit is undone.

   The one-message target is also learned (``[server] latency_headroom``, default 2):
   at most that many times the median one-message latency the server had while nothing
   queued, when that is below ``latency_target_ms``. A fixed target cannot suit every
   machine: 10 ms is three times the unqueued median of a slow 2-core host and five
   times a fast one's, where under overload the admitted requests' p99 then reached
   2.4-3.7 times their p99 at 200 requests/s (two runs). The unqueued median is an
   average over intervals with at most ``[redact] workers`` requests in flight at any
   moment (each started on a worker at once), a limit above that (else the limit itself
   kept them few), and three or more one-message requests; intervals with more in
   flight never teach it, so an overload cannot raise its own target. Until it has
   learned (a cold start straight into overload), ``latency_target_ms`` alone applies.

   Under overload the admitted requests therefore keep close to their unloaded latency
   and the excess is refused at once. ``latency_target_ms = 0`` keeps the limit fixed
   at ``max_in_flight``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from proxy.audit.errors import AuditUnavailable
from proxy.auth import Forbidden, Unauthorized
from proxy.errors import DecryptionError, KeyringError, UsageError
from proxy.handlers.errors import ApiError, Overloaded, Unavailable
from proxy.logging import exception_fields, get_logger
from proxy.metrics import METRICS
from proxy.storage.errors import ConflictingRecord, StorageUnavailable
from redact.errors import RedactError

__all__ = [
    "ADMISSION",
    "INGEST_MESSAGES",
    "LOG_FIELDS",
    "SHED_LOG",
    "Admission",
    "ShedLog",
    "admission",
    "error_response",
    "errors",
    "observe",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Endpoints that must answer even when the service is saturated.
UNBOUNDED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Fields a handler adds to its request's access line (identifiers and counts only).
LOG_FIELDS = web.RequestKey("chatwarden.log_fields", dict[str, Any])
# Set by admission on a request it refused (counted by ShedLog, not logged each).
_SHED = web.RequestKey("chatwarden.shed", bool)
# How many messages an admitted ingest request carried (set by the ingest handler).
INGEST_MESSAGES = web.RequestKey("chatwarden.ingest_messages", int)
# The requests whose latency adapts the admission limit.
INGEST_PATH = "/v1/messages"

log = get_logger("chatwarden.http")


class ShedLog:
    """Counts the requests admission refused and logs them as one line ("requests shed",
    ``shed`` = how many) per ``interval`` at most, instead of an access line each.

    A refusal is logged at once when none was in the last ``interval``; under sustained
    overload the count goes out with the first refusal after each ``interval``, or with
    the next request that is not refused. The exact counts are in /metrics
    (``chatwarden_rejected_total``).
    """

    __slots__ = ("_clock", "_since", "interval", "pending")

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.interval, self._clock = interval, clock
        self.pending = 0
        self._since = clock() - interval

    def note(self, shed: bool) -> None:
        """Called once per request (outside its log context): ``shed`` if refused."""
        if shed:
            self.pending += 1
        elif not self.pending:
            return
        now = self._clock()
        if not shed or now - self._since >= self.interval:
            log.info("requests shed", shed=self.pending)
            self.pending = 0
            self._since = now


SHED_LOG = web.AppKey("chatwarden.shed_log", ShedLog)


def _route(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request.headers.get("X-Request-ID", "")
    if not _REQUEST_ID.fullmatch(rid):
        rid = uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=rid)
    route = _route(request)
    t0 = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = rid
        return response
    except web.HTTPException as exc:  # only if raised past the error middleware
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - t0
        metrics = request.app[METRICS]
        metrics.requests.inc(route=route, method=request.method, status=str(status))
        metrics.latency.observe(elapsed, route=route)
        shed = request.get(_SHED, False)
        if request.path not in UNBOUNDED_PATHS and not shed:
            # One line per request: a handler adds its own counts to it (see LOG_FIELDS)
            # rather than writing a second line.
            log.info(
                "request",
                method=request.method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                **request.get(LOG_FIELDS, {}),
            )
        structlog.contextvars.clear_contextvars()
        sheds = request.app.get(SHED_LOG)
        if sheds is not None:
            sheds.note(shed)


def _body(status: int, code: str, message: str, **extra: Any) -> web.Response:
    doc = {"error": {"code": code, "message": message, **extra}}
    return web.Response(status=status, text=json.dumps(doc), content_type="application/json")


def error_response(exc: BaseException, retry_after: int) -> tuple[web.Response, str | None]:
    """The answer for ``exc`` and its failure kind (a /metrics label) if it fails closed.

    ======================================  ======  ==================
    error                                   status  code
    ======================================  ======  ==================
    ApiError subclasses                     own     own
    Unauthorized                            401     unauthorized
    Forbidden                               403     forbidden
    ConflictingRecord                       409     conflict
    UsageError (a bad query value...)       400     bad_request
    StorageUnavailable                      503     unavailable/storage
    RedactError, BrokenProcessPool          503     unavailable/detection
    KeyringError, DecryptionError           503     unavailable/keys
    AuditUnavailable                        503     unavailable/audit
    TimeoutError                            503     unavailable/timeout
    anything else                           500     internal
    ======================================  ======  ==================
    """
    kind: str | None = None
    if isinstance(exc, Unavailable):
        kind = exc.kind
        resp = _body(503, exc.code, str(exc), kind=kind)
    elif isinstance(exc, ApiError):
        extra = {"field": exc.field} if exc.field else {}
        resp = _body(exc.status, exc.code, str(exc), **extra)
    elif isinstance(exc, Unauthorized):
        resp = _body(401, "unauthorized", str(exc))
        resp.headers["WWW-Authenticate"] = 'Bearer realm="chatwarden"'
    elif isinstance(exc, Forbidden):
        resp = _body(403, "forbidden", str(exc))
    elif isinstance(exc, ConflictingRecord):
        resp = _body(409, "conflict", str(exc))
    elif isinstance(exc, StorageUnavailable):
        kind = "storage"
        resp = _body(
            503, "unavailable", "storage is unavailable; nothing was stored, retry later", kind=kind
        )
    elif isinstance(exc, RedactError | BrokenProcessPool):
        kind = "detection"
        resp = _body(
            503,
            "unavailable",
            "detection is unavailable; nothing was stored, retry later",
            kind=kind,
        )
    elif isinstance(exc, KeyringError | DecryptionError):
        kind = "keys"
        resp = _body(
            503, "unavailable", "keys are unavailable; nothing was stored, retry later", kind=kind
        )
    elif isinstance(exc, AuditUnavailable):
        kind = "audit"
        resp = _body(
            503, "unavailable", "the audit trail is unavailable; nothing was returned", kind=kind
        )
    elif isinstance(exc, TimeoutError):
        kind = "timeout"
        resp = _body(503, "unavailable", "the request took too long; retry later", kind=kind)
    elif isinstance(exc, UsageError):
        resp = _body(400, "bad_request", str(exc))
    else:
        kind = "internal"
        resp = _body(500, "internal", "internal error; the request id is in the logs")
    if resp.status == 503:
        after = getattr(exc, "retry_after", None) or retry_after
        resp.headers["Retry-After"] = str(max(1, round(after)))
    return resp, kind


_REASON_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


@dataclass(frozen=True, slots=True)
class ErrorSettings:
    retry_after: int = 1


ERROR_SETTINGS = web.AppKey("chatwarden.error_settings", ErrorSettings)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    retry_after = request.app[ERROR_SETTINGS].retry_after
    try:
        return await handler(request)
    except web.HTTPException as exc:
        # aiohttp's own (404, 405, its body-size limit) and answers other route modules
        # raise themselves: re-shaped into {"error": {"code", "message", ...}}.
        if exc.status < 400:
            raise
        code = _REASON_CODES.get(exc.status, "unavailable" if exc.status == 503 else "http_error")
        message, extra = (exc.reason or code).lower(), {}
        if exc.content_type == "application/json":
            try:
                doc = json.loads(exc.text or "")
            except ValueError:
                doc = None
            if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
                raise  # already in this service's shape
            if isinstance(doc, dict) and isinstance(doc.get("error"), str):
                message = doc["error"]
                extra = {k: v for k, v in doc.items() if k != "error"}
        resp = _body(exc.status, code, message, **extra)
        for h in ("Allow", "Retry-After"):
            if h in exc.headers:
                resp.headers[h] = exc.headers[h]
        if resp.status == 503 and "Retry-After" not in resp.headers:
            # Every 503 tells the client when to come back, whoever raised it.
            resp.headers["Retry-After"] = str(max(1, retry_after))
        return resp
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        resp, kind = error_response(exc, retry_after)
        if kind is not None:
            request.app[METRICS].failures.inc(kind=kind)
            log.warning("request failed", kind=kind, status=resp.status, **exception_fields(exc))
        elif resp.status >= 400:
            log.info("request refused", status=resp.status, code=type(exc).__name__)
        return resp


class Admission:
    """Counts requests (and, for ingest, messages) in flight; refuses beyond the limits
    (see the module docstring)."""

    __slots__ = (
        "_clock",
        "_interval_end",
        "_peak",
        "_seen",
        "_single",
        "ceiling",
        "floor",
        "headroom",
        "idle",
        "in_flight",
        "interval",
        "limit",
        "message_limit",
        "messages",
        "parallel",
        "per_message",
        "target",
        "timeout",
        "unqueued",
    )

    def __init__(
        self,
        limit: int,
        timeout: float,
        message_limit: int = 1_000_000,
        *,
        latency_target: float = 0.0,
        per_message: float = 0.0,
        floor: int = 2,
        headroom: float = 0.0,
        parallel: int = 1,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = self.limit = limit
        self.floor = max(1, min(floor, limit))
        # Where the limit settles at light load (see the module docstring).
        self.idle = max(self.floor, limit // 4)
        self.timeout, self.in_flight = timeout, 0
        self.message_limit, self.messages = message_limit, 0
        self.target, self.interval = latency_target, interval
        self.per_message = per_message
        # Learned target (module docstring): ``headroom`` times ``unqueued``, the average
        # median of one-message requests over intervals with at most ``parallel`` (the
        # detection workers) in flight; None until learned. headroom 0: never learned.
        self.headroom, self.parallel = headroom, max(1, parallel)
        self.unqueued: float | None = None
        self._clock = clock
        self._seen: list[float] = []
        self._single: list[float] = []
        self._peak = 0
        self._interval_end = clock() + interval

    def enter(self) -> bool:
        """Count one more request in flight if the limit allows; False (count nothing)
        otherwise."""
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        if self.in_flight > self._peak:
            self._peak = self.in_flight
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def try_admit(self, n: int) -> bool:
        """Take ``n`` messages of the budget if they fit; False (take nothing) otherwise."""
        if self.messages + n > self.message_limit:
            return False
        self.messages += n
        return True

    def release(self, n: int) -> None:
        self.messages -= n

    def observe(self, seconds: float, messages: int = 1) -> None:
        """Record how long an admitted ingest request of ``messages`` messages took; adapt
        the limit once per interval (see the module docstring). The interval's latencies
        are kept until its end (at most a few hundred floats)."""
        if self.target <= 0:
            return
        if messages == 1:
            self._single.append(seconds)
        # Measured against the one-message target: a batch's allowance comes off first.
        seconds -= self.per_message * (messages - 1)
        self._seen.append(seconds)
        now = self._clock()
        if now < self._interval_end:
            return
        self._learn()
        target = self.current_target()
        seen = self._seen
        seen.sort()
        median = seen[(len(seen) - 1) // 2]  # the lower median: the one request of one
        if median > target:
            # Down by a quarter, or by as much as the median overran the target (twice
            # the target: half), so that a sudden overload is met within a few
            # intervals; never more than half at once, and always by at least one.
            factor = max(0.5, min(0.75, target / median))
            self.limit = max(self.floor, min(self.limit - 1, int(self.limit * factor)))
        elif 2 * self._peak >= self.limit or self.limit < self.idle:
            # On time, and half the limit was in use (or it is below its light-load level)
            self.limit = min(self.ceiling, self.limit + 1)
        elif 8 * self._peak < self.limit and self.limit > self.idle:
            # On time with most of the limit unused: drift down towards eight times the
            # peak, not below a quarter of max_in_flight, so that a sudden overload
            # starts from a short queue instead of max_in_flight's (64 requests take a
            # second to drain, and every request in it would carry that second), while
            # bursts far above the usual peak still get in.
            self.limit -= 1
        self._seen = []
        self._single = []
        self._peak = self.in_flight
        self._interval_end = now + self.interval

    def current_target(self) -> float:
        """The one-message latency target now, in seconds: ``latency_target_ms``, or
        ``headroom`` times the learned unqueued median when that is lower."""
        if self.headroom > 0 and self.unqueued is not None:
            return min(self.target, self.headroom * self.unqueued)
        return self.target

    def _learn(self) -> None:
        """Fold the ending interval's one-message median into ``unqueued`` if nothing
        queued in it (at most ``parallel`` requests in flight at any moment)."""
        single = self._single
        # With the limit at ``parallel`` or below, few in flight says nothing: the limit
        # itself may have kept them few (an overload held at the floor).
        if (
            self.headroom <= 0
            or len(single) < 3
            or self._peak > self.parallel
            or self.limit <= self.parallel
        ):
            return
        single.sort()
        median = single[(len(single) - 1) // 2]
        # A moving average (each interval weighs a tenth: a time constant of ten
        # intervals, 1 s), so that one interval of unusual messages moves it little.
        u = self.unqueued
        self.unqueued = median if u is None else u + 0.1 * (median - u)


ADMISSION = web.AppKey("chatwarden.admission", Admission)

_OVERLOADED_BODY = json.dumps(
    {
        "error": {
            "code": Overloaded.code,
            "message": "too many requests in flight; retry after the Retry-After delay",
            "kind": "overload",
        }
    }
).encode()


@web.middleware
async def admission(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in UNBOUNDED_PATHS:
        return await handler(request)
    gate = request.app[ADMISSION]
    metrics = request.app[METRICS]
    if not gate.enter():
        # Shedding must stay cheap when the server is already out of CPU: a prebuilt
        # answer in the error shape, no exception and no warning line per refused request
        # (ShedLog's counted line and the counters below record it).
        metrics.rejected.inc(reason="in_flight")
        metrics.failures.inc(kind="overload")
        request[_SHED] = True
        return web.Response(
            status=503,
            body=_OVERLOADED_BODY,
            content_type="application/json",
            headers={"Retry-After": str(max(1, request.app[ERROR_SETTINGS].retry_after))},
        )
    metrics.in_flight.set(gate.in_flight)
    started = time.perf_counter()
    ok = False
    try:
        async with asyncio.timeout(gate.timeout):
            response = await handler(request)
        ok = response.status < 300
        return response
    finally:
        gate.leave()
        metrics.in_flight.set(gate.in_flight)
        if ok and request.path == INGEST_PATH:
            gate.observe(time.perf_counter() - started, request.get(INGEST_MESSAGES, 1))
            metrics.admission_limit.set(gate.limit)
            metrics.admission_target.set(gate.current_target())
