"""`cmpp serve` stopped while commands are in flight: each completes, or writes nothing.

A burst of commands is sent from many threads and the server is sent SIGTERM in the
middle of it. Every command answered 201 is in the log exactly once; every other (the
connection refused once the server stopped listening) is not in it at all; the server
exits 0 and the log verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from ledger.entry import read_event
from projections.system import System
from tests.api_support import program
from tests.live_server import free_port

CMPP = str(Path(sys.executable).parent / "cmpp")
COMMANDS = 60


def _environment(settings: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMPP_")}
    env["CMPP_DATABASE_URL"] = settings.url  # type: ignore[attr-defined]
    env["CMPP_DATA_DIR"] = str(settings.data_dir)  # type: ignore[attr-defined]
    env["CMPP_KEY_PASSPHRASE"] = settings.key_passphrase.get_secret_value()  # type: ignore[attr-defined]
    env["CMPP_VAULT_KEY"] = settings.vault_key.get_secret_value()  # type: ignore[attr-defined]
    return env


def test_commands_in_flight_complete_or_write_nothing(tmp_path: Path) -> None:
    with program(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "data") as p:
        settings, token, person = p.system.settings, p.tokens["board"], p.people["board"]
    port = free_port()
    server = subprocess.Popen(
        [CMPP, "serve", "--port", str(port)],
        env=_environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
        time.sleep(0.1)

    def appropriate(n: int) -> tuple[str, int | None]:
        if n == COMMANDS // 3:
            server.send_signal(signal.SIGTERM)  # a third of the way in
        body = {
            "appropriation_id": f"FY-{n}",
            "fiscal_year": 2030,
            "public_law": f"P.L. {n}",
            "amount_cents": 100,
            "available_until": "2031-09-30",
        }
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{n}"}
        try:
            answer = httpx.post(f"{url}/v1/appropriations", json=body, headers=headers, timeout=60)
        except httpx.TransportError:
            return body["appropriation_id"], None
        return body["appropriation_id"], answer.status_code  # type: ignore[return-value]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(appropriate, range(COMMANDS)))
    logged, said = server.communicate(timeout=60)
    assert server.returncode == 0, said

    # The access log: one JSON line per request, naming the route, never a token.
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    posts = [line for line in lines if line["method"] == "POST"]
    assert posts and {line["route"] for line in posts} == {"/v1/appropriations"}
    assert {line["person"] for line in posts if line["status"] == 201} == {person}
    assert token not in logged + said and "cmpp_" not in logged

    answered = {a for a, status in results if status == 201}
    others = {a: status for a, status in results if status != 201}
    assert answered, "no command completed before the server stopped"
    assert others, "the server stopped after every command: the test missed its moment"
    assert all(status in (None, 503) for status in others.values()), others
    with System(settings) as ledger:
        store = ledger.app.store
        events = [read_event(s) for _, _, s in store.read_rows(0, store.head().size) if s]
        recorded = [
            e["data"]["appropriation_id"]
            for e in events
            if e["type"] == "funds.AppropriationRecorded"
        ]
        assert sorted(recorded) == sorted(answered)  # each answered once, nothing else
        assert ledger.verify().ok
