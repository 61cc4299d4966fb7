"""The ledger application: eventsourcing wired to the signing mapper and the log.

Subclass it to add a domain. Every save must say who signs:
`app.save(aggregate, signer=Signer(key))`; the actor is the key's person or holder.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.persistence import EventStore, IntegrityError

from ledger import alongside
from ledger.catalogue import LEDGER_ONLY, Catalogue
from ledger.entry import EntryError, parse_signed_state, read_event
from ledger.errors import UserError
from ledger.guard import GuardedWrites, NoRules
from ledger.hashing import b64decode
from ledger.mapper import SigningEventStore
from ledger.note import VerifierKey
from ledger.registry import Ledger
from ledger.replay import LogReplay, altered
from ledger.signer_record import SignerRecord
from ledger.signing import Signer
from ledger.store import LogStore
from ledger.trust import KeyRecord, TrustError, TrustState

# Every key change saves the one Ledger aggregate, so writers changing keys at once
# conflict on its version. Each conflict means another change committed; this bounds
# how many may overtake one writer before it gives up.
KEY_CONFLICT_RETRIES = 50
# How long a starting writer waits for the checkpoint the signer recorded last to be
# stored (it is recorded, then stored, a moment apart) before calling it deleted.
CHECKPOINT_STORE_PATIENCE = 5
OPENINGS_KEPT = 50_000  # streams whose opening event a process keeps at hand
T = TypeVar("T")


class LedgerNotOpenError(UserError, RuntimeError):
    """The database holds no ledger yet (run `cmpp init`)."""

    rule = "ledger-not-open"


class LedgerExistsError(UserError, RuntimeError):
    """`cmpp init` on a database that already holds a ledger."""

    rule = "ledger-exists"


class LedgerBusyError(UserError, RuntimeError):
    """Other writers changed the keys every time this one tried; trying later works."""

    rule = "busy"


class LedgerApplication(Application[UUID]):
    name = "ledger"
    is_snapshotting_enabled = False

    def __init__(
        self, env: dict[str, str] | None = None, catalogue: Catalogue = LEDGER_ONLY
    ) -> None:
        super().__init__(env)
        self.catalogue = catalogue
        self.recorder.catalogue = catalogue  # type: ignore[attr-defined]
        self._opening: dict[str, Any] | None = None
        # Writers replay the log (ledger.replay) even without a domain's rules; a
        # subclass with rules replaces this guard with its own.
        self.recorder.ready_checks.append(self._check_anchors)  # type: ignore[attr-defined]
        self.recorder.set_guard(NoRules())  # type: ignore[attr-defined]
        # Where the log key's record of signed checkpoints is (ledger.signer_record), if
        # this writer can see it: then it also refuses a log shorter than that record.
        self.signer_record_path: Path | None = None
        self._openings: OrderedDict[UUID, dict[str, Any]] = OrderedDict()
        self._openings_lock = threading.Lock()

    def close(self) -> None:
        self.guarded.close()
        super().close()

    @property
    def guarded(self) -> GuardedWrites:
        return self.recorder.guarded  # type: ignore[attr-defined,no-any-return]

    def confirmed_log(self) -> LogReplay:
        """The log as its entries make it, up to the committed head, after checking that
        the stored head, the latest checkpoints and the signer's record agree with it
        (ledger.replay.AlteredLogError if not)."""
        return self.guarded.confirmed(self.store.head)

    def trusted_keys(self) -> list[KeyRecord]:
        """The key records as the log's own entries make them (never the keys table)."""
        return list(self.confirmed_log().trust.keys.values())

    def _check_anchors(self, replay: LogReplay) -> None:
        """What a writer checks once it first reaches the committed log: every stored
        checkpoint near the head, and the largest the log key signed (its record), must
        describe a prefix of the entries it replayed."""
        fetch = self.store.fetch_nodes
        path = self.signer_record_path
        record = SignerRecord(path, replay.origin or "") if path and path.exists() else None
        largest = record.largest() if record is not None else None
        near = self.store.checkpoints_near(replay.size)
        anchored = max([size for size, _ in near] + [largest.size if largest else 0])
        if anchored > replay.size:
            # The anchors were read after the entries, and only committed entries are ever
            # signed: others may have committed (and signed) since. Read the log again;
            # an anchor still beyond it then means entries were removed.
            self.guarded.catch_up()
        for size, note in near:
            replay.confirm_note(size, note, fetch, "a checkpoint in the database")
        if largest is not None:
            replay.confirm_checkpoint(
                largest.size, largest.root, fetch, "the checkpoint the log key signed last"
            )
            if not self._stored_soon(largest.size):
                raise replay.fail(
                    f"the checkpoint of size {largest.size} the log key signed is missing "
                    "from the database's checkpoints"
                )

    def _stored_soon(self, size: int) -> bool:
        """Whether the database holds the checkpoint of `size`, allowing for one being
        issued now: the signer records a checkpoint before it stores it (so that it never
        signs one unrecorded), and a writer starting between the two would otherwise take
        the moment for a deleted checkpoint."""
        deadline = time.monotonic() + CHECKPOINT_STORE_PATIENCE
        while True:
            if any(stored == size for stored, _ in self.store.checkpoints_near(size)):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def construct_event_store(self) -> EventStore[UUID]:
        return SigningEventStore(mapper=self.mapper, recorder=self.recorder)

    @property
    def store(self) -> LogStore:
        return cast(LogStore, self.recorder)

    # -- entry 0 and the keys ---------------------------------------------------------

    def open_ledger(
        self, *, origin: str, root: Signer, log_public: bytes, ledger_id: UUID | None = None
    ) -> UUID:
        if self.store.head().size:
            raise LedgerExistsError("this database already holds a ledger")
        ledger_id = ledger_id or uuid4()
        ledger = Ledger.open(ledger_id, origin, root.key.public_key, root.org, log_public)
        self.save(ledger, signer=root)
        return ledger.id

    @property
    def opening(self) -> dict[str, Any]:
        """The event of entry 0 (cached: it never changes)."""
        if self._opening is None:
            rows = self.store.read_rows(0, 1)
            if not rows or rows[0][0] != 0 or rows[0][2] is None:
                raise LedgerNotOpenError("no ledger here yet: run `cmpp init` first")
            # Read before any replay: bytes an operator wrote there are refused here, as
            # the replay would refuse them, rather than tripped on by whoever reads them.
            try:
                event, _sig = parse_signed_state(rows[0][2])
                TrustState(catalogue=self.catalogue).admit(0, event)
            except (EntryError, TrustError, KeyError, TypeError) as exc:
                raise altered(f"entry 0 is not the ledger's opening ({exc})") from None
            self._opening = event
        return self._opening

    @property
    def ledger_id(self) -> UUID:
        return UUID(self.opening["stream"])

    @property
    def origin(self) -> str:
        return str(self.opening["data"]["origin"])

    @property
    def log_verifier_key(self) -> VerifierKey:
        return VerifierKey(self.origin, b64decode(self.opening["data"]["log_key"]["public_key"]))

    def opening_event(self, stream_id: UUID) -> dict[str, Any] | None:
        """The event that opened a stream (None: no such stream, or an unreadable row,
        which the writers refuse with the whole log). Kept once read, the most recently
        asked first: a committed event never changes."""
        with self._openings_lock:
            event = self._openings.get(stream_id)
            if event is not None:
                self._openings.move_to_end(stream_id)
                return event
        stored = self.recorder.select_events(stream_id, lte=1)
        if not stored:
            return None
        try:
            event = read_event(stored[0].state)
        except EntryError:
            return None
        with self._openings_lock:
            self._openings[stream_id] = event
            if len(self._openings) > OPENINGS_KEPT:
                self._openings.popitem(last=False)
        return event

    def ledger(self) -> Ledger:
        return cast(Ledger, self.repository.get(self.ledger_id))

    def register_key(
        self,
        signer: Signer,
        public_key: bytes,
        holder: str,
        roles: list[str],
        person: str | None = None,
    ) -> str:
        """Register a signing key of `holder`; `person` names the one person holding it
        (every event it signs then has that person as its actor)."""
        return self._change_keys(
            signer,
            lambda ledger: ledger.register_key(
                public_key, holder, roles, self.catalogue.roles, person
            ),
        )

    def rotate_key(
        self, signer: Signer, old_key_id: str, new_public_key: bytes, reason: str
    ) -> str:
        """Replace a key: register its successor (same holder and roles) and revoke it,
        in one transaction, so the organisation is never without a key or with two."""
        return self._change_keys(
            signer,
            lambda ledger: ledger.rotate_key(
                old_key_id, new_public_key, reason, self.catalogue.roles
            ),
        )

    def revoke_key(self, signer: Signer, key_id: str, reason: str) -> None:
        self._change_keys(signer, lambda ledger: ledger.revoke_key(key_id, reason))

    def revoke_keys(self, signer: Signer, key_ids: list[str], reason: str) -> None:
        """Revoke several keys in one transaction (a person's, when they are suspended)."""

        def revoke_each(ledger: Ledger) -> None:
            for key_id in key_ids:
                ledger.revoke_key(key_id, reason)

        self._change_keys(signer, revoke_each)

    def _change_keys(self, signer: Signer, change: Callable[[Ledger], T]) -> T:
        """Apply `change` to the ledger's aggregate and save it. If another writer saved
        it first (a version conflict), load it again and apply the change again: the key
        rules are then checked against the keys as they now stand."""
        for _attempt in range(KEY_CONFLICT_RETRIES):
            ledger = self.ledger()
            result = change(ledger)
            try:
                self.save(ledger, signer=signer, alongside=alongside.statements())
            except IntegrityError:
                continue  # another key change committed first
            return result
        raise LedgerBusyError(
            f"other writers changed the keys first on each of {KEY_CONFLICT_RETRIES} tries; "
            "try again"
        )
