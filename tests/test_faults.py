"""The fault-injection suite: every fault point on the write path, on both backends.

One command (an enrolment: a vault record, an event, its log entry and the new head,
all in one transaction) is struck at each named point of its write path, by each kind
of fault the point allows. After every run the same checks hold:

- the ledger verifies (checks 1 to 9);
- the caller was told the truth: a command that returned is in the log; one that
  failed saying "not recorded" is not; only "not known" (the database stayed away)
  leaves either, and the checks below still hold;
- nothing is duplicated: the participant is enrolled at most once, and the log grew by
  exactly the entries that are there;
- the vault and the log agree: every enrolment's record opens to what was sealed, and
  no vault record lacks its event;
- the process that saw the fault (if it lives) goes on writing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from domain.vault import ErasedError
from domain.vault_sweep import sweep
from ledger.outcome import DatabaseUnavailableError
from projections.system import System
from tests.conftest import PostgresDatabase, require_postgres
from tests.fault_proxy import FaultProxy, proxied
from tests.fault_writer import ENROLMENT
from tests.pilot import Pilot, open_pilot
from tests.sqlite_faults import SqliteFaults, instrumented

# The write path's statements, in the order a writer sends them, each named by a
# fragment of its SQL. PostgreSQL's are what the client sends over the wire.
POSTGRES_POINTS = {
    "begin": b"BEGIN",
    "writers-lock": b"IN EXCLUSIVE MODE",
    "read-head": b"ledger_head WHERE",
    "log-entries": b"ledger_log VALUES",
    "head-update": b"ledger_head VALUES",
    "vault-key": b"INTO vault_keys",
    "vault-record": b"INTO vault_records",
    "notify": b"NOTIFY",
    "events": b'"ledger_events" AS t',
    "commit": b"COMMIT",
}
SQLITE_POINTS = {
    "begin": "BEGIN IMMEDIATE",
    "events": "INSERT INTO stored_events",
    "read-head": "FROM ledger_head",
    "log-entries": "INSERT INTO ledger_log",
    "head-update": "UPDATE ledger_head",
    "vault-key": "INTO vault_keys",
    "vault-record": "INTO vault_records",
    "commit": "COMMIT",
}
WHEN = ["before", "after"]
# On SQLite a fault strikes as a statement starts, so "after" is "as the next one
# starts"; nothing follows a command's COMMIT (PostgreSQL's commit-after covers a
# writer that dies once its commit is in).
SQLITE_FAULTS = [
    (point, when)
    for point in SQLITE_POINTS
    for when in WHEN
    if (point, when) != ("commit", "after")
]


@dataclass
class Told:
    """What the caller was told: "recorded", "not recorded", "not known" or "died"."""

    said: str
    detail: str = ""


def attempt(command: Callable[[], Any]) -> Told:
    try:
        command()
    except DatabaseUnavailableError as exc:
        return Told("not known" if "not known" in str(exc) else "not recorded", str(exc))
    except Exception as exc:  # any other failure must also have written nothing
        return Told("not recorded", f"{type(exc).__name__}: {exc}")
    return Told("recorded")


def enrol(pilot: Pilot, participant_id: str, pii: dict[str, Any] | None = None) -> None:
    pilot.app.enrol_participant(
        pilot.irc, participant_id=participant_id, **{**ENROLMENT, "pii": pii or ENROLMENT["pii"]}
    )


def check(settings_of: System, url: str, participant_id: str, told: Told, size_before: int) -> None:
    """The checks every run must pass (see the module's docstring)."""
    settings = settings_of.settings.model_copy(update={"database_url": url})
    with System(settings) as fresh:
        report = fresh.verify()
        assert report.ok, report
        store = fresh.app.store
        rows = store.read_rows(size_before, 1000)
        mine = [
            json.loads(state)["event"]
            for _seq, _prev, state in rows
            if state is not None and participant_id.encode() in state
        ]
        assert store.head().size == size_before + len(rows)
        assert len(mine) <= 1, "the command was recorded twice"
        if told.said == "recorded":
            assert len(mine) == 1, "the caller was told of a success that is not in the log"
        if told.said == "not recorded":
            assert not mine, f"the caller was told it failed, but it is recorded: {told.detail}"
        found = sweep(fresh.app.vault, store, remove=False)
        assert found.orphans == [], "a vault record has no event"
        for event in mine:
            opened = fresh.app.read_protected(event["data"]["pii_sha256"])
            assert opened.participant_id == participant_id


# -- PostgreSQL: the connection dropped at each point ----------------------------------


@pytest.fixture(scope="module")
def postgres_pilot() -> Iterator[tuple[Pilot, FaultProxy, str]]:
    require_postgres()
    db = PostgresDatabase()
    db.create()
    proxy, through_proxy = proxied(db.url)
    pilot = open_pilot(through_proxy)
    enrol(pilot, "P-warm-up")  # the vault and the rules are ready before any fault
    pilot.system.keys.save(pilot.irc.key, "IRC grantee key (for writer processes)")
    try:
        yield pilot, proxy, db.url
    finally:
        pilot.system.close()
        proxy.close()
        db.drop()


def fresh_connections(pilot: Pilot, proxy: FaultProxy) -> int:
    """Cut every connection first (a restart before the command, which the pool rides
    through): new connections prepare their statements again, so each statement's SQL
    text crosses the wire, where the proxy can see it. Returns the log's size."""
    proxy.cut_all()
    return pilot.app.store.head().size


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("point", POSTGRES_POINTS)
def test_postgres_connection_dropped(
    postgres_pilot: tuple[Pilot, FaultProxy, str], point: str, when: str
) -> None:
    pilot, proxy, direct_url = postgres_pilot
    participant = f"P-drop-{point}-{when}"
    size = fresh_connections(pilot, proxy)
    fault = proxy.arm(POSTGRES_POINTS[point], after=when == "after")
    told = attempt(lambda: enrol(pilot, participant))
    proxy.disarm()
    assert fault.fired, f"the write path no longer sends {point}"
    check(pilot.system, direct_url, participant, told, size)
    assert told.said == "recorded", told.detail  # one dropped connection: retried, known
    enrol(pilot, f"{participant}-next")  # the writer goes on


@pytest.mark.parametrize("point", ["begin", "log-entries", "commit"])
def test_postgres_down_while_committing(
    postgres_pilot: tuple[Pilot, FaultProxy, str], point: str
) -> None:
    """The server goes away at the point and stays away for 4 s (a restart): longer than
    the library's own retries, shorter than the writer's patience."""
    pilot, proxy, direct_url = postgres_pilot
    participant = f"P-down-{point}"
    size = fresh_connections(pilot, proxy)
    fault = proxy.arm(POSTGRES_POINTS[point], after=True, action=lambda: proxy.refuse_for(4))
    told = attempt(lambda: enrol(pilot, participant))
    assert fault.fired
    check(pilot.system, direct_url, participant, told, size)
    assert told.said in ("recorded", "not recorded"), told.detail
    enrol(pilot, f"{participant}-next")


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("point", POSTGRES_POINTS)
def test_postgres_writer_killed(
    postgres_pilot: tuple[Pilot, FaultProxy, str], point: str, when: str
) -> None:
    pilot, proxy, direct_url = postgres_pilot
    participant = f"P-kill-{point}-{when}"
    size = fresh_connections(pilot, proxy)
    child: dict[str, subprocess.Popen[str]] = {}
    env = writer_env(pilot.system, pilot.system.settings.url)
    fault = proxy.arm(
        POSTGRES_POINTS[point],
        after=when == "after",
        action=lambda: child["p"].kill(),  # noqa: PLW0108 (not yet started)
    )
    child["p"] = subprocess.Popen(
        [sys.executable, "-m", "tests.fault_writer", participant],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    output, errors = child["p"].communicate(timeout=60)
    proxy.disarm()
    assert fault.fired, errors
    told = Told("recorded" if "RECORDED" in output else "died")
    check(pilot.system, direct_url, participant, told, size)
    enrol(pilot, f"{participant}-next")  # the killed writer held nothing


# -- SQLite: a statement failing, the disk full, the process killed --------------------


@pytest.fixture(scope="module")
def sqlite_pilot(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Pilot, SqliteFaults, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('faults') / 'ledger.sqlite3'}"
    with instrumented() as faults:
        pilot = open_pilot(url)
        enrol(pilot, "P-warm-up")
        pilot.system.keys.save(pilot.irc.key, "IRC grantee key (for writer processes)")
        try:
            yield pilot, faults, url
        finally:
            pilot.system.close()


@pytest.mark.parametrize(("point", "when"), SQLITE_FAULTS)
def test_sqlite_statement_fails(
    sqlite_pilot: tuple[Pilot, SqliteFaults, str], point: str, when: str
) -> None:
    pilot, faults, url = sqlite_pilot
    participant = f"P-fail-{point}-{when}"
    size = pilot.app.store.head().size
    armed = faults.arm(SQLITE_POINTS[point], after=when == "after")
    told = attempt(lambda: enrol(pilot, participant))
    faults.disarm()
    assert armed.fired, f"the write path no longer runs {point}"
    check(pilot.system, url, participant, told, size)
    enrol(pilot, f"{participant}-next")


def test_sqlite_disk_full(sqlite_pilot: tuple[Pilot, SqliteFaults, str]) -> None:
    pilot, faults, url = sqlite_pilot
    participant = "P-disk-full"
    size = pilot.app.store.head().size
    faults.fill_disk()
    try:
        # A large record needs new pages, which a full disk refuses.
        told = attempt(lambda: enrol(pilot, participant, {"notes": "x" * 300_000}))
    finally:
        faults.free_disk()
    assert told.said == "not recorded" and "full" in told.detail, told
    check(pilot.system, url, participant, told, size)
    enrol(pilot, f"{participant}-next")


@pytest.mark.parametrize(("point", "when"), SQLITE_FAULTS)
def test_sqlite_writer_killed(
    sqlite_pilot: tuple[Pilot, SqliteFaults, str], point: str, when: str
) -> None:
    pilot, _faults, url = sqlite_pilot
    participant = f"P-kill-{point}-{when}"
    size = pilot.app.store.head().size
    done = subprocess.run(  # noqa: PLW1510 (a killed writer is the point)
        [sys.executable, "-m", "tests.fault_writer", participant, SQLITE_POINTS[point], when],
        env=writer_env(pilot.system, url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -9, f"the writer was not killed at {point}: {done.stderr}"
    told = Told("recorded" if "RECORDED" in done.stdout else "died")
    check(pilot.system, url, participant, told, size)
    enrol(pilot, f"{participant}-next")


def writer_env(system: System, url: str) -> dict[str, str]:
    """The CMPP_* environment of a writer process using `system`'s ledger and keys."""
    settings = system.settings
    assert settings.key_passphrase is not None and settings.vault_key is not None
    root = Path(__file__).resolve().parent.parent
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CMPP_")},
        "PYTHONPATH": str(root),
        "CMPP_DATABASE_URL": url,
        "CMPP_DATA_DIR": str(settings.data_dir),
        "CMPP_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value(),
        "CMPP_VAULT_KEY": settings.vault_key.get_secret_value(),
    }


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("point", ["vault-key-deleted", "events", "commit"])
def test_postgres_erasure_dropped(
    postgres_pilot: tuple[Pilot, FaultProxy, str], point: str, when: str
) -> None:
    """An erasure's event and the deletion of the data key commit together, or neither."""
    pilot, proxy, _ = postgres_pilot
    participant = f"P-erase-{point}-{when}"
    enrol(pilot, participant)
    pii_sha256 = pilot.events("case.ParticipantEnrolled")[-1]["data"]["pii_sha256"]
    fresh_connections(pilot, proxy)
    pattern = b"DELETE FROM vault_keys" if point == "vault-key-deleted" else POSTGRES_POINTS[point]
    fault = proxy.arm(pattern, after=when == "after")
    told = attempt(
        lambda: pilot.app.erase_participant(
            pilot.irc,
            participant_id=participant,
            erased_on="2024-01-31",
            authority="participant_request",
        )
    )
    assert fault.fired
    assert told.said == "recorded", told.detail
    erased = [
        e
        for e in pilot.events("case.ParticipantDataErased")
        if e["data"]["participant_id"] == participant
    ]
    assert len(erased) == 1
    with pytest.raises(ErasedError):
        pilot.app.read_protected(pii_sha256)
    assert pilot.system.verify().ok
