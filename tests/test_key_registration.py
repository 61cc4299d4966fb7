"""Key registration under concurrency, and the key rules a writer keeps.

Twenty `cmpp keys register` at once all commit (a version conflict on the ledger's
aggregate is retried against the keys as they then stand), and exactly their twenty
key files are kept; a registration that does not commit leaves no file. The board's
last key is never revoked except by rotation, which registers its successor in the
same save; the verifier still accepts a log that does it (the format allows it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from eventsourcing.persistence import IntegrityError
from typer.testing import CliRunner

from ledger.appender import LogWriteError
from ledger.keystore import KeyStore
from ledger.registry import KeyRuleError, Ledger
from ledger.signing import Signer, SigningKey
from projections.system import System
from tests.helpers import BareLedger
from tests.pilot import new_system
from tools.cli import app as cli
from tools.key_commands import register_new_key, rotate_to_new_key

WRITERS = 20
T = TypeVar("T")


def _key_files(system: System) -> list[str]:
    """Every file in the key store but the log key's record of signed checkpoints."""
    record = system.settings.signer_record_path
    return sorted(path.name for path in system.settings.key_dir.iterdir() if path != record)


def _registered(system: System) -> dict[str, Any]:
    return {k.key_id: k for k in system.app.store.key_records()}


def _race(created: System, work: Callable[[System, int], T], writers: int) -> tuple[list[T], int]:
    """Run `work(system, n)` in `writers` threads at once, each with a system of its own
    (its own connections, as a separate `cmpp` process has) sharing the key directory;
    return what each returned, and how many saves lost a version conflict."""
    start = threading.Barrier(writers)
    conflicts: list[int] = []

    def one(n: int) -> T:
        with System(created.settings) as system:
            system.keys = created.keys  # the files are shared; the root key opened once
            real_save = system.app.save

            def save(*args: Any, **kwargs: Any) -> Any:
                try:
                    return real_save(*args, **kwargs)
                except IntegrityError:
                    conflicts.append(1)
                    raise

            system.app.save = save  # type: ignore[method-assign]
            system.app.ledger()  # connected, and the ledger read, before the race starts
            start.wait()
            return work(system, n)

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(one, range(writers)))
    return results, len(conflicts)


def test_twenty_concurrent_registrations_all_commit_and_keep_twenty_files(
    database_url: str, tmp_path: Path
) -> None:
    created = new_system(database_url, tmp_path, postgres_pool_size=1)
    before = _key_files(created)

    def register(system: System, n: int) -> SigningKey:
        return register_new_key(system, f"org:g{n}", ("grantee",), f"grantee {n}")

    keys, conflicts = _race(created, register, WRITERS)

    assert conflicts > 0, "the registrations did not race: the test proves nothing"
    assert len({k.key_id for k in keys}) == WRITERS
    files = _key_files(created)
    assert len(files) == len(before) + WRITERS == 2 + WRITERS  # no pending, no temporary
    assert sorted(set(files) - set(before)) == sorted(f"{k.key_id}.json" for k in keys)
    registered = _registered(created)
    passphrase = created.settings.key_passphrase
    assert passphrase is not None
    reader = KeyStore(created.settings.key_dir, passphrase.get_secret_value())
    for key in keys:
        assert registered[key.key_id].holder == key.holder
        assert reader.load(key.key_id).public_key == key.public_key
    created.log.checkpoint()
    report = created.verify()
    assert report.ok, list(report.lines())
    created.close()


@pytest.mark.parametrize(
    ("holder", "role", "says"),
    [("irc", "grantee", "not an organisation id"), ("org:irc", "nobody", "roles must be")],
)
def test_a_refused_registration_keeps_no_key_file(
    tmp_path: Path, holder: str, role: str, says: str
) -> None:
    system = new_system(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path)
    before = _key_files(system)
    with pytest.raises(KeyRuleError, match=says):
        register_new_key(system, holder, (role,), "refused")
    assert _key_files(system) == before


def test_cmpp_keys_register_keeps_a_file_only_for_a_committed_key(tmp_path: Path) -> None:
    env = {"CMPP_DATA_DIR": str(tmp_path / "var"), "CMPP_KEY_PASSPHRASE": "the tests' own pass"}
    assert CliRunner().invoke(cli, ["init"], env=env).exit_code == 0
    keys = tmp_path / "var" / "keys"
    before = sorted(p.name for p in keys.iterdir())
    refused = CliRunner().invoke(
        cli, ["keys", "register", "--holder", "cws", "--role", "grantee"], env=env
    )
    assert refused.exit_code == 2 and "not an organisation id" in refused.output
    assert sorted(p.name for p in keys.iterdir()) == before
    made = CliRunner().invoke(
        cli, ["keys", "register", "--holder", "org:cws", "--role", "grantee"], env=env
    )
    assert made.exit_code == 0, made.output
    assert sorted(p.name for p in keys.iterdir()) == sorted(
        [*before, f"{made.stdout.strip()}.json"]
    )


def test_a_rotation_keeps_the_successors_file_and_a_refused_one_keeps_none(
    tmp_path: Path,
) -> None:
    system = new_system(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path)
    old = register_new_key(system, "org:cws", ("fiscal_agent",), "cws")
    new = rotate_to_new_key(system, old.key_id, "officer left")
    registered = _registered(system)
    assert registered[old.key_id].revoked_seq is not None
    assert registered[new.key_id].roles == ("fiscal_agent",)
    assert f"{new.key_id}.json" in _key_files(system)

    before = _key_files(system)
    with pytest.raises(KeyRuleError, match="already revoked"):
        rotate_to_new_key(system, old.key_id, "again")
    log_key = system.app.opening["data"]["log_key"]["key_id"]
    with pytest.raises(KeyRuleError, match="not a registered signing key"):
        rotate_to_new_key(system, log_key, "the log key is not rotated this way")
    assert _key_files(system) == before


def test_the_last_board_key_is_revoked_only_by_rotation(tmp_path: Path) -> None:
    system = new_system(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path)
    app, root = system.app, system.root_signer()
    size = app.store.head().size
    with pytest.raises(KeyRuleError, match="last board key"):
        app.revoke_key(root, root.key.key_id, "leaving")
    assert app.store.head().size == size  # nothing written

    successor = Signer(rotate_to_new_key(system, root.key.key_id, "yearly"))
    assert successor.key.roles == ("board",)
    grantee = SigningKey.generate("org:irc", ("grantee",))
    app.register_key(successor, grantee.public_key, "org:irc", ["grantee"])
    with pytest.raises(LogWriteError, match="revoked"):
        app.register_key(
            root, SigningKey.generate("org:x", ("grantee",)).public_key, "org:x", ["grantee"]
        )
    with pytest.raises(KeyRuleError, match="last board key"):
        app.revoke_key(successor, successor.key.key_id, "leaving")

    # With a second board key, either may go, but not both.
    vice = SigningKey.generate("org:board", ("board",))
    app.register_key(successor, vice.public_key, "org:board", ["board"])
    second = Signer(vice)
    app.revoke_key(second, successor.key.key_id, "handed over")
    with pytest.raises(KeyRuleError, match="last board key"):
        app.revoke_key(second, second.key.key_id, "leaving")
    system.log.checkpoint()
    assert system.verify().ok


def test_two_board_keys_revoked_at_once_leave_one(database_url: str, tmp_path: Path) -> None:
    created = new_system(database_url, tmp_path, postgres_pool_size=1)
    root = created.root_signer()
    second = Signer(register_new_key(created, "org:board", ("board",), "vice"))
    # Each revokes the other's key: both see two board keys, only one may win.
    pairs = [(root, second.key.key_id), (second, root.key.key_id)]

    def revoke(system: System, n: int) -> str:
        signer, key_id = pairs[n]
        try:
            system.app.revoke_key(signer, key_id, "both at once")
        except KeyRuleError as refused:  # it lost the race, and the rule holds
            return str(refused)
        except LogWriteError as refused:  # it lost the race, and its signer with it
            return str(refused)
        return "revoked"

    outcomes, _ = _race(created, revoke, 2)
    assert outcomes.count("revoked") == 1
    refusal = next(o for o in outcomes if o != "revoked")
    assert "last board key" in refusal or "was revoked" in refusal
    in_force = [k for k in created.app.store.key_records() if k.revoked_seq is None]
    assert [k.roles for k in in_force if "board" in k.roles] == [("board",)]
    created.close()


def test_the_verifier_accepts_a_log_that_revokes_its_last_board_key(tmp_path: Path) -> None:
    # The rule is the writers' policy, not the format's: written around the aggregate's
    # check, such a log is valid, and can register or revoke no key after it.
    bare = BareLedger(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    ledger = bare.app.ledger()
    ledger.trigger_event(Ledger.KeyRevoked, key_id=bare.board.key.key_id, reason="by mistake")
    bare.app.save(ledger, signer=bare.board)
    bare.log.checkpoint()
    report = bare.verify()
    assert report.ok, list(report.lines())
    with pytest.raises(LogWriteError, match="revoked"):
        bare.signer("org:irc", "grantee")
