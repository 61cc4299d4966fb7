"""The tamper suite (issue 10): what a malicious database administrator can do, on both
backends, and who catches each: a writer (it refuses to write), the signer (it refuses
to sign), `verify`, `verify` with a checkpoint the auditor holds, `prove` (it refuses
to hand out a proof), a witness (it refuses to cosign), `projections check`.

Each kind is tried on a ledger that was written, checkpointed and cosigned by a witness;
every catcher is then asked in turn, as a new process would. A test fails if one of the
kind's expected catchers misses it; every catch is written to `tamper-matrix.md` in the
test run's base temporary directory (the matrix reported in the issue's note).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import transparency
from ledger.errors import UserError
from ledger.note import Checkpoint
from ledger.report import Check
from ledger.signing import Signer, SigningKey
from ledger.transparency import LogSigner, StoredTreeError
from ledger.witness import Witness
from ledger.witness_client import WitnessAddress, cosign
from projections.check import check_projections
from projections.db import ProjectionDB
from projections.system import System
from tests import tampering
from tests.helpers import RawDatabase
from tests.pilot import Pilot, fund, open_pilot

CATCHERS = ("writer", "signer", "verify", "verify --checkpoint", "prove", "witness",
            "projections check")  # fmt: skip
MATRIX: dict[tuple[str, str], set[str]] = {}
WITNESS = "ig.example.gov/witness"


@dataclass
class Scene:
    pilot: Pilot
    url: str
    witness: Witness
    witnesses: list[WitnessAddress]
    held: str  # the latest checkpoint, as an auditor fetched it
    award: str

    @property
    def raw(self) -> RawDatabase:
        return RawDatabase(self.url)

    def system(self, *, read_only: bool = False) -> System:
        return System(self.pilot.system.settings, read_only=read_only)


def _scene(url: str, tmp_path: Path, before_last: Callable[[Scene], None] | None = None) -> Scene:
    pilot = open_pilot(url)
    witness = Witness.create(tmp_path / "witness", WITNESS)
    witness.add_log(pilot.log.verifier)
    award = fund(pilot)
    scene = Scene(pilot, url, witness, [WitnessAddress(witness.key, str(witness.directory))], "",
                  award)  # fmt: skip
    pilot.pay(award, "D-1", 4_000_00, "2022-10-15")
    for _ in range(3):
        pilot.enrol()
    assert all(c.ok for c in cosign(pilot.log, scene.witnesses))
    if before_last is not None:
        before_last(scene)
    pilot.pay(award, "D-2", 1_000_00, "2022-11-15")
    pilot.enrol()
    pilot.system.reports.balances()  # the projections, kept in the database
    assert all(c.ok for c in cosign(pilot.log, scene.witnesses))
    scene.held = pilot.log.checkpoint()
    pilot.system.close()
    return scene


# -- the catchers, each as a new process would ask --------------------------------------


def _refuses(action: Callable[[], object]) -> bool:
    try:
        action()
    except UserError:
        return True
    return False


def writer_refuses(scene: Scene, signer: Signer | None = None) -> bool:
    system = scene.system()
    try:
        return _refuses(lambda: replace(scene.pilot, system=system).enrol(signer=signer))
    finally:
        _refuses(system.close)


def signer_refuses(scene: Scene) -> bool:
    system = scene.system()
    try:
        return _refuses(system.log.checkpoint)
    finally:
        _refuses(system.close)


def verify_fails(scene: Scene) -> bool:
    with scene.system(read_only=True) as system:
        return not system.verify().ok


def verify_with_held_fails(scene: Scene) -> bool:
    with scene.system(read_only=True) as system:
        report = system.verify(held_checkpoints=[scene.held])
    return any(
        f.message.startswith(("rollback", "fork"))
        for f in report.findings[Check.EARLIER_CHECKPOINTS]
    )


def _bare_signer(scene: Scene) -> LogSigner:
    """The log key alone, without its record or a replay: what an operator who restored
    the signer's disk too, or who runs an old release, would sign with."""
    system = scene.system()
    opening = system.app.opening["data"]
    key = system.keys.load(opening["log_key"]["key_id"]).private
    return LogSigner(system.app.store, opening["origin"], key)


def prove_refuses(scene: Scene) -> bool:
    signer = _bare_signer(scene)
    issued = signer.store.checkpoints()
    size = Checkpoint.parse_text(issued[-1][1].split("\n\n")[0] + "\n").size
    try:
        for index in range(size):
            transparency.inclusion(signer, index, size)
    except StoredTreeError:
        return True
    except UserError:
        return False
    return False


def witness_refuses(scene: Scene, record: Path) -> bool:
    """Whether the witness refuses what the ledger would show it if the signer had lost
    its memory too (the whole host restored, its record with it): the log grows, if a
    writer lets it, and its new checkpoint is sent to the witness. Only the witness's
    own refusal counts, not the ledger's failing to ask."""
    settings = scene.pilot.system.settings.model_copy(update={"signer_record": record})
    system = System(settings)
    try:
        _refuses(lambda: replace(scene.pilot, system=system).enrol())
        opening = system.app.opening["data"]
        key = system.keys.load(opening["log_key"]["key_id"]).private
        forgetful = LogSigner(
            system.app.store, opening["origin"], key, confirm=system.app.confirmed_log
        )
        results = cosign(forgetful, scene.witnesses)
    except UserError:
        return False  # nothing was shown to the witness
    finally:
        _refuses(system.close)
    return any(r.problem and f"the witness {WITNESS}" in r.problem for r in results)


def projections_check_fails(scene: Scene) -> bool:
    system = scene.system()
    try:
        return not check_projections(system.app.store, ProjectionDB(scene.url)).ok
    finally:
        _refuses(system.close)


# -- the kinds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    name: str
    expected: frozenset[str]
    tamper: Callable[[Scene], object]
    before_last: Callable[[Scene], None] | None = None
    writer_signer: Callable[[Scene], Signer | None] = lambda scene: None


def _take_backup(scene: Scene) -> None:
    scene.__dict__["backup"] = tampering.Backup(scene.url, scene.witness.directory.parent)


def _flip_entry(scene: Scene) -> None:
    seq = int(scene.raw.execute("SELECT size FROM ledger_head")[0][0]) - 3
    state = scene.raw.state(seq)
    scene.raw.set_state(seq, state.replace(b'"at":"20', b'"at":"19', 1))


def _edit_head(scene: Scene) -> None:
    frontier = bytes(scene.raw.execute("SELECT frontier FROM ledger_head")[0][0])
    edited = bytes([frontier[0] ^ 1]) + frontier[1:]
    scene.raw.execute("UPDATE ledger_head SET frontier = ?", (edited,))


def _revoked_grantee(scene: Scene) -> Signer:
    signer = Signer(SigningKey.generate("org:irc", ("grantee",)))
    system = scene.system()
    system.app.register_key(scene.pilot.board, signer.key.public_key, "org:irc", ["grantee"])
    system.app.revoke_key(scene.pilot.board, signer.key.key_id, "left")
    system.close()
    tampering.unrevoke(scene.raw, signer.key.key_id)
    return signer


def _rogue_grantee(scene: Scene) -> Signer:
    signer = Signer(SigningKey.generate("org:irc", ("grantee",)))
    tampering.rogue_key(scene.raw, signer.key, "org:irc", ["grantee"])
    return signer


def _edit_projection(scene: Scene) -> None:
    scene.raw.execute("UPDATE bal_disbursements SET amount_cents = amount_cents + 72200000")


def _backdate(scene: Scene) -> None:
    """An entry whose instant is years before the previous one's: written by the
    operator's own writer, which checks no clock, with a stolen board key."""
    system = scene.system()
    monkey = pytest.MonkeyPatch()
    from ledger.appender import InstantBounds

    monkey.setattr(InstantBounds, "around_now", classmethod(lambda cls: cls("0", "9")))
    try:
        from domain.organisations import Organisation

        aggregate = Organisation.open(
            {"org_id": "org:earlier", "name": "E", "kind": "grantee", "uei": None}
        )
        for event in aggregate.pending_events:
            object.__setattr__(event, "timestamp", datetime(2022, 1, 1, tzinfo=UTC))
        system.app.save(aggregate, signer=scene.pilot.board)
        system.log.checkpoint()
    finally:
        monkey.undo()
        _refuses(system.close)


WRITE_SIGN_HELD_WITNESS = frozenset({"writer", "signer", "verify --checkpoint", "witness"})
KINDS = [
    Kind("rollback (backup restored)", WRITE_SIGN_HELD_WITNESS,
         lambda s: s.__dict__["backup"].restore(), before_last=_take_backup),
    Kind("tail truncated with its checkpoints", WRITE_SIGN_HELD_WITNESS,
         lambda s: tampering.truncate(s.raw, _size(s) - 2, with_checkpoints=True)),
    Kind("tail truncated, checkpoints left", frozenset({"writer", "signer", "verify",
         "verify --checkpoint"}),
         lambda s: tampering.truncate(s.raw, _size(s) - 2, with_checkpoints=False)),
    Kind("latest checkpoint deleted", frozenset({"writer"}),
         lambda s: tampering.delete_latest_checkpoint(s.raw)),
    Kind("tail re-chained with a stolen key", WRITE_SIGN_HELD_WITNESS,
         lambda s: tampering.rechain_last(s.raw, s.pilot.irc.key)),
    Kind("rogue key inserted in ledger_keys", frozenset({"writer"}), lambda s: None,
         writer_signer=_rogue_grantee),
    Kind("revoked key un-revoked in ledger_keys", frozenset({"writer"}), lambda s: None,
         writer_signer=_revoked_grantee),
    Kind("stored Merkle node corrupted", frozenset({"verify", "prove"}),
         lambda s: tampering.corrupt_node(s.raw, 1)),
    Kind("stored leaf hash corrupted", frozenset({"verify", "prove"}),
         lambda s: tampering.corrupt_leaf_hash(s.raw, 2)),
    Kind("entry content edited", frozenset({"writer", "signer", "verify"}), _flip_entry),
    Kind("stored head's Merkle edge edited", frozenset({"writer", "signer", "verify"}),
         _edit_head),
    Kind("backdated entry (stolen board key, own writer)", frozenset({"verify"}), _backdate),
    Kind("projection row edited", frozenset({"projections check"}), _edit_projection),
]  # fmt: skip


def _size(scene: Scene) -> int:
    return int(scene.raw.execute("SELECT size FROM ledger_head")[0][0])


@pytest.fixture(scope="module", autouse=True)
def matrix_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    if not MATRIX:
        return
    backends = sorted({backend for _kind, backend in MATRIX})
    lines = ["| kind | " + " | ".join(backends) + " |", "|---" * (len(backends) + 1) + "|"]
    for kind in KINDS:
        cells = [", ".join(sorted(MATRIX.get((kind.name, b), {"(not run)"}))) for b in backends]
        lines.append(f"| {kind.name} | " + " | ".join(cells) + " |")
    path = tmp_path_factory.getbasetemp() / "tamper-matrix.md"
    path.write_text("\n".join(lines) + "\n")
    (path.with_suffix(".json")).write_text(
        json.dumps({f"{k} [{b}]": sorted(v) for (k, b), v in MATRIX.items()}, indent=1)
    )


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_each_kind_of_tampering_is_caught(database_url: str, tmp_path: Path, kind: Kind) -> None:
    scene = _scene(database_url, tmp_path, kind.before_last)
    signer = kind.writer_signer(scene)
    kind.tamper(scene)
    caught = set()
    # Read-only catchers first, then those that write (a refused write changes nothing).
    if verify_fails(scene):
        caught.add("verify")
    if verify_with_held_fails(scene):
        caught.add("verify --checkpoint")
    if prove_refuses(scene):
        caught.add("prove")
    if projections_check_fails(scene):
        caught.add("projections check")
    if signer_refuses(scene):
        caught.add("signer")
    if writer_refuses(scene, signer):
        caught.add("writer")
    if witness_refuses(scene, tmp_path / "lost-record.jsonl"):  # last: it writes
        caught.add("witness")
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    MATRIX[(kind.name, backend)] = caught
    missed = kind.expected - caught
    assert not missed, f"{kind.name}: not caught by {sorted(missed)} (caught by {sorted(caught)})"


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_writer_never_writes_onto_a_log_with_a_flipped_byte(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """The issue's random byte-flips: a writer wrote onto a log that fails verification in
    2 of 10. Now it refuses, or the flip left a log that still verifies."""
    folder = tmp_path_factory.mktemp("flip")
    url = database_url if database_url.startswith("postgresql") else f"sqlite:///{folder / 'l.db'}"
    if url.startswith("postgresql"):
        RawDatabase(url).execute("DROP TABLE IF EXISTS ledger_log CASCADE")
        for table in RawDatabase(url).execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ):
            RawDatabase(url).execute(f'DROP TABLE IF EXISTS "{table[0]}" CASCADE')
    pilot = open_pilot(url)
    fund(pilot)
    pilot.enrol()
    pilot.system.close()
    raw = RawDatabase(url)
    seq = data.draw(st.integers(0, _size_of(raw) - 1), label="entry")
    state = raw.state(seq)
    at = data.draw(st.integers(0, len(state) - 1), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    raw.set_state(seq, state[:at] + bytes([state[at] ^ (1 << bit)]) + state[at + 1 :])
    system = System(pilot.system.settings)
    wrote = not _refuses(lambda: replace(pilot, system=system).enrol())
    _refuses(system.close)
    if wrote:
        with System(pilot.system.settings, read_only=True) as reader:
            assert reader.verify().ok, f"wrote onto a log whose entry {seq} was altered"


def _size_of(raw: RawDatabase) -> int:
    return int(raw.execute("SELECT size FROM ledger_head")[0][0])
