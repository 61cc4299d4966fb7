"""Every CMPP_* setting as one typed object that checks each value itself.

`load_settings()` reads the environment; a value that cannot work is a ConfigError
naming the variable, never echoing a secret. Outside demo mode (CMPP_DEMO) the demo's
well-known secrets are refused: a ledger must not be protected by a published key; nor
by a passphrase short enough to guess.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.coverage import DEFAULT_ENTRIES, DEFAULT_SECONDS
from ledger.errors import UserError
from ledger.note import NoteError, check_key_name
from ledger.persistence import ConfigError, persistence_env, without_password
from ledger.witness_client import parse_witnesses

# The demo's secrets (`make run`): published here, so refused anywhere but the demo.
DEMO_PASSPHRASE = "demo-only-not-secret"  # noqa: S105 (published on purpose)
DEMO_VAULT_KEY = base64.b64encode(b"cmpp-demo-vault-key-not-secret!!").decode()
MIN_PASSPHRASE_LENGTH = 12  # characters; scrypt slows each guess, it cannot widen the space


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CMPP_", extra="ignore", frozen=True)

    data_dir: Path = Path("var")  # the SQLite file (by default) and the key store
    database_url: str | None = None  # sqlite:///PATH or postgresql://USER@HOST:PORT/DB
    origin: str | None = None  # the log's name in checkpoints; default from the ledger id
    key_passphrase: SecretStr | None = None  # encrypts each private key file
    vault_key: SecretStr | None = None  # base64 of 32 bytes: wraps participants' data keys
    demo: bool = False  # allow the demo's published secrets (and fill them in if unset)
    postgres_pool_size: int = Field(default=5, ge=1, le=100)
    # The log key's record of every checkpoint it signed (ledger.signer_record): kept
    # outside the database, beside the log key unless set. It must survive the database.
    signer_record: Path | None = None
    # Writers issue a checkpoint once this many entries are uncovered, or this many
    # seconds after an uncovered write, and when they exit (ledger.coverage).
    checkpoint_every_entries: int = Field(default=DEFAULT_ENTRIES, ge=1, le=1_000_000)
    checkpoint_every_seconds: int = Field(default=DEFAULT_SECONDS, ge=1, le=86_400)
    # Witnesses asked to cosign each checkpoint: `<witness key>=<url or directory>`, by
    # commas or spaces (ledger.witness_client).
    witnesses: str | None = None
    # Set by throwaway_settings() only: a private attribute is read from no environment
    # variable and no constructor argument, so nothing but a test or a benchmark sets it.
    _throwaway: bool = PrivateAttr(default=False)

    @field_validator("*", mode="before")
    @classmethod
    def _utf8(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("is not UTF-8 text") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None:
            persistence_env(value, create=False)  # raises ConfigError, naming what is wrong
        return value

    @field_validator("origin")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_key_name(value)  # the origin is the log key's name in signed notes
            except NoteError:
                raise ValueError("a name with no spaces and no '+'") from None
        return value

    @field_validator("witnesses")
    @classmethod
    def _witnesses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_witnesses(value)
            except UserError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("vault_key")
    @classmethod
    def _vault_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                raw = base64.b64decode(value.get_secret_value(), validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError("32 bytes in standard base64")
        return value

    @model_validator(mode="before")
    @classmethod
    def _demo_secrets(cls, values: Any) -> Any:
        if isinstance(values, dict) and _is_true(values.get("demo")):
            values = {
                "key_passphrase": DEMO_PASSPHRASE,
                "vault_key": DEMO_VAULT_KEY,
                **{k: v for k, v in values.items() if v is not None},
            }
        return values

    @model_validator(mode="after")
    def _no_published_secret(self) -> Settings:
        if self.demo:
            return self
        if self.key_passphrase and self.key_passphrase.get_secret_value() == DEMO_PASSPHRASE:
            raise ValueError("CMPP_KEY_PASSPHRASE is the demo's published passphrase")
        if self.vault_key_bytes == base64.b64decode(DEMO_VAULT_KEY):  # however it is written
            raise ValueError("CMPP_VAULT_KEY is the demo's published key")
        return self

    @model_validator(mode="after")
    def _long_enough_passphrase(self) -> Settings:
        # Demo mode may keep any passphrase: its keys protect nothing real.
        if self.demo or self.key_passphrase is None:
            return self
        # Spaces at either end are easily typed and easily guessed: they don't count.
        if len(self.key_passphrase.get_secret_value().strip()) < MIN_PASSPHRASE_LENGTH:
            raise ValueError(
                f"CMPP_KEY_PASSPHRASE is too short: at least {MIN_PASSPHRASE_LENGTH} "
                "characters, not counting spaces at either end"
            )
        return self

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ledger.sqlite3'}"

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def signer_record_path(self) -> Path:
        return self.signer_record or self.key_dir / "signed-checkpoints.jsonl"

    @property
    def throwaway(self) -> bool:
        """A ledger of a test or a benchmark run (throwaway_settings): its key store may
        seal keys at a trivial KDF cost (KeyStore's insecure_fast_kdf)."""
        return self._throwaway

    @property
    def vault_key_bytes(self) -> bytes | None:
        if self.vault_key is None:
            return None
        return base64.b64decode(self.vault_key.get_secret_value())

    def describe_database(self) -> str:
        return without_password(self.url)


def _is_true(value: Any) -> bool:
    """Demo mode as pydantic reads a bool (1, true, yes, on…); anything else is not."""
    try:
        return value is not None and TypeAdapter(bool).validate_python(value)
    except ValidationError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and `overrides`); ConfigError if one cannot work."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = "_".join(str(part) for part in error["loc"])
            # The message only: pydantic's text would repeat the value, which may be secret.
            message = error["msg"].removeprefix("Value error, ")
            name = f"CMPP_{field.upper()}"
            problems.append(
                message if not field or message.startswith(name) else f"{name}: {message}"
            )
        raise ConfigError("; ".join(problems)) from None


def throwaway_settings(url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a ledger that lives as long as a test or a benchmark run: its own
    database and directory, a fresh random passphrase and vault key, nothing read from
    the caller's environment."""
    values: dict[str, Any] = {
        "database_url": url,
        "data_dir": data_dir,
        "key_passphrase": secrets.token_urlsafe(16),
        "vault_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        **overrides,
    }
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(str(exc)) from None
    settings._throwaway = True
    return settings
