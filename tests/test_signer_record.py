"""The signer remembers, writers cover their writes, and a writer fails closed (issue 10;
LEDGER_FORMAT.md section 6): the log key keeps a record of what it signed outside the
database, and neither it nor any writer goes on from a database that disagrees."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.appender import LogWriteError
from ledger.note import Checkpoint
from ledger.replay import AlteredLogError
from ledger.report import Check
from ledger.signer_record import SignerRecord, SignerRecordError
from ledger.signing import Signer, SigningKey
from ledger.transparency import ProofRequestError
from ledger.witness import Witness
from projections.system import System
from tests.helpers import RawDatabase
from tests.pilot import new_system, open_pilot
from tests.tampering import Backup, rogue_key, truncate
from tools.cli import app as cli


def env_for(system: System, **extra: str) -> dict[str, str]:
    """The environment `cmpp` needs to open `system`'s ledger, plus `extra`."""
    passphrase, vault_key = system.settings.key_passphrase, system.settings.vault_key
    assert passphrase is not None and vault_key is not None
    return {
        "CMPP_DATABASE_URL": system.settings.url,
        "CMPP_DATA_DIR": str(system.settings.data_dir),
        "CMPP_KEY_PASSPHRASE": passphrase.get_secret_value(),
        "CMPP_VAULT_KEY": vault_key.get_secret_value(),
        **extra,
    }


def _record_lines(system: System) -> list[dict[str, object]]:
    path = system.settings.signer_record_path
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_signed_checkpoint_is_recorded_beside_the_log_key(database_url: str) -> None:
    pilot = open_pilot(database_url)
    first = pilot.log.checkpoint()
    pilot.enrol()
    second = pilot.log.checkpoint()
    lines = _record_lines(pilot.system)
    assert [line["note"] for line in lines][-2:] == [first, second]
    assert pilot.system.settings.signer_record_path.parent == pilot.system.settings.key_dir
    assert pilot.system.settings.signer_record_path.stat().st_mode & 0o077 == 0


def test_a_restored_copy_is_refused_by_the_signer_and_by_every_writer(
    database_url: str, tmp_path: Path
) -> None:
    pilot = open_pilot(database_url)
    backup = Backup(database_url, tmp_path)
    pilot.enrol()
    published = pilot.log.checkpoint()
    pilot.system.close()
    backup.restore()

    later = System(pilot.system.settings)
    # The signer's own replay sees the log is shorter than its record, before it signs.
    with pytest.raises(AlteredLogError, match="the log key signed last covers"):
        later.log.checkpoint()
    with pytest.raises(AlteredLogError, match="entries were removed"):
        replace(pilot, system=later).enrol()
    assert published in [line["note"] for line in _record_lines(later)]
    # The command line says so loudly, with exit 2, and prints no checkpoint.
    env = env_for(later)
    result = CliRunner().invoke(cli, ["checkpoint"], env=env)
    assert result.exit_code == 2, result.output
    assert "the log key signed last covers" in result.output
    later.close()


def test_a_truncated_log_and_its_checkpoints_are_refused(database_url: str) -> None:
    pilot = open_pilot(database_url)
    keep = pilot.system.app.store.head().size
    pilot.enrol()
    pilot.log.checkpoint()
    truncate(RawDatabase(database_url), keep, with_checkpoints=True)
    later = System(pilot.system.settings)
    with pytest.raises(AlteredLogError, match="the log key signed last"):
        later.log.checkpoint()
    with pytest.raises(AlteredLogError, match="the log key signed last"):
        later.app.confirmed_log()


def test_the_signer_signs_no_checkpoint_smaller_than_it_signed(database_url: str) -> None:
    system = new_system(database_url)
    for name in "abc":
        system.app.register_organisation(
            system.root_signer(), org_id=f"org:{name}", name=name, kind="grantee", uei=None
        )
    size = system.app.store.head().size
    issued = system.log.checkpoint()
    assert system.log.checkpoint(size) == issued  # issued sizes are given back
    with pytest.raises(ProofRequestError):
        system.log.checkpoint(size + 1)
    # A size never issued, below one signed: signing it now could hide a rollback.
    with pytest.raises(SignerRecordError, match=f"already signed one of {size}"):
        system.log.checkpoint(size - 1)
    system.close()


def test_a_torn_or_odd_record_signs_nothing_and_a_foreign_one_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "record.jsonl"
    record = SignerRecord(path, "cmpp.example.gov/ledger/a")
    with record.locked() as session:
        session.append(3, b"\x01" * 32, "note three\n", "2026-11-28T00:00:00.000000Z")
    with path.open("a") as torn:
        torn.write('{"origin": "cmpp.example.gov/ledger/a", "size": 9')
    # Read aside (a writer's check), a line being written is not read yet ...
    largest = SignerRecord(path, "cmpp.example.gov/ledger/a").largest()
    assert largest is not None and largest.size == 3
    # ... but a signer holding the lock will not guess whether it was a crash or a cut.
    with (
        pytest.raises(SignerRecordError, match="last line is incomplete"),
        SignerRecord(path, "cmpp.example.gov/ledger/a").locked(),
    ):
        pass
    assert path.read_text().endswith('"size": 9')  # nothing cut
    root = '"root": "' + "AQ" * 21 + 'AQ=="'
    for odd in ('"size": Infinity', '"size": 1e400', '"size": "9"', '"root": 5'):
        line = '{"note": "n", "origin": "cmpp.example.gov/ledger/a", ' + root + ", " + odd
        if "size" not in odd:
            line += ', "size": 9'
        path.write_text(line + "}\n")
        with pytest.raises(SignerRecordError, match="was altered"):
            SignerRecord(path, "cmpp.example.gov/ledger/a").largest()
    path.unlink()
    with SignerRecord(path, "cmpp.example.gov/ledger/a").locked() as session:
        session.append(3, b"\x01" * 32, "note three\n", "2026-11-28T00:00:00.000000Z")
    other = SignerRecord(path, "cmpp.example.gov/ledger/b")
    with pytest.raises(SignerRecordError, match="belongs to the log"):
        other.largest()


def test_writers_issue_checkpoints_by_count_by_time_and_on_exit(database_url: str) -> None:
    system = new_system(database_url, checkpoint_every_entries=3, checkpoint_every_seconds=1)
    board = system.root_signer()

    def largest_checkpoint() -> int:
        return max(size for size, _ in system.app.store.checkpoints())

    def register(n: int) -> None:
        system.app.register_organisation(
            board, org_id=f"org:n{n}", name="N", kind="grantee", uei=None
        )

    start = system.app.store.head().size
    for n in range(3):
        register(n)
    assert largest_checkpoint() == start + 3  # by count, at once
    register(3)
    assert largest_checkpoint() == start + 3
    deadline = time.monotonic() + 10
    while largest_checkpoint() < start + 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert largest_checkpoint() == start + 4  # by time
    quiet = System(system.settings.model_copy(update={"checkpoint_every_seconds": 3600}))
    quiet.app.register_organisation(
        quiet.root_signer(), org_id="org:last", name="L", kind="grantee", uei=None
    )
    assert largest_checkpoint() == start + 4
    quiet.close()
    assert largest_checkpoint() == start + 5  # on a clean exit
    assert "at most 2 entries" in system.coverage.policy.describe()
    system.close()


def test_a_writer_refuses_keys_only_the_tables_know(database_url: str) -> None:
    pilot = open_pilot(database_url)
    raw = RawDatabase(database_url)
    # A key the board revoked, put back in force by one UPDATE, signs nothing.
    revoked = pilot.irc
    pilot.system.app.revoke_key(pilot.board, revoked.key.key_id, "left the program")
    raw.execute("UPDATE ledger_keys SET revoked_seq = NULL WHERE key_id = ?", (revoked.key.key_id,))
    later = System(pilot.system.settings)
    with pytest.raises(LogWriteError, match="was revoked"):
        replace(pilot, system=later).enrol(signer=revoked)
    assert revoked.key.key_id not in {
        k.key_id for k in later.app.trusted_keys() if k.revoked_seq is None
    }
    # A board key no entry registered, inserted into the table, registers nothing.
    rogue = Signer(SigningKey.generate("org:board", ("board",)))
    rogue_key(raw, rogue.key, "org:board", ["board"])
    size = later.app.store.head().size
    with pytest.raises(LogWriteError, match="is not registered"):
        later.app.register_organisation(rogue, org_id="org:x", name="X", kind="grantee", uei=None)
    assert later.app.store.head().size == size
    later.close()
    # Nor does `cmpp keys list` show what only the table says.
    listed = CliRunner().invoke(cli, ["keys", "list", "--json"], env=env_for(later))
    assert listed.exit_code == 0, listed.output
    shown = {k["key_id"]: k for k in json.loads(listed.stdout)}
    assert rogue.key.key_id not in shown
    assert shown[revoked.key.key_id]["revoked_seq"] is not None


def test_cmpp_checkpoint_says_how_large_the_uncovered_tail_may_grow(database_url: str) -> None:
    system = new_system(database_url)
    env = env_for(
        system,
        CMPP_CHECKPOINT_EVERY_ENTRIES="50",
    )
    result = CliRunner().invoke(cli, ["checkpoint", "--json"], env=env)
    assert result.exit_code == 0, result.output
    coverage = json.loads(result.stdout)["coverage"]
    assert coverage["every_entries"] == 50 and coverage["every_seconds"] == 10
    assert coverage["uncovered_tail"].startswith("at most 49 entries")
    system.close()


def _grown(database_url: str) -> System:
    """A ledger whose log key signed a few checkpoints, the last one published."""
    system = new_system(database_url)
    for name in "abc":
        system.app.register_organisation(
            system.root_signer(), org_id=f"org:{name}", name=name, kind="grantee", uei=None
        )
        system.log.checkpoint()
    system.close()
    return System(system.settings)


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("deleted", "was lost"),
        ("emptied", "was lost"),
        ("a smaller line appended", "a record only grows"),
        ("its last line torn", "last line is incomplete"),
        ("cut to its first line", "larger than any in the signer's record"),
    ],
)
def test_a_record_lost_or_altered_signs_nothing(database_url: str, damage: str, says: str) -> None:
    """Whoever can reach the record must not be able to make the log key sign a fork
    by making it forget: the database's own signed checkpoints betray an old record."""
    system = _grown(database_url)
    path = system.settings.signer_record_path
    lines = path.read_bytes().splitlines(keepends=True)
    if damage == "deleted":
        path.unlink()
    elif damage == "emptied":
        path.write_bytes(b"")
    elif damage == "a smaller line appended":
        path.write_bytes(b"".join(lines) + lines[0])
    elif damage == "its last line torn":
        path.write_bytes(b"".join(lines)[:-10])
    else:
        path.write_bytes(lines[0])
    later = System(system.settings)
    with pytest.raises(SignerRecordError, match=says):
        later.app.register_organisation(  # the log grows: a checkpoint must be signed
            later.root_signer(), org_id="org:d", name="d", kind="grantee", uei=None
        )
        later.log.checkpoint()


def test_a_ledger_without_a_record_starts_one_from_a_checkpoint_held_outside(
    database_url: str,
) -> None:
    system = _grown(database_url)
    size = system.app.store.head().size  # the largest checkpoint signed
    held = system.log.checkpoint(size - 1)  # an auditor's, from earlier
    system.settings.signer_record_path.unlink()
    system.app.register_organisation(
        system.root_signer(), org_id="org:d", name="d", kind="grantee", uei=None
    )
    with pytest.raises(SignerRecordError, match="start-record FILE"):
        system.log.checkpoint()
    # From the held one, or the database's largest if larger, once both are checked.
    assert System(system.settings).log.start_record(held) == size
    with pytest.raises(SignerRecordError, match="already holds"):
        System(system.settings).log.start_record(held)
    later = System(system.settings)
    assert Checkpoint.parse_text(later.log.checkpoint().split("\n\n")[0] + "\n").size == size + 1
    later.close()


def test_start_record_refuses_a_log_shorter_than_the_checkpoint_held(database_url: str) -> None:
    """The record lost and the log cut with its checkpoints: what someone outside holds
    still shows the rollback, so the record cannot start from the cut log."""
    system = _grown(database_url)
    size = system.app.store.head().size
    held = system.log.checkpoint()
    system.settings.signer_record_path.unlink()
    truncate(RawDatabase(database_url), size - 1, with_checkpoints=True)
    with pytest.raises(SignerRecordError, match="rollback"):
        System(system.settings).log.start_record(held)
    assert not system.settings.signer_record_path.read_bytes()  # nothing recorded
    later = System(system.settings)
    with pytest.raises(SignerRecordError, match="was lost"):
        later.app.register_organisation(
            later.root_signer(), org_id="org:d", name="d", kind="grantee", uei=None
        )
        later.log.checkpoint()


def test_on_the_signers_host_verify_and_verified_figures_hold_the_record(
    database_url: str,
) -> None:
    system = _grown(database_url)
    assert system.verify().ok
    truncate(RawDatabase(database_url), system.app.store.head().size - 1, with_checkpoints=True)
    with System(system.settings, read_only=True) as reader:
        report = reader.verify()
    held = [f.message for f in report.findings[Check.EARLIER_CHECKPOINTS]]
    assert not report.ok and [m.split(":")[0] for m in held] == ["rollback"], held
    env = env_for(
        system,
    )
    result = CliRunner().invoke(cli, ["sf425", "--json"], env=env)
    assert result.exit_code == 1 and "rollback" in result.stdout, result.output


def test_checkpoints_issued_as_writers_write_are_cosigned(
    database_url: str, tmp_path: Path
) -> None:
    created = new_system(database_url, checkpoint_every_entries=2)
    witness = Witness.create(tmp_path / "witness", "ig.example.gov/witness")
    witness.add_log(created.log.verifier)
    created.close()
    system = System(
        created.settings.model_copy(update={"witnesses": f"{witness.key}={witness.directory}"})
    )
    board = system.root_signer()
    for name in "abc":
        system.app.register_organisation(
            board, org_id=f"org:{name}", name=name, kind="grantee", uei=None
        )
    head = system.app.store.head().size
    system.close()  # the third is covered on exit
    [log] = witness.describe()["logs"]
    assert log["size"] == head
    with System(created.settings, read_only=True) as reader:
        assert reader.app.store.cosignatures(head)


def test_a_write_that_committed_is_answered_before_its_checkpoint_fails(
    database_url: str, tmp_path: Path
) -> None:
    """The writes committed; only the checkpoint after them failed. The answer is printed
    (else the user would run the command again and record it twice), then the failure."""
    system = new_system(database_url)
    empty = tmp_path / "elsewhere.jsonl"
    empty.write_bytes(b"")
    env = env_for(
        system,
        CMPP_SIGNER_RECORD=str(empty),  # a record that knows nothing of this ledger
    )
    size = system.app.store.head().size
    args = ["keys", "register", "--holder", "org:board", "--role", "board", "--json"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 2
    assert json.loads(result.stdout)["key_id"]  # the answer, printed
    [line] = result.stderr.splitlines()
    assert "was recorded, but no checkpoint was issued to cover it" in line
    assert "record" in line and "lost" in line
    with System(system.settings, read_only=True) as reader:
        assert reader.app.store.head().size == size + 1  # recorded once


def test_a_writer_starting_as_another_commits_and_signs_is_not_alarmed(
    database_url: str,
) -> None:
    """A newcomer replays the log, then reads the signer's record; between the two another
    process commits an entry and signs its checkpoint. The record is then ahead of what
    the newcomer read, which is not a truncated log: it reads the log again."""
    pilot = open_pilot(database_url)
    pilot.log.checkpoint()
    newcomer = System(pilot.system.settings)
    grown: list[int] = []

    def another_commits_and_signs(replay: object) -> None:
        pilot.enrol()
        pilot.log.checkpoint()
        grown.append(pilot.system.app.store.head().size)

    # Runs after the newcomer's replay read the log and before its anchors are checked.
    newcomer.app.recorder.ready_checks.insert(0, another_commits_and_signs)
    replay = newcomer.app.confirmed_log()
    assert grown and replay.size == grown[0]
    newcomer.close()
