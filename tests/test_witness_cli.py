"""`cmpp witness` and the ledger's commands with witnesses (issue 10): the ledger has its
checkpoints cosigned over HTTP by `cmpp witness serve`, prints and exports them with their
cosignatures, and `cmpp verify --witness-key` requires them."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ledger.cosignature import WitnessKey, cosignatures_by
from ledger.witness import SIZE_TYPE, Witness
from ledger.witness_client import CosignError, WitnessAddress, cosign, parse_witnesses, redact
from tests.cli_support import BUNDLE_TO_OIG, cli_env, fast_settings
from tests.helpers import open_ledger
from tools import console
from tools.cli import app
from tools.witness_commands import make_server

CMPP = str(Path(sys.executable).parent / "cmpp")
# A server that never answers must fail its test, not hold the suite for its whole timeout.
pytestmark = pytest.mark.timeout(180)


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


@contextmanager
def serving(directory: Path) -> Iterator[str]:
    """`cmpp witness serve DIR`'s server, in a thread, on a free port; its URL."""
    server, listening = make_server(Witness(directory), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def post(url: str, body: bytes) -> tuple[int, str, str]:
    request = urllib.request.Request(f"{url}/add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def check7(result: Result) -> list[str]:
    checks = json.loads(result.stdout)["checks"]
    return [f["message"] for f in next(c for c in checks if c["number"] == 7)["findings"]]


def test_the_ledger_is_cosigned_over_http_and_verified_with_the_witness_key(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "load_settings", fast_settings)
    env = cli_env(database_url, tmp_path / "var")
    made = invoke(env, "init", "--json")
    assert made.exit_code == 0, made.output
    log_vkey = json.loads(made.stdout)["log_vkey"]
    directory = str(tmp_path / "witness")
    started = invoke(env, "witness", "init", directory, "--name", "ig.example.gov/w", "--json")
    assert started.exit_code == 0, started.output
    wkey = json.loads(started.stdout)["key"]
    assert invoke(env, "witness", "add-log", directory, "--log-key", log_vkey).exit_code == 0
    register = ("keys", "register", "--holder", "org:cws", "--role", "grantee")

    with serving(tmp_path / "witness") as url:
        cosigning = {**env, "CMPP_WITNESSES": f"{wkey}={url}"}
        sizes = []
        for _ in range(3):
            assert invoke(cosigning, *register).exit_code == 0
            shown = invoke(cosigning, "checkpoint", "--json")
            assert shown.exit_code == 0, shown.output
            answer = json.loads(shown.stdout)
            [asked] = answer["witnesses"]
            assert asked["cosigned"] and asked["problem"] is None
            assert cosignatures_by(answer["checkpoint"], WitnessKey.parse(wkey))
            sizes.append(asked["size"])
        assert sizes == sorted(set(sizes))
        text = invoke(cosigning, "checkpoint")
        assert text.exit_code == 0
        assert text.stdout.splitlines()[-1].startswith("— ig.example.gov/w ")
        status, content_type, body = post(url, b"old 1\n\n" + answer["checkpoint"].encode())
        assert (status, content_type, body) == (409, SIZE_TYPE, f"{sizes[-1]}\n")
        assert post(url, b"\xff")[0] == 400

    shown = json.loads(invoke(env, "witness", "show", directory, "--json").stdout)
    assert shown["logs"][0]["size"] == sizes[-1] and shown["evidence"] == 0
    verified = invoke(env, "verify", "--witness-key", wkey, "--json")
    assert verified.exit_code == 0, verified.output
    other = invoke(env, "witness", "init", str(tmp_path / "other"), "--name", "x.example/w")
    never_asked = other.stdout.strip()
    both = ("--witness-key", wkey, "--witness-key", never_asked)
    unverified = invoke(env, "verify", *both, "--json")
    assert unverified.exit_code == 1
    named = f"witness {WitnessKey.parse(never_asked).short}"
    assert [m.split(":")[0] for m in check7(unverified)] == [named]
    bad = invoke(env, "verify", "--witness-key", wkey[:-3] + "AAA")
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1

    # A bundle carries the cosignatures in checkpoint.txt, listed in its manifest: those
    # that verify with the configured witnesses' keys (CMPP_WITNESSES; none without).
    to_oig = BUNDLE_TO_OIG
    exported = invoke(cosigning, *to_oig, str(tmp_path / "bundle"))
    _recorded_but_not_cosigned(exported)
    bundled = ("verify", "--bundle", str(tmp_path / "bundle"), "--witness-key", wkey, "--json")
    assert invoke(env, *bundled).exit_code == 0
    assert (
        invoke(
            env,
            *BUNDLE_TO_OIG,
            str(tmp_path / "bare"),
        ).exit_code
        == 0
    )
    assert "— ig.example.gov/w " not in (tmp_path / "bare" / "checkpoint.txt").read_text()
    assert invoke(env, *register).exit_code == 0  # a checkpoint nobody cosigned yet
    _recorded_but_not_cosigned(invoke(cosigning, *to_oig, str(tmp_path / "later")))
    later = invoke(env, *bundled[:2], str(tmp_path / "later"), *bundled[3:])
    assert later.exit_code == 1
    [finding] = check7(later)
    assert "ig.example.gov/w" in finding and "no cosignature" in finding


def _recorded_but_not_cosigned(exported: Result) -> None:
    """An export is recorded in the log before it appears, and a write asks the witness
    to cosign: the witness is gone by now, which the command says (exit 2) after the
    bundle was written and recorded."""
    assert exported.exit_code == 2, exported.output
    assert "recorded as entry" in exported.stdout
    assert "cannot reach the witness" in exported.stderr


def test_a_witness_that_does_not_cosign_is_named_and_the_note_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "load_settings", fast_settings)
    env = cli_env(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "var")
    assert invoke(env, "init").exit_code == 0
    stranger = Witness.create(tmp_path / "witness", "ig.example.gov/w")  # not told of this log
    env["CMPP_WITNESSES"] = f"{stranger.key}={tmp_path / 'witness'}"
    result = invoke(env, "checkpoint")
    assert result.exit_code == 2 and result.stdout.startswith("cmpp.example.gov/ledger/")
    coverage, refusal = result.stderr.splitlines()  # the refusal is one line
    assert coverage.startswith("writers cover the log as they go: at most 999 entries")
    assert "ig.example.gov/w" in refusal and "404" in refusal
    env["CMPP_WITNESSES"] = "not-a-key=http://127.0.0.1:1"
    assert invoke(env, "checkpoint").exit_code == 2


def test_witness_commands_refuse_what_they_cannot_use(tmp_path: Path) -> None:
    directory = str(tmp_path / "witness")
    for args in (
        ("witness", "show", directory),
        ("witness", "serve", directory, "--port", "0"),
        ("witness", "add-log", directory, "--log-key", "x+00000000+AAAA"),
        ("witness", "init", directory, "--name", "has space"),
    ):
        result = invoke({}, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert invoke({}, "witness", "init", directory, "--name", "w.example/1").exit_code == 0
    again = invoke({}, "witness", "init", directory, "--name", "w.example/1")
    assert again.exit_code == 2 and "not empty" in again.stderr


def test_cmpp_witness_serve_answers_until_stopped(tmp_path: Path) -> None:
    directory = tmp_path / "witness"
    Witness.create(directory, "w.example/1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMPP_")}
    server = subprocess.Popen(
        [CMPP, "witness", "serve", str(directory), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stderr is not None
        first = server.stderr.readline()
        assert "listening on http://127.0.0.1:" in first, first
        url = first.strip().rsplit(" ", 1)[1]
        status, _type, body = post(url, b"old 0\n\nnot a checkpoint\n")
        assert status == 400 and body.startswith("not a checkpoint")
    finally:
        server.terminate()
        server.wait(10)


def test_a_size_in_other_digits_is_a_400_over_http(tmp_path: Path) -> None:
    """`²` and `٣٨٨` are digits to str.isdigit(), not to int(): a 400, not a 500."""
    directory = tmp_path / "witness"
    Witness.create(directory, "w.example/1")
    root = base64.b64encode(b"\x01" * 32).decode()
    signature = base64.b64encode(b"\x00" * 68).decode()
    with serving(directory) as url:
        for size in ("²", "٣٨٨", "３"):
            note = f"origin\n{size}\n{root}\n\n— origin {signature}\n"
            for old in ("0", size):
                status, _type, body = post(url, f"old {old}\n\n{note}".encode())
                assert status == 400 and "Traceback" not in body, (size, old, body)
        assert post(url, b"old 0\n\norigin\n\xc2\xb2\nroot")[0] == 400


SECRET_URL = "https://ig-user:SeCrEtToken@127.0.0.1:9/witness"


def test_a_witness_url_with_credentials_or_another_scheme_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "load_settings", fast_settings)
    env = cli_env(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path / "var")
    assert invoke(env, "init").exit_code == 0
    key = Witness.create(tmp_path / "witness", "ig.example.gov/w").key
    for address in (
        SECRET_URL,
        "http://SeCrEtToken@127.0.0.1:9/",
        "https://ig-user:SeCrEtToken@",
        "ftp://127.0.0.1/witness",
        "file:///srv/witness",
        "https:///witness",
        "http:/127.0.0.1/witness",
        "https://127.0.0.1:SeCrEtToken/witness",
    ):
        for listed in (f"{key}={address}", f"{key}={address},{key}={tmp_path}"):
            result = invoke({**env, "CMPP_WITNESSES": listed}, "checkpoint")
            assert result.exit_code == 2, (address, result.output)
            assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
            assert "CMPP_WITNESSES" in result.stderr, result.stderr
            assert "SeCrEtToken" not in result.output, result.output
    # A password with a comma in it splits the entry: the rest is not shown either.
    result = invoke({**env, "CMPP_WITNESSES": f"{key}=https://u:Se,CrEtToken@h/"}, "checkpoint")
    assert result.exit_code == 2 and "CrEtToken" not in result.output, result.output


def test_a_witness_address_never_shows_its_credentials(tmp_path: Path) -> None:
    key = Witness.create(tmp_path / "witness", "ig.example.gov/w").key
    with pytest.raises(CosignError) as refused:
        parse_witnesses(f"{key}={SECRET_URL}")
    assert "SeCrEtToken" not in str(refused.value) and "CMPP_WITNESSES" in str(refused.value)
    assert str(refused.value).count("\n") == 0
    with pytest.raises(CosignError) as malformed:
        parse_witnesses(f"x=https://ig-user:SeCrEtToken@h/ {key}=https://h/")
    assert "SeCrEtToken" not in str(malformed.value)
    other = Witness.create(tmp_path / "b", "b.example/w").key
    third = Witness.create(tmp_path / "c", "c.example/w").key
    [http, upper, directory] = parse_witnesses(
        f"{key}=http://127.0.0.1:7380/w,{other}=HTTPS://[::1]:7380 {third}={tmp_path / 'c'}"
    )
    assert http.is_url and upper.is_url and not directory.is_url
    assert (
        redact(f"at {SECRET_URL}/add-checkpoint")
        == "at https://***@127.0.0.1:9/witness/add-checkpoint"
    )

    # An address made in code, not read from CMPP_WITNESSES, is refused when used.
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    for address in (SECRET_URL, "gopher://127.0.0.1:9/witness"):
        [result] = cosign(ledger.log, [WitnessAddress(key, address)])
        assert not result.ok and result.problem is not None
        assert "SeCrEtToken" not in result.problem and "witness URL" in result.problem
