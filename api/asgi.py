"""What a server process runs: `uvicorn api.asgi:from_environment --factory`.

Each worker process builds its own app from the environment's settings (CMPP_…), so
several workers share nothing but the database, and each replays the log itself.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from projections.settings import load_settings


def from_environment() -> FastAPI:
    return create_app(load_settings())
