"""`cmpp client`: the command line as a person who keeps their own key, over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from domain.tokens import Tokens
from ledger.entry import read_event
from tests.api_support import fund, program
from tests.live_server import serving
from tools.cli import app as cli

PASSPHRASE = "a client passphrase"
PAYMENT = {
    "disbursement_id": "D-CLI",
    "amount_cents": 42_00,
    "payment_ref": "PAY-CLI",
    "paid_on": "2023-03-01",
}


def test_a_person_signs_on_their_own_machine(tmp_path: Path) -> None:
    runner = CliRunner()
    keyfile = tmp_path / "me.key"
    env = {"CMPP_CLIENT_PASSPHRASE": PASSPHRASE}
    made = runner.invoke(cli, ["client", "keygen", str(keyfile), "--json"], env=env)
    assert made.exit_code == 0, made.output
    public = json.loads(made.stdout)["public_key"]
    assert keyfile.stat().st_mode & 0o777 == 0o600
    with program(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "data") as p:
        fund(p)
        person = p.post(
            "board",
            "/v1/people",
            {"org": "org:cws", "role": "fiscal_agent", "custody": "client", "public_key": public},
        ).json()["person_id"]
        tokens = Tokens(p.system.app.recorder.datastore)  # type: ignore[attr-defined]
        env["CMPP_API_TOKEN"] = tokens.issue(person, timedelta(minutes=5)).token
        with serving(p.client.app) as url:  # type: ignore[arg-type]
            args = [
                "client", "do", "record_disbursement", "--server", url, "--key-file",
                str(keyfile), "--id", "award_id=A-2022-007", "--body", json.dumps(PAYMENT),
                "--idempotency-key", "cli-1", "--json",
            ]  # fmt: skip
            done = runner.invoke(cli, args, env=env)
            assert done.exit_code == 0, done.output
            seq = json.loads(done.stdout)["answer"]["seq"]
            size = p.system.app.store.head().size
            again = runner.invoke(cli, args, env=env)  # the same key: nothing new
            assert again.exit_code == 0 and json.loads(again.stdout)["answer"]["seq"] == seq
            assert p.system.app.store.head().size == size
            # A wrong passphrase opens nothing, and sends nothing.
            wrong = runner.invoke(
                cli,
                [*args[:-3], "--idempotency-key", "cli-2"],
                env={**env, "CMPP_CLIENT_PASSPHRASE": "x" * 20},
            )
            assert wrong.exit_code == 2 and "CMPP_CLIENT_PASSPHRASE" in wrong.output
        event = read_event(p.system.app.store.read_rows(seq, 1)[0][2])  # type: ignore[arg-type]
        assert event["actor"] == person and event["type"] == "funds.DisbursementRecorded"
        assert event["key"] not in {str(r["key_id"]) for r in p.system.keys.list()}
        assert p.system.verify().ok
