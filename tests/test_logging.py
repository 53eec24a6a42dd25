"""The log processor strips chat text, detected values, tokens and keys."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog
from structlog.testing import capture_logs

from proxy.app import Overrides
from proxy.logging import STRIPPED, configure_logging, get_logger, strip_sensitive
from proxy.middlewares import ShedLog
from redact import RedactConfig
from tests.app_testing import CARD, BrokenRedactor, make_env, message, serve

TOKEN = "cw_1a2b3c4d_" + "A" * 43


def test_unknown_keys_are_stripped() -> None:
    """Keys outside the allow-list (text, value, token, key...) are replaced."""
    out = strip_sensitive(
        None,
        "info",
        {
            "event": "x",
            "text": f"card {CARD}",
            "value": CARD,
            "token": TOKEN,
            "key": b"\x01" * 32,
            "message_id": "m-1",
        },
    )
    assert out["text"] == out["value"] == out["token"] == out["key"] == STRIPPED
    assert out["message_id"] == "m-1"


def test_event_strings_are_scrubbed() -> None:
    """Digit runs, e-mail addresses and bearer tokens formatted into the event are removed."""
    out = strip_sensitive(
        None, "info", {"event": f"got {CARD} from a@b.example with Bearer {TOKEN}"}
    )
    assert (
        CARD not in out["event"] and "a@b.example" not in out["event"] and TOKEN not in out["event"]
    )


def test_exceptions_keep_only_type_and_place() -> None:
    """An exception's message (which may quote input) never reaches the log."""
    try:
        raise ValueError(f"bad value {CARD}")
    except ValueError as exc:
        out = strip_sensitive(None, "error", {"event": "failed", "exc_info": exc})
    assert out["exc_type"] == "ValueError"
    assert CARD not in json.dumps(out)


def test_capture_logs_shows_the_processor_at_work() -> None:
    """Through structlog's chain, a logged text value comes out stripped."""
    with capture_logs(processors=[strip_sensitive]) as logs:
        structlog.get_logger().info("ingested", text=f"my card {CARD}", messages=1)
    assert (logs[0]["text"], logs[0]["messages"]) == (STRIPPED, 1)


@contextlib.contextmanager
def json_logs(level: str) -> Iterator[io.StringIO]:
    """The service's JSON logging into a string for the block, then back to defaults."""
    stream = io.StringIO()
    configure_logging(level, stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        root = logging.getLogger()
        for h in [h for h in root.handlers if getattr(h, "_chatwarden", False)]:
            root.removeHandler(h)


async def test_serving_requests_logs_no_text_values_or_tokens(tmp_path: Path) -> None:
    """Ingesting, refusing and failing requests leaves no text, value or token in the JSON logs."""
    env = make_env(tmp_path)
    with json_logs("debug") as stream:
        async with serve(env) as client:
            await client.post("/v1/messages", json=message(), headers=env.auth())
            await client.post("/v1/messages", json=message(2, sent_at=CARD), headers=env.auth())
            await client.post(
                "/v1/messages", json=message(3), headers={"Authorization": f"Bearer {TOKEN}"}
            )
            get_logger().warning(f"oops {CARD}", text=CARD)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    assert any(line.get("request_id") for line in lines)
    raw = stream.getvalue()
    leaked = [s for s in (CARD, CARD.replace(" ", ""), env.tokens["ingest"], TOKEN) if s in raw]
    assert not leaked, "a secret or value reached the log"


async def test_an_ingest_request_writes_one_access_line_with_its_counts(tmp_path: Path) -> None:
    """One line per request: the ingest handler's counts ride on the access line (a second
    line per request costs the event loop time under load)."""
    env = make_env(tmp_path)
    with json_logs("info") as stream:
        async with serve(env) as client:
            first = await client.post("/v1/messages", json=message(1), headers=env.auth())
            again = await client.post("/v1/messages", json=message(1), headers=env.auth())
            assert (first.status, again.status) == (201, 200)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    ingest = [x for x in lines if x.get("route") == "/v1/messages" or x.get("messages")]
    assert [(x["event"], x["status"], x["created"], x["replayed"]) for x in ingest] == [
        ("request", 201, 1, 0),
        ("request", 200, 0, 1),
    ]
    assert all(x["token_id"] and x["messages"] == 1 for x in ingest)


def _shed_lines(stream: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(x) for x in stream.getvalue().splitlines() if x.strip()]
    return [x for x in lines if x.get("event") == "requests shed"]


def test_refusals_are_logged_as_one_counted_line_per_interval() -> None:
    """The first refusal goes out at once; later ones within the interval are counted and
    go out with the first refusal after it, as one line with their number."""
    clock = [100.0]
    sheds = ShedLog(interval=1.0, clock=lambda: clock[0])
    with json_logs("info") as stream:
        sheds.note(True)
        assert [x["shed"] for x in _shed_lines(stream)] == [1]
        for _ in range(49):
            clock[0] += 0.01
            sheds.note(True)
        assert len(_shed_lines(stream)) == 1  # 0.49 s later: counted, not written
        clock[0] += 0.6
        sheds.note(True)
    assert [x["shed"] for x in _shed_lines(stream)] == [1, 50]
    assert sheds.pending == 0


def test_a_request_that_is_not_refused_writes_the_pending_count() -> None:
    """Refusals counted since the last line go out with the next admitted request, so the
    end of an overload is not left unlogged; with none pending it writes nothing."""
    clock = [0.0]
    sheds = ShedLog(interval=1.0, clock=lambda: clock[0])
    with json_logs("info") as stream:
        sheds.note(False)
        assert _shed_lines(stream) == []
        sheds.note(True)
        clock[0] += 0.1
        sheds.note(True)
        sheds.note(True)
        sheds.note(False)
        sheds.note(False)
    assert [x["shed"] for x in _shed_lines(stream)] == [1, 2]


async def test_a_refused_request_gets_no_access_line_of_its_own(tmp_path: Path) -> None:
    """Through the app: of two concurrent requests with room for one, the refused one
    (503) writes no access line; it is counted on a "requests shed" line that carries no
    request id (it speaks for many requests)."""
    env = make_env(tmp_path, server={"max_in_flight": 1}, redact={"workers": 1})

    class Slow(BrokenRedactor):
        async def analyze_async(self, texts: Any) -> Any:
            await asyncio.sleep(0.2)
            return await BrokenRedactor.analyze_async(self, texts)

    redactor = Slow(RedactConfig(ner=False, workers=0), state_key=b"s" * 32)
    with json_logs("info") as stream:
        async with serve(env, Overrides(audit=False, redactor=redactor)) as client:
            first = asyncio.create_task(
                client.post("/v1/messages", json=message(1), headers=env.auth())
            )
            await asyncio.sleep(0.05)
            refused = await client.post("/v1/messages", json=message(2), headers=env.auth())
            assert refused.status == 503
            assert (await first).status == 201
    lines = [json.loads(x) for x in stream.getvalue().splitlines() if x.strip()]
    access = [x for x in lines if x.get("event") == "request"]
    assert [x["status"] for x in access] == [201]
    shed = _shed_lines(stream)
    assert [x["shed"] for x in shed] == [1]
    assert "request_id" not in shed[0]
