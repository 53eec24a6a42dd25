"""POST /v1/messages: answers, idempotency, validation, auth and fail-closed behaviour."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import msgpack
import pytest

from proxy.app import REDACTOR, SEALER, STORAGE, Overrides
from proxy.middlewares import ADMISSION
from proxy.pipeline import open_original
from proxy.testing import FakeKeyStore
from redact import RedactConfig
from tests.app_testing import (
    CARD,
    BrokenRedactor,
    FlakyStorage,
    flaky_opener,
    make_env,
    message,
    serve,
)


@pytest.fixture
def env(tmp_path: Path) -> Any:
    return make_env(tmp_path)


async def post(client: Any, env: Any, doc: Any, role: str = "ingest") -> Any:
    return await client.post("/v1/messages", json=doc, headers=env.auth(role))


async def stored_count(client: Any, env: Any) -> int:
    page = await client.app[STORAGE].query_messages(env.config.tenant, purpose=None, limit=1000)
    return len(page.items)


async def test_single_message_is_stored_and_answered_redacted(env: Any) -> None:
    """One message gets 201 with the redacted text, entity offsets and purposes."""
    async with serve(env) as client:
        resp = await post(client, env, message())
        body = await resp.json()
    assert resp.status == 201
    assert body["message_id"] == "m-1"
    assert CARD not in body["redacted"] and "[CREDIT_CARD_1]" in body["redacted"]
    assert body["entities"] == [{"start": 5, "end": 5 + len(CARD), "type": "CREDIT_CARD"}]
    assert isinstance(body["purposes"], list)


async def test_batch_answers_results_in_order(env: Any) -> None:
    """A batch gets one result per message, in request order."""
    async with serve(env) as client:
        resp = await post(client, env, {"messages": [message(3), message(1), message(2)]})
        body = await resp.json()
    assert resp.status == 201
    assert [r["message_id"] for r in body["results"]] == ["m-3", "m-1", "m-2"]


async def test_msgpack_body_is_accepted(env: Any) -> None:
    """application/msgpack bodies are decoded like JSON ones."""
    async with serve(env) as client:
        resp = await client.post(
            "/v1/messages",
            data=msgpack.packb(message()),
            headers={**env.auth(), "Content-Type": "application/msgpack"},
        )
        body = await resp.json()
    assert resp.status == 201 and body["message_id"] == "m-1"


async def test_replay_answers_200_with_the_same_body(env: Any) -> None:
    """Posting the same message again answers 200 with a byte-identical body."""
    async with serve(env) as client:
        first = await post(client, env, message())
        again = await post(client, env, message())
        assert (first.status, again.status) == (201, 200)
        assert await first.read() == await again.read()
        assert await stored_count(client, env) == 1


OTHER_TEXT = "a different message under a reused id"


@pytest.mark.parametrize(
    "change",
    [
        {"text": OTHER_TEXT},  # same conversation, another text
        {"conversation_id": "c-2"},  # same text, another conversation
    ],
)
async def test_reused_message_id_is_a_409_naming_the_field(
    env: Any, change: dict[str, str]
) -> None:
    """A stored message_id sent for a different message is refused with 409 conflict; the
    answer names the field, not the text, and the stored record is unchanged."""
    async with serve(env) as client:
        first = await post(client, env, message())
        first_body = await first.read()
        resp = await post(client, env, message(**change))
        raw = await resp.text()
        record = await client.app[STORAGE].get_message(env.config.tenant, "m-1")
    assert (first.status, resp.status) == (201, 409)
    err = json.loads(raw)["error"]
    assert (err["code"], err["field"]) == ("conflict", "message_id")
    assert OTHER_TEXT not in raw and CARD not in raw
    assert record is not None and record.conversation_id == "c-1"
    assert record.response == first_body


async def test_batch_with_a_reused_message_id_stores_nothing(env: Any) -> None:
    """One conflicting message makes the whole batch a 409; its other messages are not stored."""
    async with serve(env) as client:
        await post(client, env, message(1))
        resp = await post(client, env, {"messages": [message(2), message(1, text=OTHER_TEXT)]})
        err = (await resp.json())["error"]
        assert resp.status == 409 and err["field"] == "messages[1].message_id"
        assert await client.app[STORAGE].get_message(env.config.tenant, "m-2") is None
        assert await stored_count(client, env) == 1


async def test_concurrent_posts_of_one_id_with_two_texts(env: Any) -> None:
    """Racing posts of one message_id with different texts: one is stored, the other is 409."""
    async with serve(env) as client:
        resps = await asyncio.gather(
            post(client, env, message()), post(client, env, message(text=OTHER_TEXT))
        )
        assert sorted(r.status for r in resps) == [201, 409]
        assert await stored_count(client, env) == 1


async def test_record_stored_without_a_digest_is_compared_by_conversation(env: Any) -> None:
    """A record from before text digests (NULL) replays for its conversation, whatever the
    text, and is still a 409 for another conversation."""
    async with serve(env) as client:
        first = await post(client, env, message())
        conn = sqlite3.connect(env.dir / "chatwarden.db")
        try:
            conn.execute("UPDATE messages SET text_digest = NULL")
            conn.commit()
        finally:
            conn.close()
        same_conversation = await post(client, env, message(text=OTHER_TEXT))
        other_conversation = await post(client, env, message(conversation_id="c-2"))
        assert (same_conversation.status, other_conversation.status) == (200, 409)
        assert await same_conversation.read() == await first.read()


async def test_text_digest_is_keyed_and_not_a_plain_hash(env: Any) -> None:
    """The stored digest is no plain SHA-256 of the text, and differs between messages that
    carry the same text (the message_id is in the keyed input)."""
    async with serve(env) as client:
        await post(client, env, message(1))
        await post(client, env, message(2))
        a = await client.app[STORAGE].get_message(env.config.tenant, "m-1")
        b = await client.app[STORAGE].get_message(env.config.tenant, "m-2")
    text = message()["text"].encode()
    assert a is not None and b is not None and a.text_digest and b.text_digest
    assert a.text_digest != b.text_digest
    assert hashlib.sha256(text).digest() not in (a.text_digest, b.text_digest)


async def test_batch_replay_answers_200_with_the_same_body(env: Any) -> None:
    """A replayed batch answers 200 and the same bytes."""
    batch = {"messages": [message(1), message(2)]}
    async with serve(env) as client:
        first = await post(client, env, batch)
        again = await post(client, env, batch)
        assert (first.status, again.status) == (201, 200)
        assert await first.read() == await again.read()


async def test_concurrent_posts_of_one_message_store_one_record(env: Any) -> None:
    """Eight concurrent posts of one message_id create exactly one record."""
    async with serve(env) as client:
        resps = await asyncio.gather(*(post(client, env, message()) for _ in range(8)))
        statuses = sorted(r.status for r in resps)
        bodies = {await r.read() for r in resps}
        assert statuses == [200] * 7 + [201]
        assert len(bodies) == 1
        assert await stored_count(client, env) == 1


async def test_sealed_original_opens_to_the_exact_text(env: Any) -> None:
    """The stored record's sealed original opens to the posted text."""
    text = f"pay to {CARD}\u200b, thanks 🙏"
    async with serve(env) as client:
        await post(client, env, message(text=text))
        rec = await client.app[STORAGE].get_message(env.config.tenant, "m-1")
        assert rec is not None and CARD not in rec.redacted
        assert await open_original(client.app[SEALER], rec) == text


async def test_placeholders_are_stable_across_requests_of_a_conversation(env: Any) -> None:
    """The same card in a later request of the conversation gets the same placeholder."""
    async with serve(env) as client:
        await post(client, env, message(1, text=f"card {CARD}"))
        await post(client, env, message(2, text="other card 5555 5555 5555 4444"))
        third = await (await post(client, env, message(3, text=f"again {CARD}"))).json()
    assert third["redacted"] == "again [CREDIT_CARD_1]"


class RefundTagger:
    """Tags dispute_handling on messages that mention a refund (conversation-scoped)."""

    def tag_conversations(self, messages: Any) -> list[tuple[str, ...]]:
        hit = {m.conversation_id for m in messages if "refund" in m.text}
        return [("dispute_handling",) if m.conversation_id in hit else () for m in messages]


async def test_new_purpose_retags_earlier_messages_of_the_conversation(env: Any) -> None:
    """When a later message brings a purpose, earlier stored messages gain it too."""
    async with serve(env, Overrides(audit=False, tagger=RefundTagger())) as client:  # type: ignore[arg-type]
        first = await (await post(client, env, message(1, text="hello"))).json()
        second = await (await post(client, env, message(2, text="I want a refund"))).json()
        earlier = await client.app[STORAGE].get_message(env.config.tenant, "m-1")
    assert first["purposes"] == []
    assert second["purposes"] == ["dispute_handling"]
    assert earlier is not None and earlier.purposes == frozenset({"dispute_handling"})


# ----------------------------------------------------------------- bad input


async def test_malformed_json_is_400(env: Any) -> None:
    """A body that is not JSON answers 400 malformed_body."""
    async with serve(env) as client:
        resp = await client.post(
            "/v1/messages",
            data=b'{"message_id": ',
            headers={**env.auth(), "Content-Type": "application/json"},
        )
        body = await resp.json()
    assert resp.status == 400 and body["error"]["code"] == "malformed_body"


async def test_malformed_msgpack_is_400(env: Any) -> None:
    """A body that is not msgpack answers 400 malformed_body."""
    async with serve(env) as client:
        resp = await client.post(
            "/v1/messages",
            data=b"\xc1\xff\x00",
            headers={**env.auth(), "Content-Type": "application/msgpack"},
        )
        body = await resp.json()
    assert resp.status == 400 and body["error"]["code"] == "malformed_body"


async def test_json_that_is_not_an_object_is_400(env: Any) -> None:
    """A JSON array body is refused as malformed."""
    async with serve(env) as client:
        resp = await post(client, env, [message()])
    assert resp.status == 400


async def test_wrong_content_type_is_415(env: Any) -> None:
    """text/plain answers 415 and stores nothing."""
    async with serve(env) as client:
        resp = await client.post(
            "/v1/messages",
            data=json.dumps(message()),
            headers={**env.auth(), "Content-Type": "text/plain"},
        )
        assert resp.status == 415
        assert await stored_count(client, env) == 0


async def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    """A body over max_body_bytes answers 413."""
    env = make_env(tmp_path, server={"max_body_bytes": 1024})
    async with serve(env) as client:
        resp = await post(client, env, message(text="x" * 2000))
        body = await resp.json()
    assert resp.status == 413 and body["error"]["code"] == "body_too_large"


async def test_oversized_content_length_is_refused_before_the_body_is_sent(tmp_path: Path) -> None:
    """A declared Content-Length over the limit gets 413 without the server waiting for the body."""
    env = make_env(tmp_path, server={"max_body_bytes": 1024})
    async with serve(env) as client:
        reader, writer = await asyncio.open_connection(client.host, client.port)
        head = (
            "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: {env.auth()['Authorization']}\r\nContent-Length: 100000000\r\n\r\n"
        )
        writer.write(head.encode() + b'{"message_id"')
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        writer.close()
    assert status_line.split()[1] == b"413"


async def test_chunked_body_over_the_limit_is_413(tmp_path: Path) -> None:
    """A chunked body without Content-Length is cut off at the limit with 413."""
    env = make_env(tmp_path, server={"max_body_bytes": 1024})

    async def chunks() -> Any:
        for _ in range(100):
            yield b" " * 512

    async with serve(env) as client:
        resp = await client.post(
            "/v1/messages",
            data=chunks(),
            headers={**env.auth(), "Content-Type": "application/json"},
        )
    assert resp.status == 413


async def test_missing_token_is_401(env: Any) -> None:
    """No Authorization header answers 401 with a Bearer challenge."""
    async with serve(env) as client:
        resp = await client.post("/v1/messages", json=message())
    assert resp.status == 401 and "Bearer" in resp.headers["WWW-Authenticate"]


async def test_unknown_token_is_401(env: Any) -> None:
    """A token with a valid shape but a wrong secret answers 401."""
    forged = env.tokens["ingest"][:-4] + "AAAA"
    async with serve(env) as client:
        resp = await client.post(
            "/v1/messages", json=message(), headers={"Authorization": f"Bearer {forged}"}
        )
        assert resp.status == 401
        assert await stored_count(client, env) == 0


async def test_token_of_another_role_is_403(env: Any) -> None:
    """A valid token whose role is not ingest answers 403."""
    async with serve(env) as client:
        resp = await post(client, env, message(), role="risk_analyst")
    assert resp.status == 403


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({k: v for k, v in message().items() if k != "message_id"}, "message_id"),  # missing id
        (message(message_id=""), "message_id"),  # empty id
        (message(message_id="a\nb"), "message_id"),  # control character in id
        (message(sender_id="a\ud800"), "sender_id"),  # unpaired surrogate in id
        (message(conversation_id=None), "conversation_id"),  # missing conversation
        (message(sender_role="admin"), "sender_role"),  # not buyer/seller
        (message(sent_at="yesterday"), "sent_at"),  # not RFC 3339
        (message(sent_at="2026-03-01T10:00:00"), "sent_at"),  # no timezone
        (message(sent_at="2026-02-30T10:00:00Z"), "sent_at"),  # no such day
        (message(sent_at="9999-12-31T23:59:59Z"), "sent_at"),  # retention would overflow
        (message(text=42), "text"),  # text not a string
        (message(region="mars"), "region"),  # region without a KEK
        (message(lang="english please"), "lang"),  # not a language tag
        (message(order_id=["x"]), "order_id"),  # wrong type of optional id
        ({"messages": []}, "messages"),  # empty batch
        ({"messages": "m"}, "messages"),  # batch not a list
        (
            {"messages": [message(1), message(2, sender_id=None)]},
            "messages[1].sender_id",
        ),  # second bad
        ({"messages": [message(1), message(1)]}, "messages[1].message_id"),  # repeated id
        ({"messages": [message(i) for i in range(101)]}, "messages"),  # over max_batch
    ],
)
async def test_bad_field_is_400_naming_the_field(env: Any, doc: Any, field: str) -> None:
    """Each kind of bad field answers 400 whose error names exactly that field."""
    async with serve(env) as client:
        resp = await post(client, env, doc)
        body = await resp.json()
        assert resp.status == 400
        assert body["error"]["field"] == field
        assert await stored_count(client, env) == 0


async def test_error_bodies_never_quote_the_text(env: Any) -> None:
    """A refused message's error body does not contain its text."""
    async with serve(env) as client:
        resp = await post(client, env, message(sent_at="later", text=f"my card {CARD}"))
        raw = await resp.text()
    assert resp.status == 400 and CARD not in raw and "4111" not in raw


# ----------------------------------------------------------------- failing dependencies


async def test_storage_down_is_503_and_retry_after_recovery_stores_once(env: Any) -> None:
    """Storage down: 503 + Retry-After; the retry after recovery is stored exactly once."""
    holder: list[FlakyStorage] = []
    async with serve(env, Overrides(audit=False, open_storage=flaky_opener(holder))) as client:
        holder[0].down = True
        down = await post(client, env, {"messages": [message(1), message(2)]})
        assert down.status == 503 and int(down.headers["Retry-After"]) >= 1
        assert (await down.json())["error"]["kind"] == "storage"
        holder[0].down = False
        first = await post(client, env, {"messages": [message(1), message(2)]})
        again = await post(client, env, {"messages": [message(1), message(2)]})
        assert (first.status, again.status) == (201, 200)
        assert await stored_count(client, env) == 2


async def test_detection_failure_is_503_and_stores_nothing(env: Any) -> None:
    """When the detector fails the answer is 503 and nothing is stored."""
    redactor = BrokenRedactor(RedactConfig(ner=False, workers=0), state_key=b"s" * 32)
    async with serve(env, Overrides(audit=False, redactor=redactor)) as client:
        redactor.fail = True
        resp = await post(client, env, message())
        assert resp.status == 503 and "Retry-After" in resp.headers
        assert (await resp.json())["error"]["kind"] == "detection"
        assert await stored_count(client, env) == 0
        redactor.fail = False
        assert (await post(client, env, message())).status == 201


async def test_key_store_failure_is_503_and_stores_nothing(env: Any) -> None:
    """When the key store fails the answer is 503 and nothing is stored."""
    keys = FakeKeyStore(regions=("default", "eu"), fail=True)
    async with serve(env, Overrides(audit=False, keystore=keys)) as client:
        resp = await post(client, env, message())
        assert resp.status == 503
        assert (await resp.json())["error"]["kind"] == "keys"
        assert await stored_count(client, env) == 0


async def test_overload_is_refused_at_once_with_retry_after(tmp_path: Path) -> None:
    """Beyond max_in_flight a request gets 503 + Retry-After immediately instead of queueing."""
    env = make_env(tmp_path, server={"max_in_flight": 1})
    gate = asyncio.Event()

    class SlowRedactor(BrokenRedactor):
        async def analyze_async(self, texts: Any) -> Any:
            if texts != ["warm up"]:
                await gate.wait()
            return await BrokenRedactor.analyze_async(self, texts)

    redactor = SlowRedactor(RedactConfig(ner=False, workers=0), state_key=b"s" * 32)
    async with serve(env, Overrides(audit=False, redactor=redactor)) as client:
        slow = asyncio.create_task(post(client, env, message(1)))
        while client.app[ADMISSION].in_flight < 1:
            await asyncio.sleep(0.01)
        refused = await post(client, env, message(2))
        error = (await refused.json())["error"]
        gate.set()
        assert (await slow).status == 201
    assert refused.status == 503 and refused.headers["Retry-After"] == "1"
    assert error["code"] == "overloaded"


async def test_ner_redactor_redacts_a_name(tmp_path: Path) -> None:
    """With NER on (in-process), a person's name is redacted through the HTTP path."""
    env = make_env(tmp_path, redact={"ner": True, "workers": 0})
    async with serve(env) as client:
        body = await (await post(client, env, message(text="Hello, my name is John Smith."))).json()
    assert "John Smith" not in body["redacted"]
    assert "PERSON" in {e["type"] for e in body["entities"]}


class CrashingTagger:
    """A tagger that always fails."""

    def tag_conversations(self, messages: Any) -> list[tuple[str, ...]]:
        raise RuntimeError("policy engine crashed (test fake)")


async def test_tagging_failure_is_503_and_stores_nothing(env: Any) -> None:
    """When purpose tagging fails the answer is 503 kind tagging and nothing is stored."""
    async with serve(env, Overrides(audit=False, tagger=CrashingTagger())) as client:  # type: ignore[arg-type]
        resp = await post(client, env, message())
        assert resp.status == 503 and "Retry-After" in resp.headers
        assert (await resp.json())["error"]["kind"] == "tagging"
        assert await stored_count(client, env) == 0


async def test_card_split_across_two_requests_is_caught_by_the_window(env: Any) -> None:
    """A card number whose last digits arrive in the next request of the conversation is
    still detected in that request."""
    async with serve(env) as client:
        await post(client, env, message(1, text="my card is 4111 1111"))
        second = await (await post(client, env, message(2, text="1111 1111 thanks"))).json()
    assert second["redacted"].startswith("[CREDIT_CARD")


async def test_request_over_the_timeout_is_503(tmp_path: Path) -> None:
    """A request slower than request_timeout answers 503 kind timeout."""
    env = make_env(tmp_path, server={"request_timeout": 0.2})

    class StuckRedactor(BrokenRedactor):
        async def analyze_async(self, texts: Any) -> Any:
            if texts != ["warm up"]:
                await asyncio.sleep(30)
            return await BrokenRedactor.analyze_async(self, texts)

    redactor = StuckRedactor(RedactConfig(ner=False, workers=0), state_key=b"s" * 32)
    async with serve(env, Overrides(audit=False, redactor=redactor)) as client:
        resp = await post(client, env, message())
        error = (await resp.json())["error"]
        assert await stored_count(client, env) == 0
    assert resp.status == 503 and error["kind"] == "timeout" and "Retry-After" in resp.headers


async def test_replay_in_another_content_type_answers_the_same_bytes(env: Any) -> None:
    """A message first posted as JSON and replayed as msgpack answers the same body."""
    async with serve(env) as client:
        first = await post(client, env, message())
        again = await client.post(
            "/v1/messages",
            data=msgpack.packb(message()),
            headers={**env.auth(), "Content-Type": "application/msgpack"},
        )
        assert (first.status, again.status) == (201, 200)
        assert await first.read() == await again.read()


async def test_message_budget_refuses_a_batch_that_would_overflow_it(tmp_path: Path) -> None:
    """With max_in_flight_messages held by a slow batch, the next batch gets 503 at once."""
    env = make_env(tmp_path, server={"max_batch": 3, "max_in_flight_messages": 4})
    gate = asyncio.Event()

    class SlowRedactor(BrokenRedactor):
        async def analyze_async(self, texts: Any) -> Any:
            if texts != ["warm up"]:
                await gate.wait()
            return await BrokenRedactor.analyze_async(self, texts)

    redactor = SlowRedactor(RedactConfig(ner=False, workers=0), state_key=b"s" * 32)
    async with serve(env, Overrides(audit=False, redactor=redactor)) as client:
        slow = asyncio.create_task(
            post(client, env, {"messages": [message(1), message(2), message(3)]})
        )
        while client.app[ADMISSION].messages < 3:
            await asyncio.sleep(0.01)
        refused = await post(client, env, {"messages": [message(4), message(5)]})
        error = (await refused.json())["error"]
        gate.set()
        assert (await slow).status == 201
        assert client.app[ADMISSION].messages == 0
    assert refused.status == 503 and error["code"] == "overloaded"


async def test_killed_detection_worker_fails_closed_then_recovers(tmp_path: Path) -> None:
    """A detection worker killed mid-service gives 503 (nothing stored); a fresh pool
    then serves the retry."""
    env = make_env(tmp_path, redact={"ner": False, "workers": 1})
    async with serve(env) as client:
        pool = client.app[REDACTOR]._pool
        for pid in list(pool._processes):  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.5)
        failed = await post(client, env, message())
        assert failed.status == 503
        assert (await failed.json())["error"]["kind"] == "detection"
        assert await stored_count(client, env) == 0
        retried = await post(client, env, message())
        assert retried.status == 201


async def test_json_integer_too_long_for_python_is_a_400(env: Any) -> None:
    """A JSON number past Python's integer-digit limit is a malformed body, not a 500."""
    body = b'{"message_id": ' + b"1" * 5000 + b"}"
    headers = {**env.auth("ingest"), "Content-Type": "application/json"}
    async with serve(env) as client:
        resp = await client.post("/v1/messages", data=body, headers=headers)
        assert resp.status == 400
        assert await stored_count(client, env) == 0
