"""A witness's request parsing (c2sp.org/tlog-witness add-checkpoint) answers every body
with one of its own refusals or a cosignature, never an exception: a size line with a
superscript or another script's digits is a 400, like any other malformed checkpoint."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.hashing import b64encode
from ledger.note import Checkpoint, VerifierKey, public_bytes, signature_line
from ledger.witness import MAX_BODY_BYTES, Witness

ORIGIN = "cmpp.example.gov/ledger/requests"
ANSWERS = {200, 400, 403, 404, 409, 413, 422}
LOG_KEY = Ed25519PrivateKey.generate()
ROOTS = [secrets.token_bytes(32) for _ in range(3)]
HELD_SIZE = 5


def note_with_size(size_text: str, key: Ed25519PrivateKey = LOG_KEY) -> str:
    """A note whose size line is `size_text`, signed by `key` as the log would sign it."""
    text = f"{ORIGIN}\n{size_text}\n{b64encode(ROOTS[0])}\n"
    return f"{text}\n{signature_line(text, ORIGIN, key)}"


def make_witness(directory: Path) -> Witness:
    witness = Witness.create(directory, "ig.example.gov/witness")
    witness.add_log(VerifierKey(ORIGIN, public_bytes(LOG_KEY)))
    held = Checkpoint(ORIGIN, HELD_SIZE, ROOTS[0]).sign(LOG_KEY)
    assert witness.add_checkpoint(f"old 0\n\n{held}").status == 200
    return witness


def test_a_size_in_other_digits_is_malformed(tmp_path: Path) -> None:
    witness = make_witness(tmp_path / "witness")
    for size in ("²", "٣٨٨", "３", "5²", "۵", "𝟓", "1" * 20, "05", "-5", "+5", " 5"):
        for old in ("0", str(HELD_SIZE)):
            answer = witness.add_checkpoint(f"old {old}\n\n{note_with_size(size)}")
            assert answer.status == 400 and answer.body.startswith("not a checkpoint"), size
    for old in ("²", "٣", "５", "1" * 20):
        answer = witness.add_checkpoint(f"old {old}\n\n{note_with_size(str(HELD_SIZE))}")
        assert answer.status == 400, old
    assert witness.evidence() == []


def test_a_body_that_is_too_long_or_not_utf8_text_is_refused(tmp_path: Path) -> None:
    witness = make_witness(tmp_path / "witness")
    note = note_with_size(str(HELD_SIZE))
    padded = note + f"— pad.example/x {b64encode(bytes(MAX_BODY_BYTES))}\n"
    assert witness.add_checkpoint(f"old {HELD_SIZE}\n\n{padded}").status == 413
    assert witness.add_checkpoint(f"old {HELD_SIZE}\n\n{note}\ud800").status == 400
    assert witness.add_checkpoint(f"old {HELD_SIZE}\n\n{note}").status == 200


# -- any body ------------------------------------------------------------------------


def _signed(size: int, root: int, key: Ed25519PrivateKey = LOG_KEY) -> str:
    return Checkpoint(ORIGIN, size, ROOTS[root]).sign(key)


def _notes() -> list[str]:
    stranger = Ed25519PrivateKey.generate()
    return [
        *[_signed(HELD_SIZE, 0)] * 3,  # the one held
        _signed(HELD_SIZE, 1),  # a fork
        _signed(2, 2),  # smaller
        *[_signed(9, 1)] * 2,  # larger, no proof can join it
        _signed(2**63 - 1, 2),
        _signed(0, 0),
        _signed(HELD_SIZE, 0, stranger),  # not the log's key
        Checkpoint("elsewhere.example/log", 3, ROOTS[0]).sign(LOG_KEY),
        note_with_size("²"),
        note_with_size("٣٨٨"),
    ]


NOTES = _notes()
# Any character, lone surrogates (which no HTTP body decodes to) and the few that matter.
ANY_TEXT = st.text(
    st.one_of(
        st.characters(),
        st.characters(categories=["Cs"]),
        st.sampled_from(["\n", "\r", "—", " ", "²", "٣", "\u2028", "\x85", "+", "="]),
    ),
    max_size=80,
)
HASH_LINE = st.binary(min_size=32, max_size=32).map(b64encode)
ANY_LINE = st.one_of(HASH_LINE, st.binary(max_size=40).map(b64encode), ANY_TEXT)
SIZES = ["0", "2", str(HELD_SIZE), str(HELD_SIZE), str(HELD_SIZE), "9", str(2**63 - 1)]
ODD_SIZES = ["²", "٥", "05", "", "-1", "1" * 20, str(2**64)]


def often(draw: st.DrawFn, likely: st.SearchStrategy[str], odd: st.SearchStrategy[str]) -> str:
    """Mostly what a client of the protocol sends, sometimes anything: so that the
    examples reach every answer, not only the first refusal."""
    return draw(likely if draw(st.integers(0, 3)) else odd)


@st.composite
def mangled_note(draw: st.DrawFn) -> str:
    note = draw(st.sampled_from(NOTES))
    if not draw(st.integers(0, 3)):
        at = draw(st.integers(0, len(note)))
        cut = draw(st.integers(0, 8))
        note = note[:at] + draw(ANY_TEXT) + note[at + cut :]
    extra = draw(st.lists(st.one_of(ANY_TEXT, st.binary(max_size=80).map(b64encode)), max_size=3))
    return note + "".join(f"— {line}\n" for line in extra)


@st.composite
def request_body(draw: st.DrawFn) -> str:
    old = often(draw, st.sampled_from(SIZES), st.one_of(st.sampled_from(ODD_SIZES), ANY_TEXT))
    proof = often(
        draw,
        st.lists(HASH_LINE, max_size=8).map(lambda lines: "".join(f"{p}\n" for p in lines)),
        st.lists(ANY_LINE, max_size=66).map(lambda lines: "".join(f"{p}\n" for p in lines)),
    )
    blank = often(draw, st.just("\n"), st.sampled_from(["", "\n\n", "\r\n"]))
    return f"old {old}\n{proof}{blank}{draw(mangled_note())}"


@pytest.fixture(scope="module")
def any_witness(tmp_path_factory: pytest.TempPathFactory) -> Witness:
    return make_witness(tmp_path_factory.mktemp("requests") / "witness")


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(body=st.one_of(request_body(), ANY_TEXT, request_body(), st.text(max_size=2000)))
@example(body=f"old 0\n\n{ORIGIN}\n²\n{b64encode(ROOTS[0])}\n\n— {ORIGIN} AAAA\n")
@example(body=f"old 0\n\n\ud800\n1\n{b64encode(ROOTS[0])}\n\n— x AAAA\n")
def test_any_body_gets_an_answer_never_an_exception(any_witness: Witness, body: str) -> None:
    answer = any_witness.add_checkpoint(body)
    assert answer.status in ANSWERS, answer
    assert answer.body.endswith("\n")
    # What it holds is still the log's checkpoint at the size it cosigned.
    [log] = any_witness.logs()
    assert log.checkpoint == Checkpoint(ORIGIN, HELD_SIZE, ROOTS[0])
