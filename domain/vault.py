"""The vault: personal data and protected facts, kept out of the log.

Each participant's records are encrypted with AES-256-GCM under a data key of their
own; the data key is stored wrapped (RFC 3394) by the master key from configuration.
An event carries only a salted commitment H(salt ‖ JCS(value)), so an entitled reader
can prove a vault record is the one recorded. Erasure deletes the wrapped data key:
the records become unreadable while the log, its proofs and every count stay valid.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from ledger import canonical
from ledger.errors import UserError
from ledger.hashing import b64decode, b64encode


class VaultError(UserError, RuntimeError):
    """A vault record that cannot be kept or read; never holds the data itself."""

    rule = "vault"


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
]


class Vault:
    def __init__(self, datastore: Any, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise VaultError("the vault master key must be 32 bytes (base64 in CMPP_VAULT_KEY)")
        self._datastore = datastore
        self._master = master_key
        self._postgres = type(datastore).__name__.startswith("Postgres")
        blob = "bytea" if self._postgres else "BLOB"
        with datastore.transaction(commit=True) as c:
            for statement in TABLES:
                c.execute(statement.format(blob=blob))

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self._postgres else text

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._datastore.transaction(commit=False) as c:
            c.execute(self._sql(sql), params)
            return list(c.fetchall())

    def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._datastore.transaction(commit=True) as c:
            c.execute(self._sql(sql), params)

    def _data_key(self, participant_id: str, *, create: bool) -> bytes:
        rows = self._query(
            "SELECT wrapped FROM vault_keys WHERE participant_id = ?", (participant_id,)
        )
        if rows:
            return aes_key_unwrap(self._master, bytes(rows[0]["wrapped"]))
        if not create:
            raise ErasedError(f"participant {participant_id}'s data key is gone (erased)")
        key = AESGCM.generate_key(bit_length=256)
        wrapped = aes_key_wrap(self._master, key)
        self._execute("INSERT INTO vault_keys VALUES (?, ?)", (participant_id, wrapped))
        return key

    def seal(self, participant_id: str, kind: str, value: Any) -> tuple[str, str]:
        """Encrypt `value`; return (record id, commitment for the event)."""
        key = self._data_key(participant_id, create=True)
        salt = os.urandom(16)
        record_id = uuid.uuid4().hex
        try:
            plaintext = canonical.dumps({"salt": b64encode(salt), "value": value})
        except canonical.CanonicalError as exc:
            raise VaultError(f"a vault record holds JSON values only: {exc}") from None
        nonce = os.urandom(12)
        aad = f"{record_id}|{participant_id}|{kind}".encode()
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, aad)
        digest = commitment(salt, value)
        self._execute(
            "INSERT INTO vault_records VALUES (?, ?, ?, ?, ?, ?)",
            (record_id, participant_id, kind, nonce, ciphertext, digest),
        )
        return record_id, digest

    @contextmanager
    def sealed(self, participant_id: str, kind: str, value: Any) -> Iterator[str]:
        """Seal `value` for the event being recorded; yield its commitment.
        If the event is refused, the record is discarded: nothing points to it."""
        record_id, digest = self.seal(participant_id, kind, value)
        try:
            yield digest
        except BaseException:
            self.discard(record_id)
            raise

    def discard(self, record_id: str) -> None:
        """Remove a record whose event was refused (it was never referenced)."""
        self._execute("DELETE FROM vault_records WHERE record_id = ?", (record_id,))

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
        key = self._data_key(pid, create=False)
        aad = f"{record_id}|{pid}|{kind}".encode()
        plain = AESGCM(key).decrypt(bytes(row["nonce"]), bytes(row["ciphertext"]), aad)
        content = canonical.loads(plain)
        salt = b64decode(content["salt"])
        if commitment(salt, content["value"]) != row["commitment"]:
            raise VaultError(f"vault record {record_id} does not match its commitment")
        return Opened(record_id, pid, kind, content["value"], salt, row["commitment"])

    def erase(self, participant_id: str) -> None:
        """Crypto-shred: delete the data key. The ciphertexts stay, unreadable by anyone."""
        self._execute("DELETE FROM vault_keys WHERE participant_id = ?", (participant_id,))
