"""The rules' snapshot: a writer that starts from one decides as one that replayed the log,
and a snapshot that does not match the log (or was not made by a writer) is discarded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from domain.application import CMPPApplication
from domain.errors import DomainError
from domain.rules import ProgramRules
from ledger import guard_snapshot
from ledger.entry import seal
from ledger.guard import GuardedWrites
from ledger.merkle import leaf_hash
from ledger.replay import AlteredLogError
from ledger.store import iter_leaves
from projections.system import System
from tests.helpers import RawDatabase, known
from tests.pilot import demo_system


def replayed(app: CMPPApplication) -> ProgramRules:
    rules = ProgramRules()
    GuardedWrites(rules, app.store.read_rows, catalogue=app.catalogue).ready()
    return rules


def restarted(system: System) -> CMPPApplication:
    """The same ledger, opened by a new writer (a new application, as a new process)."""
    app = CMPPApplication(env=system.app.env, vault_key=system.settings.vault_key_bytes)
    guarded(app).ready()
    return app


def guarded(app: CMPPApplication) -> GuardedWrites:
    writes: GuardedWrites = app.recorder.guarded  # type: ignore[attr-defined]
    return writes


@pytest.fixture
def system(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> System:
    monkeypatch.setattr(guard_snapshot, "SNAPSHOT_EVERY", 100)
    return demo_system(database_url, tmp_path, participants=25, seed=7)


def test_a_writer_started_from_a_snapshot_decides_as_one_that_replayed(system: System) -> None:
    head = system.app.store.head().size
    stored = system.app.store.read_guard_snapshot(ProgramRules.name)  # type: ignore[attr-defined]
    assert stored is not None and 100 <= stored.size <= head

    app = restarted(system)
    assert guarded(app).snapshot_status == f"started from the snapshot of {stored.size} entries"
    assert app.rules.position == head
    assert known(app.rules) == known(replayed(system.app))

    # Decisions: the same refusal with its figures, and the same acceptance.
    irc = system.signer("org:irc", "grantee")
    case = next(iter(app.cases.cases))
    attempts: list[Callable[[CMPPApplication], Any]] = [
        lambda a: a.deliver_service(
            irc,
            participant_id=case,
            service_type="reintegration",
            delivered_on="2019-01-01",
            minutes=30,
            language="es",
            interpreter=False,
        ),
        lambda a: a.record_disbursement(
            system.signer("org:cws", "fiscal_agent"),
            award_id="A-2022-007",
            disbursement_id="D-too-much",
            amount_cents=10**12,
            payment_ref="CWS-too-much",
            paid_on="2023-06-01",
        ),
    ]
    for attempt in attempts:
        refusals = []
        for writer in (app, system.app):
            with pytest.raises(DomainError) as refused:
                attempt(writer)
            refusals.append((refused.value.rule, str(refused.value)))
        assert refusals[0] == refusals[1]
    app.close()


def _tamper_state(system: System) -> None:
    raw = RawDatabase(system.settings.url)
    state = bytes(raw.execute("SELECT state FROM ledger_guard_snapshots")[0][0])
    raw.execute("UPDATE ledger_guard_snapshots SET state = ?", (state[:-1] + b"\x00",))


def _claim_a_longer_log(system: System) -> None:
    RawDatabase(system.settings.url).execute("UPDATE ledger_guard_snapshots SET size = size + 1")


def _rewrite_the_entry_it_was_made_after(system: System) -> None:
    """The snapshot is genuine; the log was rewritten behind the writers' backs since."""
    raw = RawDatabase(system.settings.url)
    size = int(raw.execute("SELECT size FROM ledger_guard_snapshots")[0][0])
    state = raw.state(size - 1)
    raw.set_state(size - 1, state.replace(b'"sig":"', b'"sig":"AAAA', 1))


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("edited", "MAC does not verify"),
        ("longer", "MAC does not verify"),
        ("other rules", "other rules"),
    ],
)
def test_a_snapshot_that_does_not_match_is_discarded_and_the_log_replayed(
    system: System, monkeypatch: pytest.MonkeyPatch, tamper: str, reason: str
) -> None:
    if tamper == "edited":
        _tamper_state(system)
    elif tamper == "longer":
        _claim_a_longer_log(system)
    else:
        monkeypatch.setattr(ProgramRules, "fingerprint", "0" * 64)

    app = restarted(system)
    status = guarded(app).snapshot_status
    assert status.startswith("discarded the stored snapshot") and reason in status, status
    assert known(app.rules) == known(replayed(system.app))
    # Discarded for good: the next writer finds none, until one is saved anew.
    assert app.store.read_guard_snapshot(ProgramRules.name) is None  # type: ignore[attr-defined]
    app.close()


def test_after_a_rewrite_the_snapshot_is_discarded_and_the_writer_refuses(system: System) -> None:
    _rewrite_the_entry_it_was_made_after(system)
    app = CMPPApplication(env=system.app.env, vault_key=system.settings.vault_key_bytes)
    with pytest.raises(AlteredLogError, match="signature of entry"):
        guarded(app).ready()  # replaying from entry 0 meets the rewritten entry
    assert "is not the one it was made after" in guarded(app).snapshot_status
    app.close()


def test_without_the_vault_key_no_snapshot_is_read_or_written(system: System) -> None:
    app = CMPPApplication(env=system.app.env, vault_key=None)
    guarded(app).ready()
    assert guarded(app).snapshot_status == "no snapshot"
    assert known(app.rules) == known(replayed(system.app))
    app.close()


def _edit_entry(system: System, seq: int) -> bytes:
    """Change entry `seq`'s amount behind the writers' backs; return its original bytes."""
    raw = RawDatabase(system.settings.url)
    state = raw.state(seq)
    raw.set_state(seq, state.replace(b'"amount_cents":', b'"amount_cents":1', 1))
    return state


def _last_disbursement(system: System) -> int:
    disbursements = [
        seq for seq, leaf in iter_leaves(system.app.store) if b"DisbursementRecorded" in leaf
    ]
    return disbursements[-1]


def test_a_writer_refuses_to_extend_a_log_edited_behind_its_back(system: System) -> None:
    raw = RawDatabase(system.settings.url)
    system.app.store.delete_guard_snapshot(ProgramRules.name)  # type: ignore[attr-defined]
    size = system.app.store.head().size
    for seq in (_last_disbursement(system), size - 1):
        original = _edit_entry(system, seq)
        app = CMPPApplication(env=system.app.env, vault_key=system.settings.vault_key_bytes)
        with pytest.raises(AlteredLogError, match=f"the signature of entry {seq} does not"):
            app.register_organisation(
                system.root_signer(), org_id="org:x", name="X", kind="grantee"
            )
        assert app.store.head().size == size  # nothing was written
        app.close()
        raw.set_state(seq, original)


def test_a_state_laundered_through_the_head_is_refused(system: System) -> None:
    """Edit the last entry and the stored head to match: a writer replaying the log checks
    the entry's signature, so it refuses to extend the log or to save a snapshot of it."""
    raw = RawDatabase(system.settings.url)
    board = system.root_signer()
    last = system.app.store.head().size - 1
    _edit_entry(system, last)
    edited_leaf = leaf_hash(
        seal(
            raw.state(last),
            last,
            raw.execute("SELECT prev FROM ledger_log WHERE seq = ?", (last,))[0][0],
        )
    )
    raw.execute("UPDATE ledger_head SET last_leaf_hash = ?", (edited_leaf,))
    app = CMPPApplication(env=system.app.env, vault_key=system.settings.vault_key_bytes)
    for _attempt in range(2):  # refused for good, not only once
        with pytest.raises(AlteredLogError, match=f"the signature of entry {last}"):
            app.register_organisation(board, org_id="org:n", name="N", kind="grantee")
    assert app.store.head().size == last + 1
    app.close()


@pytest.mark.parametrize("column", ["mac", "last_leaf_hash", "size", "state"])
def test_a_row_that_is_not_a_snapshot_is_discarded(system: System, column: str) -> None:
    value = "text, not bytes" if column != "size" else 10**12
    raw = RawDatabase(system.settings.url)
    if column == "size" or not raw.postgres:  # PostgreSQL's types refuse the rest already
        raw.execute(f"UPDATE ledger_guard_snapshots SET {column} = ?", (value,))
        app = restarted(system)
        assert guarded(app).snapshot_status.startswith("discarded the stored snapshot")
        assert known(app.rules) == known(replayed(system.app))
        app.close()


def test_a_writer_that_closes_leaves_a_snapshot_for_the_next(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard_snapshot, "SNAPSHOT_ON_CLOSE", 5)
    app = restarted(system)
    board = system.root_signer()
    for n in range(6):
        app.register_organisation(board, org_id=f"org:c{n}", name="C", kind="grantee", uei=None)
    head = app.store.head().size
    app.close()
    later = restarted(system)
    assert guarded(later).snapshot_status == f"started from the snapshot of {head} entries"
    later.close()
