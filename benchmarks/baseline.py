"""A pass-through baseline: accepts ``POST /v1/messages`` like chatwarden and answers
without redacting, sealing or storing. Run under the same load in the same run, it shows
the latency chatwarden *adds* rather than the machine's and the client's own noise.

    python -m benchmarks.baseline --port 8181
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

from proxy.commands.serve import new_event_loop


async def ingest(request: web.Request) -> web.Response:
    body = await request.read()
    doc = json.loads(body)
    msgs = doc.get("messages", [doc])
    results = [
        {
            "message_id": m.get("message_id"),
            "redacted": m.get("text", ""),
            "entities": [],
            "purposes": [],
        }
        for m in msgs
    ]
    out = {"results": results} if "messages" in doc else results[0]
    return web.json_response(out, status=201)


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_app() -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/v1/messages", ingest)
    app.router.add_get("/healthz", health)
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8181)
    a = ap.parse_args()
    # The same event loop as `chatwarden serve` (uvloop when installed): the baseline
    # differs from chatwarden only in what the handler does.
    web.run_app(
        create_app(),
        host=a.host,
        port=a.port,
        print=None,
        access_log=None,
        loop=new_event_loop(),
    )


if __name__ == "__main__":
    main()
