"""Private keys on disk for the embedded default, sealed under a passphrase.

One file per key, `<key_id>.json`, mode 0600 in a directory of mode 0700. It holds the
key's public facts (key id, public key, holder, roles, label), how its sealing key was
derived from CMPP_KEY_PASSPHRASE (scrypt: its cost and salt), and the raw 32-byte
Ed25519 private key sealed with AES-256-GCM. Everything in the file but the sealed
bytes is the cipher's associated data: a file edited to claim another holder, other
roles or a cheaper derivation no longer opens.

scrypt is memory-hard and slow on purpose (about 0.3 s at the recommended cost), so a
key store derives each sealing key once and opens each private key once per process.
Files of the first format (PKCS#8 PEM under PBKDF2) are still read, and rewritten in
this one when first used; so are files sealed at a lower cost than the store's.
Nothing secret is ever printed, logged or put in an error message.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ledger import canonical
from ledger.durable import sync_directory, write_atomic
from ledger.errors import UserError
from ledger.hashing import b64decode, b64encode
from ledger.outcome import OutcomeUnknownError
from ledger.signing import SigningKey

FORMAT = "cmpp-key-file/2"
KDF_NAME = "scrypt"
CIPHER_NAME = "AES-256-GCM"
SALT_BYTES = 16
NONCE_BYTES = 12  # AES-GCM's standard nonce; random, as each file is sealed once
SEALED_BYTES = 32 + 16  # the raw private key and the GCM tag
MAX_KDF_MEMORY = 1 << 30  # bytes; a file asking scrypt for more is refused, not obeyed
PENDING_SUFFIX = ".pending"


class KeyStoreError(UserError, RuntimeError):
    """A key that cannot be stored or read; the message never holds secrets."""

    rule = "key-store"


@dataclass(frozen=True)
class ScryptCost:
    """scrypt's cost: N (CPU and memory, a power of two), r (block size), p (parallelism)."""

    n: int
    r: int
    p: int

    @property
    def memory(self) -> int:
        return 128 * self.n * self.r

    def covers(self, other: ScryptCost) -> bool:
        """At least as costly as `other` in every parameter."""
        return self.n >= other.n and self.r >= other.r and self.p >= other.p


# OWASP's password storage guidance for scrypt: N=2^17, r=8, p=1 (128 MiB).
RECOMMENDED_COST = ScryptCost(n=2**17, r=8, p=1)
# For key stores that live as long as a test or a benchmark run: see KeyStore.
INSECURE_FAST_COST = ScryptCost(n=2**10, r=8, p=1)


class KeyStore:
    """The private keys of one directory, sealed under one passphrase.

    `insecure_fast_kdf` seals new files at a trivial scrypt cost. It exists for stores
    that live as long as a test or a benchmark run (`throwaway_settings`); nothing that
    keeps keys for real sets it. A store at the recommended cost reseals such files
    when it first opens them.
    """

    def __init__(
        self, directory: Path, passphrase: str | None, *, insecure_fast_kdf: bool = False
    ) -> None:
        self.directory = directory
        self._passphrase = passphrase
        self.cost = INSECURE_FAST_COST if insecure_fast_kdf else RECOMMENDED_COST
        self._lock = threading.RLock()
        self._opened: dict[str, SigningKey] = {}  # key id -> key, opened or saved here
        self._derived: dict[tuple[bytes, ScryptCost], bytes] = {}  # (salt, cost) -> AES key
        self._sealing_salt: bytes | None = None
        self._directory_checked = False

    # -- writing ----------------------------------------------------------------------

    def save(self, key: SigningKey, label: str) -> Path:
        """Seal `key` into its file now."""
        path = self._path(key.key_id)
        self._write(path, self._sealed(key, label))
        self._opened[key.key_id] = key
        return path

    @contextmanager
    def staged(self, key: SigningKey, label: str) -> Iterator[Path]:
        """Keep `key`'s file only if the block completes (its registration committed).

        The file is sealed under a pending name before the block, so a key the ledger
        accepts is already safe on disk; it is renamed into place when the block returns,
        and removed if the block raises, leaving no file for a key that was never
        registered. If the block cannot tell whether the registration committed (the
        database went away as it did), the pending file stays: the key may be in force,
        and `load` says how to keep it."""
        path = self._path(key.key_id)
        pending = path.with_suffix(PENDING_SUFFIX)
        self._write(pending, self._sealed(key, label))
        try:
            yield pending
        except OutcomeUnknownError:
            raise
        except BaseException:
            pending.unlink(missing_ok=True)
            raise
        os.replace(pending, path)
        sync_directory(self.directory)
        self._opened[key.key_id] = key

    def _sealed(self, key: SigningKey, label: str) -> dict[str, Any]:
        salt, cost = self._sealing_salt_and_cost()
        record: dict[str, Any] = {
            "format": FORMAT,
            "key_id": key.key_id,
            "public_key": key.public_key_b64,
            "holder": key.holder,
            "roles": list(key.roles),
            "person": key.person,
            "label": label,
            "kdf": {
                "name": KDF_NAME,
                "n": cost.n,
                "r": cost.r,
                "p": cost.p,
                "salt": b64encode(salt),
            },
            "cipher": {"name": CIPHER_NAME, "nonce": b64encode(os.urandom(NONCE_BYTES))},
        }
        raw = key.private.private_bytes_raw()
        sealed = AESGCM(self._derive(salt, cost)).encrypt(
            b64decode(record["cipher"]["nonce"]), raw, _associated_data(record)
        )
        return {**record, "sealed_private_key": b64encode(sealed)}

    def _sealing_salt_and_cost(self) -> tuple[bytes, ScryptCost]:
        """The salt new files are sealed under: one per store and process, reusing one
        already derived at the store's cost if there is one. Every file of a store is
        sealed under the same passphrase, so opening one opens them all: a salt per file
        would cost an attacker nothing more, and would cost us a derivation per file."""
        with self._lock:
            if self._sealing_salt is None:
                derived = (salt for salt, cost in self._derived if cost == self.cost)
                self._sealing_salt = next(derived, None) or os.urandom(SALT_BYTES)
            return self._sealing_salt, self.cost

    def _derive(self, salt: bytes, cost: ScryptCost) -> bytes:
        with self._lock:
            derived = self._derived.get((salt, cost))
            if derived is None:
                kdf = Scrypt(salt=salt, length=32, n=cost.n, r=cost.r, p=cost.p)
                derived = self._derived[(salt, cost)] = kdf.derive(self._secret())
            return derived

    def _secret(self) -> bytes:
        if not self._passphrase:
            raise KeyStoreError("set CMPP_KEY_PASSPHRASE: the key store is encrypted with it")
        return self._passphrase.encode()

    def _write(self, path: Path, record: dict[str, Any]) -> None:
        """Write atomically (a crash leaves the old file or the new, never half of one)."""
        self._private_directory(create=True)
        try:
            write_atomic(path, json.dumps(record, indent=1).encode())
        except OSError as exc:
            raise KeyStoreError(f"cannot write the key file {path.name}: {exc.strerror}") from None

    # -- reading ----------------------------------------------------------------------

    def load(self, key_id: str) -> SigningKey:
        """The private key `key_id`, opened once per store (scrypt is slow on purpose)."""
        with self._lock:
            key = self._opened.get(key_id)
            if key is None:
                key = self._opened[key_id] = self._open(key_id)
            return key

    def _open(self, key_id: str) -> SigningKey:
        path = self._path(key_id)
        self._private_directory(create=False)
        record = self._read(path, key_id)
        if "format" not in record:  # the first format
            key = self._open_pem(path, record, key_id)
            self._write(path, self._sealed(key, record["label"]))
            return key
        if record["format"] != FORMAT:
            raise KeyStoreError(f"the key file {path.name} is of a format this version cannot read")
        key, cost = self._unseal(path, record, key_id)
        if not cost.covers(self.cost):  # sealed when the recommended cost was lower
            self._write(path, self._sealed(key, record["label"]))
        return key

    def _read(self, path: Path, key_id: str) -> dict[str, Any]:
        try:
            _tighten(path, 0o600)
        except FileNotFoundError:
            raise self._missing(path, key_id) from None
        except OSError as exc:
            raise KeyStoreError(
                f"the key file {path.name} is open to other users and cannot be made "
                f"private ({exc.strerror}): make it yours and chmod 600 it"
            ) from None
        try:
            text = _read_file(path).decode("utf-8")
        except UnicodeDecodeError:
            raise _damaged(path, "not UTF-8 text") from None
        except OSError as exc:
            raise KeyStoreError(f"cannot read the key file {path.name}: {exc.strerror}") from None
        record = _public_facts(path, text)
        if record["key_id"] != key_id:
            raise KeyStoreError(f"the key file for {key_id} holds another key")
        return record

    @staticmethod
    def _missing(path: Path, key_id: str) -> KeyStoreError:
        pending = path.with_suffix(PENDING_SUFFIX)
        if pending.exists():  # written by `staged`, whose block never returned
            return KeyStoreError(
                f"key {key_id} was written but its registration did not finish: if "
                f"`cmpp keys list` shows it, rename {pending.name} to {path.name}"
            )
        return KeyStoreError(f"no private key {key_id} in the key store")

    def _unseal(
        self, path: Path, record: dict[str, Any], key_id: str
    ) -> tuple[SigningKey, ScryptCost]:
        salt, cost, nonce, sealed = _sealing_of(path, record)
        bound = _associated_data({k: v for k, v in record.items() if k != "sealed_private_key"})
        try:
            raw = AESGCM(self._derive(salt, cost)).decrypt(nonce, sealed, bound)
        except InvalidTag:
            raise KeyStoreError(
                f"cannot decrypt key {key_id}: CMPP_KEY_PASSPHRASE is not the one it was "
                "sealed with, or the file was altered"
            ) from None
        private = Ed25519PrivateKey.from_private_bytes(raw)
        return _signing_key(private, record, key_id), cost

    def _open_pem(self, path: Path, record: dict[str, Any], key_id: str) -> SigningKey:
        """A key file of the first format: PKCS#8 PEM encrypted under the passphrase."""
        pem = record.get("private_key")
        if not isinstance(pem, str) or "BEGIN ENCRYPTED PRIVATE KEY" not in pem:
            raise _damaged(path, "no encrypted private key")
        try:
            private = serialization.load_pem_private_key(pem.encode("ascii"), self._secret())
        except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
            raise KeyStoreError(
                f"cannot decrypt key {key_id}: is CMPP_KEY_PASSPHRASE the one it was made with?"
            ) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyStoreError(f"key {key_id} is not an Ed25519 key")
        return _signing_key(private, record, key_id)

    def list(self) -> list[dict[str, object]]:
        """Public facts of every stored key: id, holder, roles, label, person."""
        if not self.directory.is_dir():
            return []
        self._private_directory(create=False)
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                text = _read_file(path).decode("utf-8")
            except (OSError, UnicodeDecodeError):
                raise _damaged(path, "unreadable") from None
            record = _public_facts(path, text)
            facts = {k: record[k] for k in ("key_id", "holder", "roles", "label")}
            out.append({**facts, "person": record.get("person")})
        return out

    def find(self, holder: str, role: str) -> SigningKey:
        for record in self.list():
            if record["holder"] == holder and role in record["roles"]:  # type: ignore[operator]
                return self.load(str(record["key_id"]))
        raise KeyStoreError(f"no key of {holder} with the role {role} in the key store")

    # -- the directory ----------------------------------------------------------------

    def _path(self, key_id: str) -> Path:
        if len(key_id) != 64 or any(c not in "0123456789abcdef" for c in key_id):
            raise KeyStoreError(f"{key_id!r} is not a key id (64 lowercase hex digits)")
        return self.directory / f"{key_id}.json"

    def _private_directory(self, *, create: bool) -> None:
        """Make the directory (0700) if asked to, and close it to other users if it is
        open to them: it is ours (CMPP_DATA_DIR/keys), so whoever opened it (a copy, a
        lax umask) did not mean to share our keys, and closing it is safe."""
        if self._directory_checked:
            return
        try:
            if create:
                _make_private_directories(self.directory)
            elif not self.directory.exists():
                return
            _tighten(self.directory, 0o700)
        except OSError as exc:
            raise KeyStoreError(
                f"the key directory {self.directory} cannot be made private to this user "
                f"({exc.strerror}): make it yours and chmod 700 it"
            ) from None
        self._directory_checked = True


# -- the file format ------------------------------------------------------------------

_PUBLIC_FACTS = {"key_id": str, "public_key": str, "holder": str, "roles": list, "label": str}


def _public_facts(path: Path, text: str) -> dict[str, Any]:
    """The parsed file, its public facts checked for their types."""
    try:
        record = json.loads(text)
    except ValueError:
        raise _damaged(path, "not JSON") from None
    if not isinstance(record, dict):
        raise _damaged(path, "not a JSON object")
    for name, kind in _PUBLIC_FACTS.items():
        if not isinstance(record.get(name), kind):
            raise _damaged(path, f"no {name}")
    if not all(isinstance(role, str) for role in record["roles"]):
        raise _damaged(path, "roles are not names")
    if not isinstance(record.get("person"), str | None):
        raise _damaged(path, "its person is not a person id")
    return record


def _sealing_of(path: Path, record: dict[str, Any]) -> tuple[bytes, ScryptCost, bytes, bytes]:
    """The salt, cost, nonce and sealed bytes of a current-format file, checked."""
    kdf, cipher = record.get("kdf"), record.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != KDF_NAME:
        raise _damaged(path, f"its key derivation is not {KDF_NAME}")
    if not isinstance(cipher, dict) or cipher.get("name") != CIPHER_NAME:
        raise _damaged(path, f"its cipher is not {CIPHER_NAME}")
    cost = _cost(path, kdf)
    try:
        salt = b64decode(kdf["salt"])
        nonce = b64decode(cipher["nonce"])
        sealed = b64decode(record["sealed_private_key"])
    except (KeyError, TypeError, ValueError):
        raise _damaged(path, "its salt, nonce or sealed key is not base64") from None
    if len(salt) < SALT_BYTES or len(nonce) != NONCE_BYTES or len(sealed) != SEALED_BYTES:
        raise _damaged(path, "its salt, nonce or sealed key has the wrong length")
    return salt, cost, nonce, sealed


def _cost(path: Path, kdf: dict[str, Any]) -> ScryptCost:
    n, r, p = (kdf.get(name) for name in ("n", "r", "p"))
    if not all(type(v) is int and v >= 1 for v in (n, r, p)):
        raise _damaged(path, "scrypt's n, r and p are not positive integers")
    cost = ScryptCost(n, r, p)  # type: ignore[arg-type]
    if cost.n < 2 or cost.n & (cost.n - 1) or cost.p > 16 or cost.memory > MAX_KDF_MEMORY:
        raise _damaged(path, "scrypt's cost is out of bounds")
    return cost


def _associated_data(record: dict[str, Any]) -> bytes:
    """What the seal binds besides the private key: every other member of the file, as
    canonical JSON (so the file's own layout, indentation or member order do not count)."""
    try:
        return canonical.dumps(record)
    except (canonical.CanonicalError, TypeError, ValueError):
        raise KeyStoreError(
            f"the key file for {record.get('key_id')} holds values that cannot be checked"
        ) from None


def _signing_key(private: Ed25519PrivateKey, record: dict[str, Any], key_id: str) -> SigningKey:
    person = record.get("person")  # files written before people held keys have none
    key = SigningKey(private, record["holder"], tuple(record["roles"]), person)
    if key.key_id != key_id or key.public_key_b64 != record["public_key"]:
        raise KeyStoreError(f"the key file for {key_id} holds another key")
    return key


def _damaged(path: Path, what: str) -> KeyStoreError:
    return KeyStoreError(f"the key file {path.name} is damaged ({what}): restore it from a backup")


# -- files private to this user ---------------------------------------------------------


def _tighten(path: Path, mode: int) -> None:
    """Take away what `path` grants group and others beyond `mode`."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        os.chmod(path, current & mode)


def _make_private_directories(directory: Path) -> None:
    """`mkdir -p` whose new directories are 0700 (mkdir -p makes parents with the default)."""
    missing = []
    for ancestor in (directory, *directory.parents):
        if ancestor.exists():
            break
        missing.append(ancestor)
    for new in reversed(missing):
        new.mkdir(mode=0o700, exist_ok=True)
    if not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory")


MAX_KEY_FILE_BYTES = 1 << 20  # a key file is well under 1 KiB


def _read_file(path: Path) -> bytes:
    """The bytes of a regular file. Opened without blocking and checked before reading:
    a FIFO or a device put where a key file should be would hang or never end."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(MAX_KEY_FILE_BYTES)
    finally:
        os.close(fd)
