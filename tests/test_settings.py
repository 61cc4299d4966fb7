"""Settings: each CMPP_* value checked by the one typed object, secrets never shown, the
demo's published secrets and short passphrases refused outside demo mode, and the
caller's own settings kept out of the tests."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.persistence import ConfigError
from projections.settings import (
    DEMO_PASSPHRASE,
    DEMO_VAULT_KEY,
    load_settings,
    throwaway_settings,
)
from projections.system import System
from tools.cli import app as cli

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("vault_key", "not base64!", "CMPP_VAULT_KEY: 32 bytes in standard base64"),
        ("vault_key", base64.b64encode(b"x" * 31).decode(), "CMPP_VAULT_KEY"),
        ("vault_key", base64.urlsafe_b64encode(b"\xff" * 32).decode(), "CMPP_VAULT_KEY"),
        ("database_url", "mysql://db", "CMPP_DATABASE_URL: must be sqlite"),
        ("database_url", "postgresql://host:5432/", "needs a database name"),
        ("origin", "two words", "CMPP_ORIGIN"),
        ("origin", "a+b", "CMPP_ORIGIN"),
        ("postgres_pool_size", "0", "CMPP_POSTGRES_POOL_SIZE"),
        ("demo", "maybe", "CMPP_DEMO"),
    ],
)
def test_a_value_that_cannot_work_is_refused_by_name(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(**{name: value})
    assert says in str(refused.value)
    if name == "vault_key":
        assert value not in str(refused.value)  # a secret is never repeated


def test_the_demos_published_secrets_work_only_in_demo_mode(tmp_path: Path) -> None:
    for secrets in ({"key_passphrase": DEMO_PASSPHRASE}, {"vault_key": DEMO_VAULT_KEY}):
        with pytest.raises(ConfigError, match="published"):
            load_settings(data_dir=tmp_path, **secrets)
    demo = load_settings(data_dir=tmp_path, demo="1")
    assert demo.key_passphrase is not None and demo.vault_key_bytes is not None
    own = load_settings(data_dir=tmp_path, demo="1", key_passphrase="mine", vault_key=KEY)
    assert own.key_passphrase is not None and own.key_passphrase.get_secret_value() == "mine"
    assert own.vault_key_bytes == bytes(range(32))


@pytest.mark.parametrize(
    "passphrase", ["", "x", "hunter2", "eleven char", "ünïcødé-1234"[:11], " " * 11 + "x"]
)
def test_a_passphrase_under_12_characters_is_refused_outside_demo_mode(passphrase: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(key_passphrase=passphrase)
    message = str(refused.value)
    assert message.startswith("CMPP_KEY_PASSPHRASE is too short: at least 12 characters")
    assert not passphrase.strip() or passphrase not in message
    demo = load_settings(key_passphrase=passphrase, demo="1")
    assert demo.key_passphrase is not None
    assert demo.key_passphrase.get_secret_value() == passphrase


def test_a_passphrase_of_12_characters_is_enough() -> None:
    for passphrase in ("twelve chars", "ünïcødé-1234"):  # characters, not bytes
        settings = load_settings(key_passphrase=passphrase)
        assert settings.key_passphrase is not None


def test_the_command_line_refuses_a_short_passphrase_without_showing_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["checkpoint"], env={"CMPP_DATA_DIR": str(tmp_path), "CMPP_KEY_PASSPHRASE": "s3cr3t"}
    )
    assert result.exit_code == 2
    assert "CMPP_KEY_PASSPHRASE" in result.output and "s3cr3t" not in result.output
    assert not (tmp_path / "keys").exists()


def test_only_throwaway_settings_mark_a_throwaway_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A throwaway ledger's keys may be sealed cheaply: no environment variable and no
    # setting a caller passes can make a real ledger one.
    for name in ("CMPP_THROWAWAY", "CMPP__THROWAWAY"):
        monkeypatch.setenv(name, "1")
    assert not load_settings().throwaway
    assert not load_settings(_throwaway=True).throwaway
    assert throwaway_settings(f"sqlite:///{tmp_path / 'db'}", tmp_path).throwaway


def test_the_command_line_names_the_setting_and_hides_its_value(tmp_path: Path) -> None:
    secret = base64.b64encode(b"s" * 31).decode()
    result = CliRunner().invoke(
        cli, ["checkpoint"], env={"CMPP_DATA_DIR": str(tmp_path), "CMPP_VAULT_KEY": secret}
    )
    assert result.exit_code == 2
    assert "CMPP_VAULT_KEY" in result.output and secret not in result.output
    assert "Traceback" not in result.output


def test_the_callers_own_settings_do_not_reach_the_tests() -> None:
    assert [name for name in os.environ if name.startswith("CMPP_")] == []


def test_the_demo_key_is_refused_however_it_is_written() -> None:
    # The same 32 bytes: the last base64 character carries two bits that decoding drops.
    same_bytes = DEMO_VAULT_KEY[:-2] + "F="
    assert base64.b64decode(same_bytes) == base64.b64decode(DEMO_VAULT_KEY)
    with pytest.raises(ConfigError, match="published"):
        load_settings(vault_key=same_bytes)


@pytest.mark.parametrize("on", ["on", "TRUE", "y", "1"])
def test_demo_mode_is_read_as_any_yes(on: str) -> None:
    assert load_settings(demo=on).vault_key_bytes is not None


def test_a_value_that_is_not_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="CMPP_ORIGIN: is not UTF-8"):
        load_settings(origin="ledger\udcff")


def test_a_database_url_error_never_shows_a_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(database_url="postgresql://u:top/secret@h/db")
    assert "top" not in str(refused.value) and "secret" not in str(refused.value)
    (tmp_path / "file").write_text("")
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'file' / 'x.db'}")
    with pytest.raises(ConfigError, match="cannot make the directory"):
        System(settings).app  # noqa: B018 (the database is made when first needed)
