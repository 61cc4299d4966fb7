"""The vault and the log agree: a record exists exactly when its event does; the vault
refuses a master key other than its own; a sweep removes only records proven orphaned."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from domain.errors import DomainError
from domain.vault import Vault, VaultKeyError
from domain.vault_sweep import sweep
from projections.system import System
from tests.helpers import RawDatabase
from tests.pilot import open_pilot
from tests.test_faults import writer_env
from tools.cli import app as cli

PERSON = {"name": "Ana María Quispe Huamán", "a_number": "A201456789"}


def enrol(pilot, pii=PERSON, participant_id=None, signer=None):  # type: ignore[no-untyped-def]
    return pilot.app.enrol_participant(
        signer or pilot.irc,
        enrolled_on="2023-01-09",
        referral_source="ice_ero",
        language="es",
        age_band="35-44",
        gender="female",
        nationality="PE",
        pii=dict(pii),
        participant_id=participant_id,
    )


def test_a_refused_event_leaves_no_vault_record(database_url: str) -> None:
    pilot = open_pilot(database_url)
    raw = RawDatabase(database_url)
    who = enrol(pilot)
    assert raw.count("vault_records") == 1 and raw.count("vault_keys") == 1
    with pytest.raises(DomainError):
        enrol(pilot, participant_id=who)  # already enrolled: refused under the lock
    assert raw.count("vault_records") == 1 and raw.count("vault_keys") == 1
    # A refused first enrolment leaves neither a record nor a data key.
    with pytest.raises(DomainError):  # org:cws holds no grantee key: refused
        enrol(pilot, participant_id="P-refused", signer=pilot.cws)
    assert raw.count("vault_records") == 1 and raw.count("vault_keys") == 1
    opened = pilot.app.read_protected(
        pilot.events("case.ParticipantEnrolled")[0]["data"]["pii_sha256"]
    )
    assert opened.value == PERSON


def other_key() -> bytes:
    return os.urandom(32)


def reopen(system: System, vault_key: bytes) -> System:
    settings = system.settings.model_copy(
        update={"vault_key": SecretStr(base64.b64encode(vault_key).decode())}
    )
    return System(settings)


def test_a_different_master_key_is_refused_before_anything_is_read_or_written(
    database_url: str,
) -> None:
    pilot = open_pilot(database_url)
    enrol(pilot)
    raw = RawDatabase(database_url)
    before = raw.count("vault_records"), raw.count("vault_keys")
    # Refused as the application is built, before its writer loads (or, finding its MAC
    # wrong under the other key, discards) the rules' snapshot.
    with reopen(pilot.system, other_key()) as wrong, pytest.raises(VaultKeyError, match="KEY"):
        wrong.app  # noqa: B018
    assert (raw.count("vault_records"), raw.count("vault_keys")) == before

    # A vault made before check values existed: its key is the one that opens its data
    # keys; that one is adopted, any other refused.
    raw.execute("DELETE FROM vault_meta")
    with reopen(pilot.system, other_key()) as wrong, pytest.raises(VaultKeyError, match="open"):
        wrong.app.vault  # noqa: B018
    assert raw.count("vault_meta") == 0
    right_key = pilot.system.settings.vault_key_bytes
    assert right_key is not None
    with reopen(pilot.system, right_key) as right:
        right.app.vault  # noqa: B018
    assert raw.count("vault_meta") == 1


def test_the_sweep_removes_only_records_no_event_commits_to(database_url: str) -> None:
    pilot = open_pilot(database_url)
    kept = [enrol(pilot), enrol(pilot, {"name": "Mahamat Abakar Djibrine"})]
    vault: Vault = pilot.app.vault
    # What an earlier version could leave after a crash: a record written on its own.
    record, statements = vault.seal(kept[0], "pii", {"name": "never recorded"})
    raw = RawDatabase(database_url)
    for sql, params in statements:
        raw.execute(sql, params)
    assert raw.count("vault_records") == 3

    found = sweep(vault, pilot.app.store, remove=False)
    assert [o.record_id for o in found.orphans] == [record.record_id]
    assert found.entries == pilot.app.store.head().size and not found.removed
    assert raw.count("vault_records") == 3

    removed = sweep(vault, pilot.app.store, remove=True)
    assert removed.removed and raw.count("vault_records") == 2
    for event in pilot.events("case.ParticipantEnrolled"):
        assert pilot.app.read_protected(event["data"]["pii_sha256"]).participant_id in kept
    assert sweep(vault, pilot.app.store, remove=True).orphans == []


def test_cmpp_vault_sweep_reports_and_removes_orphans(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    pilot = open_pilot(url)
    who = enrol(pilot)
    pilot.system.keys.save(pilot.irc.key, "irc")
    _record, statements = pilot.app.vault.seal(who, "notes", "left behind by a crash")
    for sql, params in statements:
        RawDatabase(url).execute(sql, params)
    env = writer_env(pilot.system, url)
    listed = CliRunner().invoke(cli, ["vault", "sweep", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    report = json.loads(listed.stdout)
    assert report["records"] == 2 and len(report["orphans"]) == 1 and not report["removed"]
    removed = CliRunner().invoke(cli, ["vault", "sweep", "--remove", "--json"], env=env)
    assert json.loads(removed.stdout)["removed"] is True
    assert RawDatabase(url).count("vault_records") == 1


def test_no_narrative_is_kept_for_an_erased_participant(database_url: str) -> None:
    pilot = open_pilot(database_url)
    who = enrol(pilot)
    pilot.app.erase_participant(
        pilot.irc, participant_id=who, erased_on="2023-02-01", authority="participant_request"
    )
    raw = RawDatabase(database_url)
    assert raw.count("vault_keys") == 0
    with pytest.raises(DomainError, match="erased"):
        pilot.app.file_complaint(
            pilot.irc,
            participant_id=who,
            category="language_access",
            filed_on="2023-02-02",
            narrative="she asked for an interpreter twice",
        )
    assert raw.count("vault_keys") == 0  # no new data key: their data stays unreadable
