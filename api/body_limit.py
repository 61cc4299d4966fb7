"""Request bodies are bounded before anything reads them.

FastAPI reads and parses a body before it checks the caller's token, so without a bound
anyone could make a server hold any amount of memory. A body over the limit is refused
with 413 as soon as its declared length says so, or as soon as the bytes streamed in
pass it. Uploads (a payment file) have their own, larger bound, on their own route.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException

from api.problems import MEDIA_TYPE, TITLES, TYPE_BASE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PAGES = "/ui/"  # the dashboard's: its errors are pages (api.problems)
MAX_JSON_BODY = 1 << 20  # 1 MiB: a command's body is a few hundred bytes
# Their routes refuse above this themselves: the API's, and the dashboard's form.
UPLOAD_PATHS = {"/v1/reconciliations": 10 << 20, "/ui/reconciliation": 10 << 20}


class BodyTooLargeError(StarletteHTTPException):
    """An HTTP error, so that whoever reads the body (FastAPI turns any other error met
    while reading one into a 400) lets it through as the 413 it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"a request body here is at most {limit - 1024} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = UPLOAD_PATHS.get(scope.get("path", ""), MAX_JSON_BODY) + 1024
        declared = dict(scope.get("headers", [])).get(b"content-length")
        refused = declared is not None and (not declared.isdigit() or int(declared) > limit)
        if refused and not str(scope.get("path", "")).startswith(PAGES):
            await _refuse(scope, send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            if refused:  # a page: refused by the app as it reads, so with a page
                raise BodyTooLargeError(limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(limit)
            return message

        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except BodyTooLargeError:
            if not started:
                await _refuse(scope, send, limit)


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": TYPE_BASE + "body-too-large",
            "title": TITLES[413],
            "status": 413,
            "detail": f"a request body here is at most {limit - 1024} bytes",
            "instance": scope.get("path"),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
