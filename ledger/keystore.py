"""Private keys on disk for the embedded default, encrypted with a passphrase.

One file per key, `<key_id>.json`, mode 0600, holding the public facts and the
private key as PKCS#8 PEM encrypted with the passphrase from CMPP_KEY_PASSPHRASE.
Nothing secret is ever printed, logged or put in an error message.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import UserError
from ledger.signing import SigningKey


class KeyStoreError(UserError, RuntimeError):
    """A key that cannot be stored or read; the message never holds secrets."""

    rule = "key-store"


class KeyStore:
    def __init__(self, directory: Path, passphrase: str | None) -> None:
        self.directory = directory
        self._passphrase = passphrase

    def _secret(self) -> bytes:
        if not self._passphrase:
            raise KeyStoreError("set CMPP_KEY_PASSPHRASE: the key store is encrypted with it")
        return self._passphrase.encode()

    def _path(self, key_id: str) -> Path:
        if len(key_id) != 64 or any(c not in "0123456789abcdef" for c in key_id):
            raise KeyStoreError(f"{key_id!r} is not a key id (64 lowercase hex digits)")
        return self.directory / f"{key_id}.json"

    def save(self, key: SigningKey, label: str) -> Path:
        pem = key.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._secret()),
        )
        record = {
            "key_id": key.key_id,
            "public_key": key.public_key_b64,
            "holder": key.holder,
            "roles": list(key.roles),
            "label": label,
            "private_key": pem.decode("ascii"),
        }
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(key.key_id)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".key-")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(record, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def load(self, key_id: str) -> SigningKey:
        path = self._path(key_id)
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyStoreError(f"no private key {key_id} in the key store") from None
        try:
            private = serialization.load_pem_private_key(
                record["private_key"].encode(), password=self._secret()
            )
        except ValueError:
            raise KeyStoreError(
                f"cannot decrypt key {key_id}: is CMPP_KEY_PASSPHRASE the one it was made with?"
            ) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyStoreError(f"key {key_id} is not an Ed25519 key")
        key = SigningKey(private, record["holder"], tuple(record["roles"]))
        if key.key_id != key_id:
            raise KeyStoreError(f"the key file for {key_id} holds another key")
        return key

    def list(self) -> list[dict[str, object]]:
        """Public facts of every stored key: id, holder, roles, label."""
        out = []
        for path in sorted(self.directory.glob("*.json")):
            record = json.loads(path.read_text())
            out.append({k: record[k] for k in ("key_id", "holder", "roles", "label")})
        return out

    def find(self, holder: str, role: str) -> SigningKey:
        for record in self.list():
            if record["holder"] == holder and role in record["roles"]:  # type: ignore[operator]
                return self.load(str(record["key_id"]))
        raise KeyStoreError(f"no key of {holder} with the role {role} in the key store")
