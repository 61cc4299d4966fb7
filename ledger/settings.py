"""Configuration from the environment (CMPP_*), and what eventsourcing needs from it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.errors import UserError


class ConfigError(UserError, ValueError):
    """Configuration that cannot work; the message says which setting."""

    rule = "config"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CMPP_", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str | None = None
    origin: str | None = None
    key_passphrase: SecretStr | None = None
    vault_key: SecretStr | None = None  # base64 of 32 bytes: wraps each participant's data key
    postgres_pool_size: int = 5

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ledger.sqlite3'}"

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    def persistence_env(self) -> dict[str, str]:
        """The eventsourcing environment for this database URL."""
        return persistence_env(self.url, pool_size=self.postgres_pool_size)

    def describe_database(self) -> str:
        """The URL without any password, for messages."""
        parts = urlsplit(self.url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.url


def persistence_env(url: str, *, pool_size: int = 5) -> dict[str, str]:
    base = {"MAPPER_TOPIC": "ledger.mapper:SigningMapper", "IS_SNAPSHOTTING_ENABLED": "n"}
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise ConfigError("CMPP_DATABASE_URL: sqlite:/// needs a file path")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            **base,
            "PERSISTENCE_MODULE": "ledger.sqlite_store:LedgerSQLiteFactory",
            "SQLITE_DBNAME": path,
        }
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres"):
        dbname = parts.path.lstrip("/")
        if not dbname:
            raise ConfigError("CMPP_DATABASE_URL: a postgresql:// URL needs a database name")
        return {
            **base,
            "PERSISTENCE_MODULE": "ledger.postgres_store:LedgerPostgresFactory",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": "10",
        }
    raise ConfigError("CMPP_DATABASE_URL must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
