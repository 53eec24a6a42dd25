"""``POST /v1/messages``: ingest one message or a batch (role ``ingest``).

Order of checks: token (401/403), Content-Type (415), size (413 from Content-Length
before reading, and again while reading when there is none), decoding (400
``malformed_body``), fields (400 ``invalid_field`` naming the field). Then the pipeline
(:mod:`proxy.pipeline`). 201 when this request stored at least one message, 200 when
every message was a replay; the body of a replay is byte-identical to the first answer.
409 ``conflict`` (naming the ``message_id`` field) when a message_id was already stored
for another conversation or another text; nothing of the request is stored then.
"""

from __future__ import annotations

from aiohttp import web

from proxy.auth import require_role
from proxy.handlers.errors import BodyTooLarge, Conflict, Overloaded
from proxy.handlers.validation import Limits, decode_body, media_type, parse_messages
from proxy.metrics import METRICS
from proxy.middlewares import ADMISSION, INGEST_MESSAGES, LOG_FIELDS
from proxy.pipeline import Ingestor
from proxy.storage.errors import MessageIdReused

__all__ = ["INGESTOR", "LIMITS", "MAX_BODY", "read_capped", "register"]

INGESTOR = web.AppKey("chatwarden.ingestor", Ingestor)
LIMITS = web.AppKey("chatwarden.ingest_limits", Limits)
MAX_BODY = web.AppKey("chatwarden.max_body_bytes", int)


def register(app: web.Application) -> None:
    app.router.add_post("/v1/messages", post_messages)


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The body, refusing (413) as soon as it is known to exceed ``limit`` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(
            f"the body is over {limit} bytes ([server] max_body_bytes); split the batch"
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(
                f"the body is over {limit} bytes ([server] max_body_bytes); split the batch"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def post_messages(request: web.Request) -> web.Response:
    principal = require_role(request, "ingest")
    mt = media_type(request.headers.get("Content-Type"))
    body = await read_capped(request, request.app[MAX_BODY])
    messages, is_batch = parse_messages(decode_body(body, mt), request.app[LIMITS])
    metrics = request.app[METRICS]
    gate = request.app[ADMISSION]
    if not gate.try_admit(len(messages)):
        metrics.rejected.inc(reason="in_flight_messages")
        raise Overloaded(
            "too many messages in flight; retry after the Retry-After delay", kind="overload"
        )
    request[INGEST_MESSAGES] = len(messages)
    metrics.in_flight_messages.set(gate.messages)
    try:
        outcomes = await request.app[INGESTOR].ingest(messages)
    except MessageIdReused as exc:
        # Nothing was stored. Name the field (which message of a batch), never the content.
        where = next((i for i, m in enumerate(messages) if m.message_id == exc.message_id), 0)
        raise Conflict(
            "already used for a different message (another conversation or text); nothing "
            "was stored, give every message its own message_id",
            field=f"messages[{where}].message_id" if is_batch else "message_id",
        ) from None
    finally:
        gate.release(len(messages))
        metrics.in_flight_messages.set(gate.messages)
    created = sum(o.created for o in outcomes)
    metrics.messages.inc(created, outcome="created")
    metrics.messages.inc(len(outcomes) - created, outcome="replayed")
    request[LOG_FIELDS] = {
        "token_id": principal.token_id,
        "messages": len(outcomes),
        "created": created,
        "replayed": len(outcomes) - created,
    }
    if is_batch:
        payload = b'{"results":[' + b",".join(o.body for o in outcomes) + b"]}"
    else:
        payload = outcomes[0].body
    return web.Response(
        status=201 if created else 200,
        body=payload,
        content_type="application/json",
        charset="utf-8",
    )
