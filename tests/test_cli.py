"""The `cmpp` command, run as a user runs it: exit codes, messages, and no secrets shown."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger import merkle
from ledger.note import Checkpoint, VerifierKey
from tests.cli_support import BUNDLE_TO_OIG
from tests.live_server import free_port

CMPP = str(Path(sys.executable).parent / "cmpp")
PASSPHRASE = "correct horse battery staple"


def cmpp(
    *args: str,
    cwd: Path,
    url: str | None = None,
    passphrase: str | None = PASSPHRASE,
    **settings: str,
) -> subprocess.CompletedProcess[str]:
    """Run `cmpp` with exactly these settings (CMPP_<NAME> for each of `settings`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMPP_")}
    env["CMPP_DATA_DIR"] = str(cwd / "var")
    if url:
        env["CMPP_DATABASE_URL"] = url
    if passphrase is not None:
        env["CMPP_KEY_PASSPHRASE"] = passphrase
    env.update({f"CMPP_{name.upper()}": value for name, value in settings.items()})
    return subprocess.run(
        [CMPP, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300
    )


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def test_init_prove_export_verify_round_trip(database_url: str, tmp_path: Path) -> None:
    url = None if database_url.startswith("sqlite") else database_url
    init = cmpp("init", "--json", cwd=tmp_path, url=url)
    assert init.returncode == 0, init.stderr
    info = json.loads(init.stdout)
    vkey = VerifierKey.parse(info["log_vkey"])
    assert vkey.name == info["origin"]

    again = cmpp("init", cwd=tmp_path, url=url)
    assert again.returncode == 2 and "already holds a ledger" in again.stderr
    _no_traceback(again)

    registered = cmpp(
        "keys",
        "register",
        "--holder",
        "org:cws",
        "--role",
        "fiscal_agent",
        "--json",
        cwd=tmp_path,
        url=url,
    )
    assert registered.returncode == 0, registered.stderr
    key_id = json.loads(registered.stdout)["key_id"]
    assert cmpp("keys", "revoke", key_id, "--reason", "test", cwd=tmp_path, url=url).returncode == 0
    keys = json.loads(cmpp("keys", "list", "--json", cwd=tmp_path, url=url).stdout)
    assert [k["revoked_seq"] for k in keys if k["key_id"] == key_id] == [2]

    note = cmpp("checkpoint", cwd=tmp_path, url=url).stdout
    checkpoint = Checkpoint.open(note, vkey)
    assert checkpoint.size == 3

    proof = json.loads(cmpp("prove", "inclusion", "1", cwd=tmp_path, url=url).stdout)
    merkle.verify_inclusion(
        1,
        proof["tree_size"],
        base64.b64decode(proof["leaf_hash"]),
        [base64.b64decode(p) for p in proof["proof"]],
        checkpoint.root,
    )
    cons = json.loads(cmpp("prove", "consistency", "1", "3", cwd=tmp_path, url=url).stdout)
    old = Checkpoint.open(cons["old_checkpoint"], vkey)
    merkle.verify_consistency(
        1, 3, old.root, checkpoint.root, [base64.b64decode(p) for p in cons["proof"]]
    )
    bad = cmpp("prove", "inclusion", "99", cwd=tmp_path, url=url)
    assert bad.returncode == 2 and "99" in bad.stderr
    _no_traceback(bad)

    exported = cmpp(
        *BUNDLE_TO_OIG,
        str(tmp_path / "bundle"),
        cwd=tmp_path,
        url=url,
    )
    assert exported.returncode == 0, exported.stderr
    verified = cmpp(
        "verify",
        "--bundle",
        str(tmp_path / "bundle"),
        "--trusted-key",
        info["log_vkey"],
        cwd=tmp_path,
        url=url,
        passphrase=None,
    )
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.strip().splitlines()[-1].startswith("VERIFIED 3 entries, root ")
    live = cmpp("verify", "--json", cwd=tmp_path, url=url, passphrase=None)
    assert live.returncode == 0 and json.loads(live.stdout)["verified"]

    exists = cmpp(
        *BUNDLE_TO_OIG,
        str(tmp_path / "bundle"),
        cwd=tmp_path,
        url=url,
    )
    assert exists.returncode == 2 and "already exists" in exists.stderr

    for result in (init, registered, exported, verified):
        assert PASSPHRASE not in result.stdout + result.stderr
        assert "PRIVATE KEY" not in result.stdout + result.stderr


def test_keys_are_encrypted_on_disk_and_need_the_passphrase(tmp_path: Path) -> None:
    assert cmpp("init", cwd=tmp_path).returncode == 0
    files = list((tmp_path / "var" / "keys").glob("*.json"))
    assert len(files) == 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        sealed = "sealed_private_key" in text or "BEGIN ENCRYPTED PRIVATE KEY" in text
        assert sealed and "BEGIN PRIVATE KEY" not in text and PASSPHRASE not in text

    missing = cmpp("checkpoint", cwd=tmp_path, passphrase=None)
    assert missing.returncode == 2 and "CMPP_KEY_PASSPHRASE" in missing.stderr
    wrong = cmpp("checkpoint", cwd=tmp_path, passphrase="a wrong guess at it")
    assert wrong.returncode == 2 and "cannot decrypt" in wrong.stderr
    for result in (missing, wrong):
        _no_traceback(result)


@pytest.mark.parametrize(
    ("args", "url", "message"),
    [
        (("checkpoint",), None, "cmpp init"),
        (("verify",), "mysql://x/y", "CMPP_DATABASE_URL"),
        (("prove", "consistency", "0", "1"), None, "0 < OLD <= NEW"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    tmp_path: Path, args: tuple[str, ...], url: str | None, message: str
) -> None:
    if args[0] == "prove":
        assert cmpp("init", cwd=tmp_path).returncode == 0
    result = cmpp(*args, cwd=tmp_path, url=url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    _no_traceback(result)


def test_run_initialises_once_with_the_demo_and_shows_the_checkpoint(tmp_path: Path) -> None:
    unconfigured = cmpp("run", "--participants", "5", cwd=tmp_path)
    assert unconfigured.returncode == 2 and "CMPP_VAULT_KEY" in unconfigured.stderr
    assert not (tmp_path / "var" / "keys").exists()  # nothing was started
    _no_traceback(unconfigured)

    vault_key = base64.b64encode(b"k" * 32).decode()
    first = _served_run(tmp_path, vault_key, "--participants", "5")
    second = _served_run(tmp_path, vault_key)
    assert (
        "initialised a new ledger" in first.stderr and "demo pilot: 5 participants" in first.stderr
    )
    assert "initialised" not in second.stderr
    assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]  # same verifier key


def _served_run(tmp_path: Path, vault_key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`cmpp run` as `make run` starts it: it serves the API and prints a token per demo
    person; one of them signs in; SIGTERM stops it cleanly (exit 0)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMPP_")}
    env |= {
        "CMPP_DATA_DIR": str(tmp_path / "var"),
        "CMPP_KEY_PASSPHRASE": PASSPHRASE,
        "CMPP_VAULT_KEY": vault_key,
        "PYTHONUNBUFFERED": "1",
    }
    server = subprocess.Popen(
        [CMPP, "run", "--port", str(port), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert server.stdout is not None
        for line in server.stdout:
            lines.append(line)
            if line.startswith("dashboard"):
                break
        assert f"http://127.0.0.1:{port}/docs" in "".join(lines), "".join(lines)
        assert f"http://127.0.0.1:{port}/ui/" in "".join(lines), "".join(lines)
        tokens = {
            words[0]: words[-1]
            for words in (line.split() for line in lines)
            if len(words) == 4 and words[-1].startswith("cmpp_")
        }
        assert {"board", "fiscal_agent", "grantee", "oversight", "inspector", "public"} <= set(
            tokens
        )
        me = _get_when_up(f"http://127.0.0.1:{port}/v1/me", tokens["fiscal_agent"])
        assert me["role"] == "fiscal_agent" and me["org"] == "org:cws"
        sign_in = httpx.get(f"http://127.0.0.1:{port}/ui/sign-in", timeout=10)
        assert sign_in.status_code == 200 and 'id="token"' in sign_in.text
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    return subprocess.CompletedProcess(server.args, 0, "".join(lines) + out, err)


def _get_when_up(url: str, token: str) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
            return answer.raise_for_status().json()  # type: ignore[no-any-return]
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_one_entry_is_proven_alone_with_a_tlog_proof(tmp_path: Path) -> None:
    info = json.loads(cmpp("init", "--json", cwd=tmp_path).stdout)
    cmpp("keys", "register", "--holder", "org:cws", "--role", "fiscal_agent", cwd=tmp_path)
    made = cmpp("prove", "entry", "1", str(tmp_path / "proof"), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    entry, proof = tmp_path / "proof" / "1.entry", tmp_path / "proof" / "1.tlog-proof"
    assert proof.read_text().startswith("c2sp.org/tlog-proof@v1\nindex 1\n")

    # Checked with nothing but the two files and the trusted key: no database, no passphrase.
    elsewhere = tmp_path / "auditor"
    elsewhere.mkdir()
    ok = cmpp(
        "verify-entry",
        str(entry),
        str(proof),
        "--trusted-key",
        info["log_vkey"],
        cwd=elsewhere,
        passphrase=None,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("VERIFIED entry")

    entry.write_bytes(entry.read_bytes().replace(b"org:cws", b"org:irc"))
    bad = cmpp(
        "verify-entry",
        str(entry),
        str(proof),
        "--trusted-key",
        info["log_vkey"],
        cwd=elsewhere,
        passphrase=None,
    )
    assert bad.returncode == 1 and bad.stdout.startswith("FAILED")
    _no_traceback(bad)
