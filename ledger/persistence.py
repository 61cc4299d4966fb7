"""Which database holds the ledger, as eventsourcing's environment wants it told."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ledger.errors import UserError

CONNECT_SECONDS = 2


class ConfigError(UserError, ValueError):
    """Configuration that cannot work; the message says which setting."""

    rule = "config"


def persistence_env(
    url: str, *, pool_size: int = 5, read_only: bool = False, create: bool = True
) -> dict[str, str]:
    """The eventsourcing environment for a database URL (sqlite:///PATH or postgresql://…).

    `read_only` opens an SQLite file so that nothing can be written (nor a lock taken):
    what verifying, proving and exporting need, on a file that may be read-only or
    busy with a writer. Otherwise, with `create`, a missing SQLite file is created
    private to its owner; without it (checking a setting) nothing on disk changes."""
    base = {"MAPPER_TOPIC": "ledger.mapper:SigningMapper", "IS_SNAPSHOTTING_ENABLED": "n"}
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise ConfigError("CMPP_DATABASE_URL: sqlite:/// needs a file path")
        env = {**base, "PERSISTENCE_MODULE": "ledger.sqlite_store:LedgerSQLiteFactory"}
        if path == ":memory:":
            return {**env, "SQLITE_DBNAME": path}
        if read_only:
            if not Path(path).is_file():
                raise ConfigError(f"CMPP_DATABASE_URL: there is no database file {path}")
            uri = f"{Path(path).resolve().as_uri()}?mode=ro"
            return {**env, "SQLITE_DBNAME": uri, "CREATE_TABLE": "n"}
        if create:
            _private_file(Path(path))
        return {**env, "SQLITE_DBNAME": path}
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
            # A connection that cannot be had in 2 s fails (with its cause, found by
            # the store's probe) rather than after the library's 30 s.
            "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_SECONDS),
        }
    raise ConfigError("CMPP_DATABASE_URL: must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB")


def _private_file(path: Path) -> None:
    """Create the database file (and its directory) readable by its owner only, before
    SQLite does with the umask's mode; SQLite gives its -wal and -shm files the same."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(
            f"CMPP_DATABASE_URL: cannot make the directory {path.parent}: {exc.strerror}"
        ) from None
    try:
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise ConfigError(f"CMPP_DATABASE_URL: cannot create {path}: {exc.strerror}") from None


def without_password(url: str) -> str:
    """The URL with any password hidden, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
