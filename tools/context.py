"""One place where the command line is wired: settings, application, key store, log signer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from domain.application import CMPPApplication
from ledger.hashing import b64decode
from ledger.keystore import KeyStore
from ledger.settings import ConfigError, Settings
from ledger.signing import Signer
from ledger.transparency import LogSigner
from projections.balances import Balances, LogIndex
from projections.case_history import CaseHistory
from projections.db import ProjectionDB
from projections.oversight import Oversight
from projections.runner import Projection, Projector


@dataclass
class Context:
    settings: Settings
    actor: str

    @cached_property
    def app(self) -> CMPPApplication:
        return CMPPApplication(env=self.settings.persistence_env(), vault_key=self._vault_key())

    def _vault_key(self) -> bytes | None:
        configured = self.settings.vault_key
        if configured is None:
            return None
        try:
            key = b64decode(configured.get_secret_value())
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ConfigError("CMPP_VAULT_KEY must be 32 bytes in standard base64")
        return key

    @cached_property
    def keys(self) -> KeyStore:
        passphrase = self.settings.key_passphrase
        return KeyStore(
            self.settings.key_dir, passphrase.get_secret_value() if passphrase else None
        )

    @cached_property
    def log(self) -> LogSigner:
        opening = self.app.opening["data"]
        log_key = self.keys.load(opening["log_key"]["key_id"])
        return LogSigner(self.app.store, opening["origin"], log_key.private)

    @cached_property
    def projector(self) -> Projector:
        projections: list[Projection] = [Balances(), LogIndex(), CaseHistory(), Oversight()]
        return Projector(self.app.store, ProjectionDB(self.settings.url), projections)

    def root_signer(self) -> Signer:
        return Signer(self.actor, self.keys.load(self.app.opening["data"]["root_key"]["key_id"]))

    def close(self) -> None:
        if "projector" in self.__dict__:
            self.projector.db.close()
        if "app" in self.__dict__:
            self.app.close()
