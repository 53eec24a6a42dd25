"""Prometheus metrics in the text exposition format (0.0.4), without a client library.

A :class:`Metrics` registry holds the few series the service exports:

* ``chatwarden_http_requests_total{route,method,status}`` -- counter
* ``chatwarden_http_request_duration_seconds{route}`` -- histogram
* ``chatwarden_in_flight_requests`` / ``chatwarden_in_flight_messages`` -- gauges
* ``chatwarden_admission_limit`` -- requests admitted at once now (adapts to latency)
* ``chatwarden_admission_target_seconds`` -- the one-message median latency admission
  holds to now (``latency_target_ms``, or lower once learned: ``latency_headroom``)
* ``chatwarden_rejected_total{reason}`` -- admission refusals (overload)
* ``chatwarden_failures_total{kind}`` -- fail-closed errors: detection, storage, keys, ...
* ``chatwarden_messages_total{outcome}`` -- created / replayed
* ``chatwarden_outbox_total{outcome}`` -- delivered / retried / parked
* ``chatwarden_outbox_pending`` -- rows seen due at the last outbox fetch

Labels are route templates and kinds, never ids or content.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["METRICS", "Counter", "Gauge", "Histogram", "Metrics"]

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]


def _fmt_labels(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = (*labels, *extra)
    if not pairs:
        return ""
    esc = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for _, v in pairs)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(pairs, esc, strict=True)) + "}"


def _fmt_num(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


@dataclass(slots=True)
class Counter:
    name: str
    help: str
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, v in sorted(self.values.items()):
            yield f"{self.name}{_fmt_labels(labels)} {_fmt_num(v)}"


@dataclass(slots=True)
class Gauge:
    name: str
    help: str
    value: float = 0.0

    def set(self, v: float) -> None:
        self.value = v

    def add(self, v: float) -> None:
        self.value += v

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        yield f"{self.name} {_fmt_num(self.value)}"


@dataclass(slots=True)
class _Series:
    counts: list[int]
    total: float = 0.0
    n: int = 0


@dataclass(slots=True)
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    series: dict[Labels, _Series] = field(default_factory=dict)

    def observe(self, v: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = _Series([0] * len(self.buckets))
        i = bisect.bisect_left(self.buckets, v)
        if i < len(self.buckets):
            s.counts[i] += 1
        s.total += v
        s.n += 1

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, s in sorted(self.series.items()):
            cum = 0
            for le, c in zip(self.buckets, s.counts, strict=True):
                cum += c
                yield f"{self.name}_bucket{_fmt_labels(labels, (('le', repr(le)),))} {cum}"
            yield f"{self.name}_bucket{_fmt_labels(labels, (('le', '+Inf'),))} {s.n}"
            yield f"{self.name}_sum{_fmt_labels(labels)} {s.total!r}"
            yield f"{self.name}_count{_fmt_labels(labels)} {s.n}"


class Metrics:
    """The service's registry; one per app (``app[METRICS]``)."""

    def __init__(self) -> None:
        self.requests = Counter(
            "chatwarden_http_requests_total", "HTTP requests by route, method and status."
        )
        self.latency = Histogram(
            "chatwarden_http_request_duration_seconds", "HTTP request latency by route."
        )
        self.in_flight = Gauge("chatwarden_in_flight_requests", "Ingest requests being processed.")
        self.in_flight_messages = Gauge(
            "chatwarden_in_flight_messages", "Messages being processed."
        )
        self.admission_limit = Gauge(
            "chatwarden_admission_limit", "Requests admitted at once (adapts to latency)."
        )
        self.admission_target = Gauge(
            "chatwarden_admission_target_seconds",
            "Median one-message ingest latency admission holds to (learned, capped).",
        )
        self.rejected = Counter(
            "chatwarden_rejected_total", "Requests refused by admission control."
        )
        self.failures = Counter("chatwarden_failures_total", "Fail-closed errors by kind.")
        self.messages = Counter("chatwarden_messages_total", "Ingested messages by outcome.")
        self.outbox = Counter("chatwarden_outbox_total", "Upstream deliveries by outcome.")
        self.outbox_pending = Gauge(
            "chatwarden_outbox_pending", "Outbox rows due at the last fetch."
        )

    def render(self) -> str:
        parts: list[str] = []
        for m in (
            self.requests,
            self.latency,
            self.in_flight,
            self.in_flight_messages,
            self.admission_limit,
            self.admission_target,
            self.rejected,
            self.failures,
            self.messages,
            self.outbox,
            self.outbox_pending,
        ):
            parts.extend(m.render())
        return "\n".join(parts) + "\n"


METRICS = web.AppKey("chatwarden.metrics", Metrics)
