"""One JSON line per request: what was asked and how it went, and nothing it carried.

A line names the route's template (`/v1/participants/{participant_id}/history`), never
the path itself nor its query, so no id or purpose of a request reaches the log; no
header is logged, so no token does. Who asked is their person id (the log's own kind
of id, never a name).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

log = logging.getLogger("cmpp.access")


def _template(request: Request) -> str:
    """The template of the route that answered (set in the scope by routing)."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "(no route)"))


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response: Response | None = None
        try:
            response = await call_next(request)
            return response
        finally:
            line = {
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "method": request.method,
                "route": _template(request),
                "status": 500 if response is None else response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "person": getattr(request.state, "person", None),
                "seq": None if response is None else response.headers.get("CMPP-As-Of-Seq"),
            }
            log.info(json.dumps(line))
