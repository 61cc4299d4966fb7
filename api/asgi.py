"""What a server process runs: `uvicorn api.asgi:from_environment --factory`.

Each worker process builds its own app from the environment's settings (CMPP_…), so
several workers share nothing but the database, and each replays the log itself. The
access log (api.access_log) goes to standard output, one JSON object per line.
"""

from __future__ import annotations

import logging
import sys

from fastapi import FastAPI

from api.app import create_app
from projections.settings import load_settings


def from_environment() -> FastAPI:
    access = logging.getLogger("cmpp.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))  # the line is JSON already
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    return create_app(load_settings())
