"""Private key files: sealed with scrypt and AES-256-GCM, their public facts bound to the
seal, opened once per process, private to their user; the first format still read and
rewritten; anything damaged, edited or opened with the wrong passphrase refused with a
clear message and never the secret."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from ledger import keystore
from ledger.keystore import INSECURE_FAST_COST, RECOMMENDED_COST, KeyStore, KeyStoreError
from ledger.outcome import OutcomeUnknownError
from ledger.signing import SigningKey

PASSPHRASE = "a passphrase of some length"


def _store(directory: Path, passphrase: str | None = PASSPHRASE) -> KeyStore:
    return KeyStore(directory, passphrase, insecure_fast_kdf=True)


def _saved(tmp_path: Path) -> tuple[SigningKey, Path]:
    key = SigningKey.generate("org:cws", ("fiscal_agent",))
    return key, _store(tmp_path / "keys").save(key, "cws fiscal agent")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _refused(directory: Path, key_id: str, says: str, passphrase: str = PASSPHRASE) -> None:
    with pytest.raises(KeyStoreError, match=says) as refused:
        _store(directory, passphrase).load(key_id)
    error = refused.value  # no traceback from json, base64 or cryptography behind it:
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert passphrase not in str(refused.value)


class _Derivations:
    """Counts scrypt derivations (the slow part of opening a key)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = keystore.Scrypt

        def counted(**kwargs: Any) -> Any:
            self.count += 1
            return real(**kwargs)

        monkeypatch.setattr(keystore, "Scrypt", counted)


def test_a_key_is_sealed_in_a_private_file_and_opens_again(tmp_path: Path) -> None:
    key, path = _saved(tmp_path)
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert _mode(tmp_path) == stat.S_IMODE(tmp_path.stat().st_mode)  # not ours: untouched
    record = json.loads(path.read_text())
    assert record["kdf"]["name"] == "scrypt" and record["cipher"]["name"] == "AES-256-GCM"
    assert (record["holder"], record["roles"], record["label"]) == (
        "org:cws",
        ["fiscal_agent"],
        "cws fiscal agent",
    )
    text = path.read_text()
    raw = key.private.private_bytes_raw()
    assert PASSPHRASE not in text and "PRIVATE KEY" not in text
    assert raw.hex() not in text and keystore.b64encode(raw) not in text

    opened = _store(tmp_path / "keys").load(key.key_id)
    assert opened.private.private_bytes_raw() == raw
    assert (opened.holder, opened.roles, opened.key_id) == (key.holder, key.roles, key.key_id)
    assert _store(tmp_path / "keys").list() == [
        {
            "key_id": key.key_id,
            "holder": "org:cws",
            "roles": ["fiscal_agent"],
            "label": "cws fiscal agent",
            "person": None,
        }
    ]


def test_the_recommended_cost_is_owasps_and_is_what_a_store_seals_at(tmp_path: Path) -> None:
    assert (RECOMMENDED_COST.n, RECOMMENDED_COST.r, RECOMMENDED_COST.p) == (2**17, 8, 1)
    assert KeyStore(tmp_path, PASSPHRASE).cost == RECOMMENDED_COST
    key = SigningKey.generate("org:board", ("board",))
    path = KeyStore(tmp_path / "keys", PASSPHRASE).save(key, "root")
    kdf = json.loads(path.read_text())["kdf"]
    assert (kdf["n"], kdf["r"], kdf["p"]) == (2**17, 8, 1)


def test_a_key_is_opened_once_per_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = SigningKey.generate("org:board", ("board",))
    log = SigningKey.generate("org:board", ("log",))
    derivations = _Derivations(monkeypatch)
    writer = _store(tmp_path)
    writer.save(root, "root")
    writer.save(log, "log")
    assert derivations.count == 1  # one salt per store: its files share the derived key
    assert writer.load(root.key_id) is root  # what a store saved, it holds

    reader = _store(tmp_path)
    for _ in range(5):
        assert reader.load(root.key_id).key_id == root.key_id
    reader.load(log.key_id)
    assert derivations.count == 2


def test_a_wrong_or_missing_passphrase_is_refused(tmp_path: Path) -> None:
    key, _ = _saved(tmp_path)
    _refused(tmp_path / "keys", key.key_id, "cannot decrypt", passphrase="another passphrase!")
    with pytest.raises(KeyStoreError, match="set CMPP_KEY_PASSPHRASE"):
        _store(tmp_path / "keys", None).load(key.key_id)


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(holder="org:irc"),
        lambda r: r.update(roles=["board"]),
        lambda r: r.update(label="someone else's"),
        lambda r: r["kdf"].update(salt=keystore.b64encode(b"\0" * 16)),
        lambda r: r["kdf"].update(n=2**11),
        lambda r: r["cipher"].update(nonce=keystore.b64encode(b"\0" * 12)),
        lambda r: r.update(note="added"),
        lambda r: r.update(sealed_private_key=keystore.b64encode(b"\1" * 48)),
    ],
    ids=["holder", "roles", "label", "salt", "cost", "nonce", "a new member", "sealed key"],
)
def test_a_file_edited_in_any_member_no_longer_opens(
    tmp_path: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    key, path = _saved(tmp_path)
    _edit(path, change)
    _refused(tmp_path / "keys", key.key_id, "cannot decrypt .* or the file was altered")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "damaged \\(not JSON\\)"),
        (b"\xff\xfe{", "damaged \\(not UTF-8"),
        (b"[1, 2]", "damaged \\(not a JSON object\\)"),
        (b'{"key_id": 7}', "damaged \\(no key_id\\)"),
    ],
)
def test_a_file_that_is_not_a_key_file_is_damaged(
    tmp_path: Path, content: bytes, says: str
) -> None:
    key, path = _saved(tmp_path)
    path.write_bytes(content)
    _refused(tmp_path / "keys", key.key_id, says)
    with pytest.raises(KeyStoreError, match="damaged"):
        _store(tmp_path / "keys").list()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda r: r["kdf"].update(name="pbkdf2"), "key derivation is not scrypt"),
        (lambda r: r["cipher"].update(name="AES-128-CBC"), "cipher is not AES-256-GCM"),
        (lambda r: r["kdf"].update(n=2**40), "cost is out of bounds"),
        (lambda r: r["kdf"].update(n=3000), "cost is out of bounds"),
        (lambda r: r["kdf"].update(p="1"), "not positive integers"),
        (lambda r: r["kdf"].update(salt="not base64!"), "not base64"),
        (lambda r: r["cipher"].pop("nonce"), "not base64"),
        (lambda r: r.update(sealed_private_key="AAAA"), "wrong length"),
        (lambda r: r.update(format="cmpp-key-file/9"), "a format this version cannot read"),
        (lambda r: r.update(key_id="0" * 64), "holds another key"),
    ],
)
def test_a_damaged_file_is_refused_plainly(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], says: str
) -> None:
    key, path = _saved(tmp_path)
    _edit(path, change)
    _refused(tmp_path / "keys", key.key_id, says)


def test_a_file_cut_anywhere_is_refused_plainly(tmp_path: Path) -> None:
    key, path = _saved(tmp_path)
    whole = path.read_bytes()
    for length in range(0, len(whole) - 2, 3):  # the last bytes are layout: `}` and newline
        path.write_bytes(whole[:length])
        _refused(tmp_path / "keys", key.key_id, "damaged|cannot decrypt")


def test_a_missing_key_and_a_bad_key_id_are_named(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(KeyStoreError, match="no private key"):
        store.load("a" * 64)
    with pytest.raises(KeyStoreError, match="not a key id"):
        store.load("../etc/passwd")


def _first_format(directory: Path, key: SigningKey, label: str, passphrase: str) -> Path:
    """A key file as the first format wrote it: PKCS#8 PEM under PBKDF2, facts unbound."""
    pem = key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    record = {
        "key_id": key.key_id,
        "public_key": key.public_key_b64,
        "holder": key.holder,
        "roles": list(key.roles),
        "label": label,
        "private_key": pem.decode("ascii"),
    }
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"{key.key_id}.json"
    path.write_text(json.dumps(record, indent=1))
    path.chmod(0o600)
    return path


def test_a_file_of_the_first_format_is_read_and_rewritten_in_the_current_one(
    tmp_path: Path,
) -> None:
    key = SigningKey.generate("org:board", ("board",))
    path = _first_format(tmp_path, key, "root key (board)", PASSPHRASE)
    _refused(tmp_path, key.key_id, "cannot decrypt", passphrase="not the passphrase")
    assert "BEGIN ENCRYPTED PRIVATE KEY" in path.read_text()  # a refused open rewrites nothing

    opened = _store(tmp_path).load(key.key_id)
    assert opened.private.private_bytes_raw() == key.private.private_bytes_raw()
    record = json.loads(path.read_text())
    assert record["format"] == keystore.FORMAT and "private_key" not in record
    assert record["label"] == "root key (board)" and _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    again = _store(tmp_path).load(key.key_id)
    assert again.private.private_bytes_raw() == key.private.private_bytes_raw()


def test_a_file_sealed_at_a_lower_cost_is_resealed_at_the_stores(tmp_path: Path) -> None:
    key, path = _saved(tmp_path)
    assert json.loads(path.read_text())["kdf"]["n"] == INSECURE_FAST_COST.n
    KeyStore(tmp_path / "keys", PASSPHRASE).load(key.key_id)
    assert json.loads(path.read_text())["kdf"]["n"] == RECOMMENDED_COST.n
    before = path.read_text()
    _store(tmp_path / "keys").load(key.key_id)  # a cheaper store never lowers it
    assert path.read_text() == before


def test_key_directories_and_files_are_made_private(tmp_path: Path) -> None:
    key, path = _saved(tmp_path)
    path.parent.chmod(0o755)
    path.chmod(0o644)
    _store(path.parent).load(key.key_id)
    assert _mode(path.parent) == 0o700 and _mode(path) == 0o600

    path.parent.chmod(0o775)
    _store(path.parent).save(SigningKey.generate("org:irc", ("grantee",)), "irc")
    assert _mode(path.parent) == 0o700

    fresh = tmp_path / "data" / "keys"
    _store(fresh).save(SigningKey.generate("org:irc", ("grantee",)), "irc")
    assert _mode(fresh) == 0o700 and _mode(fresh.parent) == 0o700


def test_a_key_directory_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(KeyStoreError, match="cannot be made private"):
        _store(tmp_path / "file").save(SigningKey.generate("org:irc", ("grantee",)), "irc")


def test_a_staged_key_file_is_kept_only_if_its_block_completes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    kept = SigningKey.generate("org:irc", ("grantee",))
    with store.staged(kept, "irc") as pending:
        assert pending.exists() and _mode(pending) == 0o600
        assert store.list() == []  # not a key of the store until the block completes
    assert not pending.exists() and _store(tmp_path).load(kept.key_id).key_id == kept.key_id

    dropped = SigningKey.generate("org:irc", ("grantee",))
    with pytest.raises(RuntimeError, match="refused"), store.staged(dropped, "irc"):
        raise RuntimeError("registration refused")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{kept.key_id}.json"]


def test_a_stage_cut_short_says_how_to_finish_it(tmp_path: Path) -> None:
    key = SigningKey.generate("org:irc", ("grantee",))
    stage = _store(tmp_path).staged(key, "irc")
    stage.__enter__()  # and the process dies inside the block (held: no clean-up runs)
    with pytest.raises(KeyStoreError, match=f"rename {key.key_id}.pending to {key.key_id}.json"):
        _store(tmp_path).load(key.key_id)


def test_an_unreadable_key_file_is_named(tmp_path: Path) -> None:
    # Something that cannot be read as a file, whoever runs the test (root reads any
    # file whatever its mode): a directory where the key file should be.
    key, path = _saved(tmp_path)
    path.unlink()
    path.mkdir()
    _refused(tmp_path / "keys", key.key_id, "cannot read the key file")


def test_a_fifo_where_a_key_file_should_be_is_refused_not_waited_on(tmp_path: Path) -> None:
    key, path = _saved(tmp_path)
    path.unlink()
    os.mkfifo(path)  # nothing will ever write to it: reading it would block for good
    _refused(tmp_path / "keys", key.key_id, "cannot read the key file")
    with pytest.raises(KeyStoreError, match="unreadable"):
        _store(tmp_path / "keys").list()


def test_a_key_whose_registration_may_have_committed_keeps_its_pending_file(
    tmp_path: Path,
) -> None:
    key = SigningKey.generate("org:irc", ("grantee",))
    store = _store(tmp_path)
    with pytest.raises(OutcomeUnknownError), store.staged(key, "irc"):
        raise OutcomeUnknownError("the database stayed away: whether it was recorded is not known")
    assert [p.name for p in tmp_path.iterdir()] == [f"{key.key_id}.pending"]
    with pytest.raises(KeyStoreError, match=f"rename {key.key_id}.pending"):
        _store(tmp_path).load(key.key_id)
