"""Which database holds the ledger, as eventsourcing's environment wants it told."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from ledger.errors import UserError

CONNECT_SECONDS = 3


class ConfigError(UserError, ValueError):
    """Configuration that cannot work; the message says which setting."""

    rule = "config"


def persistence_env(url: str, *, pool_size: int = 5) -> dict[str, str]:
    """The eventsourcing environment for a database URL (sqlite:///PATH or postgresql://…)."""
    base = {"MAPPER_TOPIC": "ledger.mapper:SigningMapper", "IS_SNAPSHOTTING_ENABLED": "n"}
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise ConfigError("CMPP_DATABASE_URL: sqlite:/// needs a file path")
        if path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"CMPP_DATABASE_URL: cannot make the directory {Path(path).parent}: "
                    f"{exc.strerror}"
                ) from None
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
        try:
            port = parts.port or 5432
        except ValueError:  # its message would repeat part of the URL, a password perhaps
            raise ConfigError(
                "CMPP_DATABASE_URL: the port is not a number (percent-encode any / # ? or @ "
                "in the user name or password)"
            ) from None
        return {
            **base,
            "PERSISTENCE_MODULE": "ledger.postgres_store:LedgerPostgresFactory",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(port),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": "10",
            # A connection that cannot be had in 3 s fails (with its cause, found by
            # the store's probe) rather than after the library's 30 s.
            "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_SECONDS),
        }
    raise ConfigError("CMPP_DATABASE_URL: must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB")


def without_password(url: str) -> str:
    """The URL with any password hidden, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
