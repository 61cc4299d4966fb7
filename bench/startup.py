"""How long a one-shot write command takes to start on a large ledger: from a snapshot of
the rules' state (ours) against replaying every entry (the baseline, as before snapshots)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import report
from bench.databases import fresh
from bench.demo_log import fill_demo_log
from projections.settings import Settings

READY = (
    "import sys, time; start = time.perf_counter()\n"
    "from projections.settings import load_settings\n"
    "from projections.system import System\n"
    "system = System(load_settings())\n"
    "system.app.recorder.guarded.ready()\n"
    "print(time.perf_counter() - start, system.app.recorder.guarded.snapshot_status)\n"
)


def _env(settings: Settings, *, snapshot: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMPP_")}
    env.update(CMPP_DATABASE_URL=settings.url, CMPP_DATA_DIR=str(settings.data_dir))
    if settings.key_passphrase is not None:
        env["CMPP_KEY_PASSPHRASE"] = settings.key_passphrase.get_secret_value()
    if snapshot and settings.vault_key is not None:
        # Without the vault key no snapshot can be trusted: every entry is replayed.
        env["CMPP_VAULT_KEY"] = settings.vault_key.get_secret_value()
    return env


def _command(env: dict[str, str], n: int) -> float:
    cmpp = str(Path(sys.executable).parent / "cmpp")
    start = time.perf_counter()
    subprocess.run(
        [cmpp, "keys", "register", "--holder", f"org:bench-{n}", "--role", "grantee"],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def _ready(env: dict[str, str]) -> tuple[float, str]:
    done = subprocess.run(
        [sys.executable, "-c", READY], env=env, check=True, capture_output=True, text=True
    )
    seconds, status = done.stdout.split(" ", 1)
    return float(seconds), status.strip()


def run(entries: int, runs: int = 3) -> None:
    with fresh("sqlite") as url:
        print(f"filling a {entries:,}-entry demo log on sqlite …", flush=True)
        ledger = fill_demo_log(url, entries)
        settings = ledger.system.settings
        size = ledger.system.app.store.head().size
        ledger.system.close()
        ours_env, before_env = _env(settings, snapshot=True), _env(settings, snapshot=False)
        _command(ours_env, 0)  # the first may save a snapshot at the head; then steady state
        ours = [_command(ours_env, n) for n in range(1, runs + 1)]
        before = [_command(before_env, n) for n in range(runs + 1, 2 * runs + 1)]
        ready, status = _ready(ours_env)
        ready_before, _ = _ready(before_env)
        print(f"  (a writer's start: {status})", flush=True)
        report.line(
            f"write command (keys register), {size:,} entries, wall clock",
            statistics.median(ours) * 1000,
            statistics.median(before) * 1000,
            "ms",
            "< 1000 ms",
        )
        report.line(
            f"writer ready (imports, snapshot, catch-up), {size:,} entries",
            ready * 1000,
            ready_before * 1000,
            "ms",
            "< 1000 ms",
        )
        ledger.close()
