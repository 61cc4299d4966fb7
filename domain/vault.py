"""The vault: personal data and protected facts, kept out of the log.

Each participant's records are encrypted with AES-256-GCM under a data key of their
own; the data key is stored wrapped (RFC 3394) by the master key from configuration.
An event carries only a salted commitment H(salt ‖ JCS(value)), so an entitled reader
can prove a vault record is the one recorded. Erasure deletes the wrapped data key:
the records become unreadable while the log, its proofs and every count stay valid.

A record is written in the same database transaction as the event that commits to
it (`sealed` stages it, the application's save writes it with the event), so there
is never a record without its event nor an event without its record. The vault keeps
a check value of its master key and refuses any other key before reading or writing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from eventsourcing.postgres import PostgresDatastore

from domain.side_tables import CREATION_LOCK
from ledger import alongside, canonical
from ledger.errors import UserError
from ledger.hashing import b64decode, b64encode
from ledger.outcome import Statement, retry_idempotent


class VaultError(UserError, RuntimeError):
    """A vault record that cannot be kept or read; never holds the data itself."""

    rule = "vault"


class VaultKeyError(VaultError):
    """CMPP_VAULT_KEY is not the key this vault was made with."""

    rule = "vault-key"


class ErasedError(VaultError):
    """The participant's data key was deleted: their records are gone for good."""


def commitment(salt: bytes, value: Any) -> str:
    """H(salt ‖ JCS(value)), hex: what an event carries instead of the value."""
    return hashlib.sha256(salt + canonical.dumps(value)).hexdigest()


@dataclass(frozen=True)
class Opened:
    record_id: str
    participant_id: str
    kind: str
    value: Any
    salt: bytes
    commitment: str


TABLES = [
    "CREATE TABLE IF NOT EXISTS vault_keys"
    " (participant_id TEXT PRIMARY KEY, wrapped {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS vault_records (record_id TEXT PRIMARY KEY,"
    " participant_id TEXT NOT NULL, kind TEXT NOT NULL, nonce {blob} NOT NULL,"
    " ciphertext {blob} NOT NULL, commitment TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS vault_meta (name TEXT PRIMARY KEY, value {blob} NOT NULL)",
]
KEY_CHECK = "master-key-check"

# The statements sealed for the command being recorded, per thread and task.


def key_check_value(master_key: bytes) -> bytes:
    """A value that identifies the master key and reveals nothing of it."""
    return hmac.new(master_key, b"CMPP vault master key check, v1", hashlib.sha256).digest()


def refuse_another_key(datastore: Any, master_key: bytes) -> None:
    """Before a writer starts (its rules' snapshots are keyed from the vault key too):
    refuse a master key that is not the vault's own, if the vault has one yet. Only
    reads: a new or read-only database is left as it is."""
    postgres = isinstance(datastore, PostgresDatastore)
    exists = (
        "SELECT to_regclass('vault_meta') IS NOT NULL AS present"
        if postgres
        else "SELECT COUNT(*) AS present FROM sqlite_master"
        " WHERE type = 'table' AND name = 'vault_meta'"
    )
    with datastore.transaction(commit=False) as c:
        c.execute(exists)
        if not c.fetchone()["present"]:
            return
        c.execute(
            f"SELECT value FROM vault_meta WHERE name = {'%s' if postgres else '?'}",  # noqa: S608
            (KEY_CHECK,),
        )
        row = c.fetchone()
    expected = key_check_value(master_key)
    if row is not None and not hmac.compare_digest(bytes(row["value"]), expected):
        raise VaultKeyError(
            "CMPP_VAULT_KEY is not the key this vault was made with: set the vault's "
            "own key (nothing was read or written)"
        )


@dataclass(frozen=True)
class Sealed:
    """A vault record staged for an event (the record's id and the event's commitment)."""

    record_id: str
    participant_id: str
    kind: str
    commitment: str


class Vault:
    def __init__(self, datastore: Any, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise VaultError("the vault master key must be 32 bytes (base64 in CMPP_VAULT_KEY)")
        self._datastore = datastore
        self._master = master_key
        self._postgres = isinstance(datastore, PostgresDatastore)
        self._create_tables()
        self._check_master_key()

    @retry_idempotent
    def _create_tables(self) -> None:
        blob = "bytea" if self._postgres else "BLOB"
        with self._datastore.transaction(commit=True) as c:
            if self._postgres:  # two processes creating them at once: one waits
                c.execute(CREATION_LOCK)
            for statement in TABLES:
                c.execute(statement.format(blob=blob))

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self._postgres else text

    @retry_idempotent
    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._datastore.transaction(commit=False) as c:
            c.execute(self._sql(sql), params)
            return list(c.fetchall())

    @retry_idempotent  # its statements are all safe to repeat (see their callers)
    def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(self._sql(sql), params)

    # -- the master key ---------------------------------------------------------------

    def _check_master_key(self) -> None:
        """Refuse a master key other than the vault's own, before anything is read or
        sealed under it: records sealed under a wrong key would be lost to the right one."""
        expected = key_check_value(self._master)
        stored = self._query("SELECT value FROM vault_meta WHERE name = ?", (KEY_CHECK,))
        if not stored:
            self._adopt_master_key(expected)
            stored = self._query("SELECT value FROM vault_meta WHERE name = ?", (KEY_CHECK,))
        if not hmac.compare_digest(bytes(stored[0]["value"]), expected):
            raise VaultKeyError(
                "CMPP_VAULT_KEY is not the key this vault was made with: set the vault's "
                "own key (nothing was read or written)"
            )

    def _adopt_master_key(self, check: bytes) -> None:
        # A vault made before check values existed: its key is the one that unwraps
        # the data keys it already holds. A new vault takes the key it is given.
        for row in self._query("SELECT wrapped FROM vault_keys LIMIT 1"):
            try:
                aes_key_unwrap(self._master, bytes(row["wrapped"]))
            except InvalidUnwrap:
                raise VaultKeyError(
                    "CMPP_VAULT_KEY does not open this vault's data keys: set the vault's "
                    "own key (nothing was read or written)"
                ) from None
        self._execute(
            "INSERT INTO vault_meta VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (KEY_CHECK, check)
        )

    # -- sealing, with the event that commits to it -------------------------------------

    def _data_key(self, participant_id: str) -> tuple[bytes, list[Statement]]:
        """The participant's data key, and the statement that stores it if it is new."""
        rows = self._query(
            "SELECT wrapped FROM vault_keys WHERE participant_id = ?", (participant_id,)
        )
        if rows:
            return aes_key_unwrap(self._master, bytes(rows[0]["wrapped"])), []
        key = AESGCM.generate_key(bit_length=256)
        wrapped = aes_key_wrap(self._master, key)
        return key, [("INSERT INTO vault_keys VALUES (?, ?)", (participant_id, wrapped))]

    def seal(self, participant_id: str, kind: str, value: Any) -> tuple[Sealed, list[Statement]]:
        """Encrypt `value`; return the record and the statements that store it."""
        salt = os.urandom(16)
        try:
            plaintext = canonical.dumps({"salt": b64encode(salt), "value": value})
        except canonical.CanonicalError as exc:
            raise VaultError(f"a vault record holds JSON values only: {exc}") from None
        key, statements = self._data_key(participant_id)
        record_id = uuid.uuid4().hex
        nonce = os.urandom(12)
        aad = f"{record_id}|{participant_id}|{kind}".encode()
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, aad)
        digest = commitment(salt, value)
        statements.append(
            (
                "INSERT INTO vault_records VALUES (?, ?, ?, ?, ?, ?)",
                (record_id, participant_id, kind, nonce, ciphertext, digest),
            )
        )
        return Sealed(record_id, participant_id, kind, digest), statements

    @contextmanager
    def sealed(self, participant_id: str, kind: str, value: Any) -> Iterator[str]:
        """Seal `value` for the event recorded inside the block; yield its commitment.

        The record is written by that event's save, in its transaction (see `staged`):
        if the event is refused or the block fails, nothing was written."""
        record, statements = self.seal(participant_id, kind, value)
        with self._staging(statements):
            yield record.commitment

    @contextmanager
    def erasing(self, participant_id: str) -> Iterator[None]:
        """Delete the participant's data key with the erasure event recorded in the block."""
        statement = ("DELETE FROM vault_keys WHERE participant_id = ?", (participant_id,))
        with self._staging([statement]):
            yield

    @staticmethod
    def _staging(statements: list[Statement]) -> AbstractContextManager[None]:
        return alongside.staged(statements)

    # -- reading -----------------------------------------------------------------------

    def record_for(self, committed: str) -> str:
        """The id of the vault record an event's commitment points to."""
        rows = self._query("SELECT record_id FROM vault_records WHERE commitment = ?", (committed,))
        if not rows:
            raise VaultError("no vault record has that commitment")
        return str(rows[0]["record_id"])

    def open(self, record_id: str) -> Opened:
        rows = self._query("SELECT * FROM vault_records WHERE record_id = ?", (record_id,))
        if not rows:
            raise VaultError(f"no vault record {record_id}")
        row = rows[0]
        pid, kind = row["participant_id"], row["kind"]
        found = self._query("SELECT wrapped FROM vault_keys WHERE participant_id = ?", (pid,))
        if not found:
            raise ErasedError(f"participant {pid}'s data key is gone (erased)")
        key = aes_key_unwrap(self._master, bytes(found[0]["wrapped"]))
        aad = f"{record_id}|{pid}|{kind}".encode()
        plain = AESGCM(key).decrypt(bytes(row["nonce"]), bytes(row["ciphertext"]), aad)
        content = canonical.loads(plain)
        salt = b64decode(content["salt"])
        if commitment(salt, content["value"]) != row["commitment"]:
            raise VaultError(f"vault record {record_id} does not match its commitment")
        return Opened(record_id, pid, kind, content["value"], salt, row["commitment"])

    # -- records no event commits to (left by versions that wrote them apart) ------------

    def records(self) -> list[Sealed]:
        rows = self._query(
            "SELECT record_id, participant_id, kind, commitment FROM vault_records"
            " ORDER BY record_id"
        )
        return [
            Sealed(r["record_id"], r["participant_id"], r["kind"], r["commitment"]) for r in rows
        ]

    @retry_idempotent
    def remove(self, record_ids: list[str]) -> None:
        """Delete records (only ones proven to have no event: see the application's sweep)."""
        with self._datastore.transaction(commit=True) as c:
            for record_id in record_ids:
                c.execute(self._sql("DELETE FROM vault_records WHERE record_id = ?"), (record_id,))
