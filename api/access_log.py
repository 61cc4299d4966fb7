"""One JSON line per request: what was asked and how it went, and nothing it carried.

A line names the route's template (`/v1/participants/{participant_id}/history`), never
the path itself nor its query, so no id or purpose of a request reaches the log; no
header is logged, so no token does. Who asked is their person id (the log's own kind
of id, never a name).

A plain ASGI middleware rather than `@app.middleware("http")`: that one runs every
request's app in a task of its own and copies its body through a stream, which costs a
busy server more than the line it writes.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("cmpp.access")

AS_OF_SEQ = b"cmpp-as-of-seq"


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts
        seq: str | None = None

        async def sending(message: Message) -> None:
            nonlocal status, seq
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == AS_OF_SEQ:
                        seq = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.info(json.dumps(_line(scope, status, seq, started)))


def _line(scope: Scope, status: int, seq: str | None, started: float) -> dict[str, Any]:
    state = scope.get("state") or {}
    return {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "method": scope["method"],
        # The template of the route that answered (set in the scope by routing).
        "route": str(getattr(scope.get("route"), "path", "(no route)")),
        "status": status,
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "person": state.get("person"),
        "seq": seq,
    }
