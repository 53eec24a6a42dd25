"""Structured JSON logs that never carry chat text, detected values, tokens or keys.

:func:`configure_logging` sets up structlog (and routes the standard library's loggers,
aiohttp's included, through the same chain) to print one JSON object per line::

    merge_contextvars (request_id) -> add_log_level -> timestamp -> strip_sensitive -> JSON

:func:`strip_sensitive` is the one place content is kept out of logs. It works by
allow-list: only the keys in :data:`SAFE_KEYS` pass (ids, counts, kinds, status codes,
durations); the value of any other key is replaced by ``"[stripped]"``. The ``event``
string itself is scrubbed of digit runs, e-mail addresses and bearer tokens, in case
someone formats a value into it. An exception is reduced to its type and where it was
raised: exception *messages* can quote input (a JSON parser's, a database's) and are
dropped.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import IO, Any, TextIO, cast

import structlog

__all__ = [
    "SAFE_KEYS",
    "STRIPPED",
    "configure_logging",
    "exception_fields",
    "get_logger",
    "scrub",
    "strip_sensitive",
]

STRIPPED = "[stripped]"

SAFE_KEYS = frozenset(
    {
        # structlog's own
        "event",
        "level",
        "timestamp",
        "logger",
        # request context
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
        "token_id",
        "role",
        "content_type",
        "body_bytes",
        # ingest and storage: ids and counts, never content
        "message_id",
        "conversation_id",
        "messages",
        "created",
        "replayed",
        "entity_count",
        "purposes",
        "kind",
        "cause",
        "code",
        "field",
        "in_flight",
        "limit",
        "shed",
        "retry_after",
        # outbox
        "outbox_id",
        "attempts",
        "next_in_s",
        "upstream_status",
        "fetched",
        # lifecycle
        "host",
        "port",
        "storage",
        "workers",
        "ner",
        "tenant",
        "version",
        "config",
        # exceptions, reduced by this processor
        "exc_type",
        "exc_where",
    }
)

_DIGIT_RUN = re.compile(r"\d(?:[\d\s.\-/]{4,}\d)")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_TOKEN = re.compile(r"(?i)\b(?:bearer\s+)?cw_[a-z0-9]+_[A-Za-z0-9_-]+|\bbearer\s+\S+")


def scrub(text: str) -> str:
    """``text`` with bearer tokens, e-mail addresses and digit runs (6+) replaced."""
    text = _TOKEN.sub("[token]", text)
    text = _EMAIL.sub("[email]", text)
    return _DIGIT_RUN.sub("[digits]", text)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}:{last.name}"


def exception_fields(exc: BaseException) -> dict[str, str]:
    """An exception as log fields: its type and where it was raised, never its message.
    Use instead of ``exc_info`` where a renderer might print locals or messages."""
    return {"exc_type": type(exc).__name__, "exc_where": _where(exc)}


def strip_sensitive(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Keep only :data:`SAFE_KEYS`; reduce exceptions to type and place; scrub ``event``."""
    exc = event_dict.pop("exc_info", None)
    if exc:
        if exc is True:
            exc = sys.exc_info()[1]
        elif isinstance(exc, tuple):
            exc = exc[1]
        if isinstance(exc, BaseException):
            event_dict["exc_type"] = type(exc).__name__
            event_dict["exc_where"] = _where(exc)
    for key in list(event_dict):
        if key not in SAFE_KEYS:
            event_dict[key] = STRIPPED
    event = event_dict.get("event")
    if isinstance(event, str):
        event_dict["event"] = scrub(event)
    elif event is not None:
        event_dict["event"] = STRIPPED
    return event_dict


def _processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        strip_sensitive,
    ]


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """Print JSON log lines to ``stream`` (stderr by default), structlog and stdlib alike."""
    out = stream if stream is not None else sys.stderr
    lvl = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*_processors(), structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, out)),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_processors()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_chatwarden", False):
            root.removeHandler(h)
    handler._chatwarden = True  # type: ignore[attr-defined]  # marks our handler for replacement
    root.addHandler(handler)
    root.setLevel(lvl)


def get_logger(name: str = "chatwarden") -> Any:
    return structlog.get_logger(name)
