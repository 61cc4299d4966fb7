"""The cosignatures the ledger keeps (ledger_cosignatures) are not trusted: the database's
operators can write any row. A kept line is used only once it verifies with the witness's
key over that very checkpoint's text; rows are kept by the witness's name and key hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger import witness_client
from ledger.cosignature import cosignatures_by, split_note
from ledger.note import Checkpoint, VerifierKey, open_note
from ledger.witness import Witness
from ledger.witness_client import WitnessAddress, cosign, cosigned_note, verifies
from tests.cli_support import cli_env, fast_settings
from tests.helpers import LedgerUnderTest, RawDatabase, open_ledger
from tests.test_witness import WITNESS, held_size, new_witness
from tests.test_witness_cli import invoke
from tools import console

JUNK = f"— {WITNESS} AAAA"


def size_of(ledger: LedgerUnderTest) -> int:
    return Checkpoint.open(ledger.log.checkpoint(), ledger.log.verifier).size


def asked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The `old` size of each request the client sends a witness, from now on."""
    olds: list[int] = []
    post = witness_client._post

    def recording(witness: WitnessAddress, body: str) -> tuple[int, str]:
        olds.append(int(body.split("\n", 1)[0].removeprefix("old ")))
        return post(witness, body)

    monkeypatch.setattr(witness_client, "_post", recording)
    return olds


def test_junk_rows_do_not_stand_for_the_witness(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = open_ledger(database_url)
    witness, witnesses = new_witness(ledger, tmp_path / "witness")
    [first] = cosign(ledger.log, witnesses)
    assert first.ok and held_size(witness) == first.size
    key, store = witness.key, ledger.app.store
    for _ in range(3):
        ledger.pay()
    size = size_of(ledger)
    # Junk for this size and the sizes to come, under the bare name and under name+hash;
    # and the witness's own (valid) line of the earlier checkpoint, copied to this size.
    [(valid_earlier, _by)] = [(line, by) for by, line in store.cosignatures(first.size)]
    for future in range(size, size + 120):
        store.add_cosignature(future, WITNESS, JUNK)
        store.add_cosignature(future, key.short, JUNK)
    store.add_cosignature(size, key.short, valid_earlier)
    olds = asked(monkeypatch)
    [result] = cosign(ledger.log, witnesses)
    assert result.ok and result.size == size and result.line not in (JUNK, valid_earlier)
    # Asked: the junk's largest size is no size it cosigned, so it starts from 0 and the
    # witness's 409 names the size it holds.
    assert olds == [0, first.size]
    assert held_size(witness) == size
    note = cosigned_note(store, ledger.log.checkpoint(size), [key])
    [(line, _time)] = cosignatures_by(note, key)
    assert line == f"{result.line}\n" and JUNK not in note and valid_earlier not in note
    assert (key.short, result.line) in store.cosignatures(size)  # the junk row replaced
    # Asked again at this size, the verified line stands: the witness is not asked.
    assert cosign(ledger.log, witnesses)[0].line == result.line and len(olds) == 2
    # No keys: nothing tells a cosignature from junk, so no line is added.
    assert cosigned_note(store, ledger.log.checkpoint(size), []) == ledger.log.checkpoint(size)


def test_the_last_cosigned_size_is_one_that_verifies(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = open_ledger(database_url)
    witness, witnesses = new_witness(ledger, tmp_path / "witness")
    [first] = cosign(ledger.log, witnesses)
    ledger.pay()
    junk_size = size_of(ledger)  # issued, with a junk row as its "cosignature"
    ledger.app.store.add_cosignature(junk_size, witness.key.short, JUNK)
    ledger.pay()
    olds = asked(monkeypatch)
    [result] = cosign(ledger.log, witnesses)
    # Not told the junk's size: it starts from 0, and the witness's 409 corrects it.
    assert result.ok and olds == [0, first.size]
    assert held_size(witness) == result.size
    # A kept line that verifies is the size it is asked from.
    ledger.pay()
    assert cosign(ledger.log, witnesses)[0].ok and olds == [0, first.size, result.size]


def test_a_same_named_witness_with_another_key_is_another_witness(
    database_url: str, tmp_path: Path
) -> None:
    ledger = open_ledger(database_url)
    witness, witnesses = new_witness(ledger, tmp_path / "witness")
    impostor, impostors = new_witness(ledger, tmp_path / "impostor")  # the same name
    assert impostor.key.name == witness.key.name and impostor.key != witness.key
    ledger.pay()
    [by_impostor] = cosign(ledger.log, impostors)
    assert by_impostor.ok and held_size(witness) is None
    note = ledger.log.checkpoint()
    assert cosigned_note(ledger.app.store, note, [witness.key]) == note
    # Its line, under the witness's own name+hash, is not the witness's either.
    assert by_impostor.line is not None
    ledger.app.store.add_cosignature(by_impostor.size, witness.key.short, by_impostor.line)
    assert cosigned_note(ledger.app.store, note, [witness.key]) == note
    [result] = cosign(ledger.log, witnesses)
    assert result.ok and result.line != by_impostor.line and result.witness == witness.key.short
    assert held_size(witness) == by_impostor.size  # it was asked
    both = cosigned_note(ledger.app.store, note, [witness.key, impostor.key])
    assert len(split_note(both)[1]) == 3  # the log's, the witness's, the impostor's


def test_verifies_takes_exactly_one_line(tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    witness, witnesses = new_witness(ledger, tmp_path / "witness")
    [result] = cosign(ledger.log, witnesses)
    assert result.line is not None
    text = split_note(ledger.log.checkpoint())[0]
    assert verifies(text, result.line, witness.key)
    for smuggled in ("\n", "\u2028", "\r"):
        assert not verifies(text, f"{JUNK}{smuggled}{result.line}", witness.key)
        assert not verifies(text, f"{result.line}{smuggled}{JUNK}", witness.key)
    other_text = Checkpoint(ledger.app.origin, 0, b"\x00" * 32).text()
    assert not verifies(other_text, result.line, witness.key)


def test_cmpp_checkpoint_prints_only_lines_that_verify(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "load_settings", fast_settings)
    env = cli_env(database_url, tmp_path / "var")
    made = invoke(env, "init", "--json")
    assert made.exit_code == 0, made.output
    log_key = VerifierKey.parse(json.loads(made.stdout)["log_vkey"])
    witness = Witness.create(tmp_path / "witness", "ig.example.gov/w")
    impostor = Witness.create(tmp_path / "impostor", "ig.example.gov/w")  # another key
    assert witness.add_log(log_key) and impostor.add_log(log_key)
    cosigning = {**env, "CMPP_WITNESSES": f"{witness.key}={tmp_path / 'witness'}"}
    register = ("keys", "register", "--holder", "org:cws", "--role", "grantee")
    raw = RawDatabase(database_url)
    junk = "— ig.example.gov/w AAAA"

    def checkpoint() -> tuple[int, str, list[str]]:
        """`cmpp checkpoint`: the size the witness was asked of, the note's text and lines."""
        shown = invoke(cosigning, "checkpoint", "--json")
        assert shown.exit_code == 0, shown.output
        answer = json.loads(shown.stdout)
        [asked_witness] = answer["witnesses"]
        assert asked_witness["cosigned"] and asked_witness["problem"] is None
        assert open_note(answer["checkpoint"], log_key)
        text, lines = split_note(answer["checkpoint"])
        [_log_line, cosigned_line] = lines  # the log's signature and the witness's, no more
        assert verifies(text, cosigned_line, witness.key)
        return asked_witness["size"], text, lines

    first, _text, _lines = checkpoint()
    assert held_size(witness) == first
    # Junk for every size to come, under the witness's bare name and its name+hash.
    for size in range(first + 1, first + 120):
        for by in ("ig.example.gov/w", witness.key.short):
            raw.execute("INSERT INTO ledger_cosignatures VALUES (?, ?, ?)", (size, by, junk))
    assert invoke(env, *register).exit_code == 0
    second, _text, lines = checkpoint()
    assert second > first and held_size(witness) == second and junk not in lines

    # The impostor (same name, another key) cosigned the next checkpoint; its line is kept
    # under the witness's name+hash. It is not the configured witness's cosignature.
    assert invoke(env, *register).exit_code == 0
    note = json.loads(invoke(env, "checkpoint", "--json").stdout)["checkpoint"]
    third = Checkpoint.open(note, log_key).size
    answer = impostor.add_checkpoint(f"old 0\n\n{note}")
    assert answer.status == 200
    by_impostor = answer.body.rstrip("\n")
    raw.execute("DELETE FROM ledger_cosignatures WHERE size = ?", (third,))
    raw.execute(
        "INSERT INTO ledger_cosignatures VALUES (?, ?, ?)",
        (third, witness.key.short, by_impostor),
    )
    asked_size, _text, lines = checkpoint()
    assert asked_size == third and held_size(witness) == third and by_impostor not in lines
