"""The composition root: the whole ledger wired once, from settings.

The command line, the API, the tests and the benchmarks all build through `System`:
the application (with the program's rules and the vault), the key store, the log's
checkpoint signer, the projections and the reports over them. Each part is made when
first asked for, so a command that needs no database (verifying a bundle) opens none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from uuid import uuid4

from domain.application import CMPPApplication
from domain.verification import verify_log
from ledger.bundle import BundleError, BundleSource
from ledger.catalogue import BOARD, LOG_ROLE, is_identifier
from ledger.cosignature import WitnessKey
from ledger.coverage import AutoCheckpoints, CoveragePolicy
from ledger.errors import UserError
from ledger.keystore import KeyStore
from ledger.live import LiveSource
from ledger.note import Checkpoint, VerifierKey
from ledger.persistence import ConfigError, persistence_env
from ledger.registry import KeyRuleError, manages_keys
from ledger.replay import AlteredLogError
from ledger.report import Report
from ledger.signer_record import SignerRecord
from ledger.signing import Signer, SigningKey
from ledger.transparency import MAX_TREE_SIZE, LogSigner
from ledger.verify import Source
from ledger.witness_client import (
    Cosigned,
    CosignError,
    cosign,
    cosigned_note,
    parse_witnesses,
)
from projections import anchors
from projections.db import ProjectionDB
from projections.reports import Progress, Reports, no_progress
from projections.runner import Projector
from projections.scratch import every_projection
from projections.settings import Settings


class CheckpointNotIssuedError(UserError, RuntimeError):
    """A process's writes committed, but the checkpoint to cover them (or a witness's
    cosignature of it) could not be had; the message says which, and why."""

    rule = "checkpoint-not-issued"


@dataclass(frozen=True)
class LedgerCreated:
    origin: str
    ledger_id: str
    root_key_id: str
    log_vkey: str
    checkpoint: str
    database: str


class System:
    def __init__(
        self, settings: Settings, progress: Progress = no_progress, *, read_only: bool = False
    ) -> None:
        self.settings = settings
        self.progress = progress  # how long work is shown (the CLI's bars; nothing elsewhere)
        # Read-only: the SQLite file is opened so that nothing is written and no lock is
        # taken (verifying, proving, exporting work on a read-only or busy file).
        self.read_only = read_only
        self.coverage_errors: list[Exception] = []

    @cached_property
    def app(self) -> CMPPApplication:
        env = persistence_env(
            self.settings.url,
            pool_size=self.settings.postgres_pool_size,
            read_only=self.read_only,
        )
        app = CMPPApplication(env=env, vault_key=self.settings.vault_key_bytes)
        app.signer_record_path = self.settings.signer_record_path
        if not self.read_only:
            app.store.commit_hooks.append(self._committed)  # type: ignore[attr-defined]
        return app

    @cached_property
    def keys(self) -> KeyStore:
        passphrase = self.settings.key_passphrase
        return KeyStore(
            self.settings.key_dir,
            passphrase.get_secret_value() if passphrase else None,
            # Only a test's or a benchmark's throwaway ledger seals its keys cheaply.
            insecure_fast_kdf=self.settings.throwaway,
        )

    @cached_property
    def log(self) -> LogSigner:
        """The checkpoint signer: it remembers what it signed outside the database, and
        signs only the tree this process's replay of the entries makes."""
        opening = self.app.opening["data"]
        log_key = self.keys.load(opening["log_key"]["key_id"])
        return LogSigner(
            self.app.store,
            opening["origin"],
            log_key.private,
            record=SignerRecord(self.settings.signer_record_path, opening["origin"]),
            confirm=self.app.confirmed_log,
        )

    def signed_by_this_host(self) -> list[str]:
        """The largest checkpoint in the log key's record, where this machine keeps it:
        verifying the live log holds it as an auditor holds one (a database restored
        from an older copy, or cut, is then a rollback on the signer's own host too)."""
        path = self.settings.signer_record_path
        if not path.exists():
            return []
        try:
            origin = self.app.origin
        except AlteredLogError:
            return []  # entry 0 itself was altered: the verifier's checks say so
        largest = SignerRecord(path, origin).largest()
        return [] if largest is None else [largest.note]

    @property
    def coverage_policy(self) -> CoveragePolicy:
        """When writers issue checkpoints, and so how long the uncovered tail may grow."""
        return CoveragePolicy(
            self.settings.checkpoint_every_entries, self.settings.checkpoint_every_seconds
        )

    @cached_property
    def coverage(self) -> AutoCheckpoints:
        """Checkpoints issued as this process writes (ledger.coverage)."""
        policy = self.coverage_policy

        def sign() -> int:
            size = Checkpoint.parse_text(self.log.checkpoint().split("\n\n")[0] + "\n").size
            if self.settings.witnesses:
                # Cosigned as issued. A witness that refuses or cannot be reached is
                # reported, loudly, but the checkpoint stands: signing again would not help.
                refused = [r for r in self.cosign() if not r.ok]
                if refused:
                    self._coverage_failed(
                        CosignError(
                            "; ".join(f"the witness {r.witness}: {r.problem}" for r in refused)
                        )
                    )
            return size

        def covered() -> int:
            issued = self.app.store.checkpoints_near(MAX_TREE_SIZE)
            return max((size for size, _ in issued), default=0)

        return AutoCheckpoints(sign, covered, policy, self._coverage_failed)

    def _committed(self, size: int) -> None:
        # Entry 0 is covered by create_ledger, whose key files are not yet in place.
        if size > 1 and self.holds_log_key():
            self.coverage.committed(size)

    def holds_log_key(self) -> bool:
        """Whether this process holds the log key (a writer elsewhere leaves signing to
        the host that does)."""
        if "_signs" not in self.__dict__:
            key_id = self.app.opening["data"]["log_key"]["key_id"]
            self.__dict__["_signs"] = any(r["key_id"] == key_id for r in self.keys.list())
        return bool(self.__dict__["_signs"])

    def _coverage_failed(self, error: Exception) -> None:
        # Loud, but the writes it follows have committed: the failure is kept and raised
        # when the process closes (exit 2 from the command line).
        self.coverage_errors.append(error)
        logging.getLogger("cmpp").warning("no checkpoint issued: %s", error)

    @cached_property
    def projector(self) -> Projector:
        if self.read_only:
            # Projections are kept in the database they follow: keeping them writes.
            raise ConfigError("the projections need a database they may write to")
        return Projector(self.app.store, ProjectionDB(self.settings.url), every_projection())

    @cached_property
    def reports(self) -> Reports:
        return Reports(
            self.projector, self.progress, anchors.covering_in(self.app.store.checkpoints_near)
        )

    # -- the ledger itself ----------------------------------------------------------------

    def create_ledger(self, board_org: str = "org:board") -> LedgerCreated:
        """A new ledger: its root and log keys (kept in the key store), entry 0 and the
        first checkpoint."""
        if not (board_org.startswith("org:") and len(board_org) > 4 and is_identifier(board_org)):
            raise KeyRuleError(
                f"the board's organisation id looks like org:name, not {board_org!r}"
            )
        ledger_id = uuid4()
        origin = self.settings.origin or f"cmpp.example.gov/ledger/{ledger_id.hex}"
        root = SigningKey.generate(board_org, (BOARD,))
        log_key = SigningKey.generate(board_org, (LOG_ROLE,))
        # The key files are kept only if entry 0 commits (a failed init leaves none).
        with (
            self.keys.staged(root, "root key (board)"),
            self.keys.staged(log_key, "log key (checkpoints)"),
        ):
            self.app.open_ledger(
                origin=origin,
                root=Signer(root),
                log_public=log_key.public_key,
                ledger_id=ledger_id,
            )
        return LedgerCreated(
            origin=origin,
            ledger_id=str(ledger_id),
            root_key_id=root.key_id,
            log_vkey=str(self.app.log_verifier_key),
            checkpoint=self.log.checkpoint(),
            database=self.settings.describe_database(),
        )

    def root_signer(self) -> Signer:
        """A key in force that manages keys (entry 0's root key until it is rotated),
        from the key store."""
        first = self.app.opening["data"]["root_key"]["key_id"]
        in_force = [k for k in self.app.trusted_keys() if k.revoked_seq is None]
        managers = sorted(
            (k.key_id != first, k.registered_seq, k.key_id)
            for k in in_force
            if manages_keys(k.roles)
        )
        stored = {str(record["key_id"]) for record in self.keys.list()}
        for _later, _seq, key_id in managers:
            if key_id in stored:
                return Signer(self.keys.load(key_id))
        raise KeyRuleError("no key in force that may manage keys is in this key store")

    def signer(self, holder: str, role: str) -> Signer:
        """A key in force of `holder` with `role` from the key store."""
        in_force = {k.key_id for k in self.app.trusted_keys() if k.revoked_seq is None}
        for record in self.keys.list():
            key_id, roles = str(record["key_id"]), record["roles"]
            held = isinstance(roles, list) and role in roles
            if record["holder"] == holder and held and key_id in in_force:
                return Signer(self.keys.load(key_id))
        raise KeyRuleError(f"no key in force of {holder} with the role {role} in the key store")

    def verify(
        self,
        bundle: Path | None = None,
        *,
        trusted_key: VerifierKey | None = None,
        trusted_root_key: str | None = None,
        jobs: int | None = None,
        held_checkpoints: Sequence[str] = (),
        witness_keys: Sequence[WitnessKey] = (),
    ) -> Report:
        """Checks 1 to 9 over a bundle, or (without one) over the live database."""
        source: Source
        if bundle is not None:
            if not bundle.is_dir():
                raise BundleError(f"{bundle} is not a directory")
            source = BundleSource(bundle)
        else:
            source = LiveSource(self.app.store)
            held_checkpoints = [*held_checkpoints, *self.signed_by_this_host()]
            if witness_keys and source.latest_checkpoint is not None:
                # The witnesses' cosignatures are kept beside the checkpoint they sign; only
                # those that verify with the keys given are added (the rows are not trusted).
                source.latest_checkpoint = cosigned_note(
                    self.app.store, source.latest_checkpoint, witness_keys
                )
        with self.progress("verifying", source.size_hint or None) as advance:
            return verify_log(
                source,
                trusted_log_key=trusted_key,
                trusted_root_key_id=trusted_root_key,
                jobs=jobs,
                progress=advance,
                held_checkpoints=held_checkpoints,
                witness_keys=witness_keys,
            )

    def cosign(self) -> list[Cosigned]:
        """Ask each configured witness (CMPP_WITNESSES) to cosign the latest checkpoint,
        issuing it if the log grew; keep each cosignature. One result per witness."""
        return cosign(self.log, parse_witnesses(self.settings.witnesses or ""))

    def close(self) -> None:
        """Cover this process's writes with a checkpoint, then let go of the databases.
        A checkpoint that could not be issued is raised here, after closing."""
        try:
            if "coverage" in self.__dict__:
                self.coverage.close()
        finally:
            self._close_databases()
        if self.coverage_errors:
            error = self.coverage_errors[0]
            self.coverage_errors.clear()
            if isinstance(error, CosignError):
                said = f"recorded and covered by a checkpoint, but {error}"
            else:
                said = f"recorded, but no checkpoint was issued to cover it: {error}"
            raise CheckpointNotIssuedError(f"what this command wrote was {said}") from error

    def _close_databases(self) -> None:
        if "projector" in self.__dict__:
            self.projector.db.close()
        if "app" in self.__dict__:
            self.app.close()

    def __enter__(self) -> System:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
