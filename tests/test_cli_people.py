"""People, their tokens, and commands given as them, from the command line: `cmpp users`,
`cmpp tokens`, `cmpp do` and `cmpp do-batch`, on each backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from domain.people import PeopleDirectory
from domain.tokens import Tokens
from projections.commands.registry import COMMANDS
from projections.commands.runner import CommandRunner
from projections.system import System
from tests.cli_support import cli_env, fast_settings
from tools import console
from tools.cli import app

APPROPRIATION = {
    "appropriation_id": "FY2021",
    "fiscal_year": 2021,
    "public_law": "117-43",
    "amount_cents": 500_000_00,
    "available_until": "2026-09-30",
}
AWARD = {
    "award_id": "A-1",
    "appropriation_id": "FY2021",
    "grantee": "org:irc",
    "amount_cents": 100_000_00,
    "period_start": "2026-01-01",
    "period_end": "2026-12-31",
    "method": "advance",
}


@dataclass
class Ledger:
    env: dict[str, str]
    board: str  # the board person's id

    def run(self, *args: str, code: int = 0, stdin: str | None = None) -> Result:
        result = CliRunner().invoke(app, list(args), env=self.env, input=stdin)
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def do(self, name: str, body: dict[str, Any], *args: str, code: int = 0) -> Result:
        return self.run(
            "do", name, "--as", self.board, "--body", json.dumps(body), *args, code=code
        )

    @contextmanager
    def system(self) -> Iterator[System]:
        with System(fast_settings()) as system:
            yield system

    def events(self) -> dict[int, dict[str, Any]]:
        """Every entry's event by seq, as the log holds it."""
        with self.system() as system:
            rows = system.app.store.read_rows(0, 10_000)
        return {seq: json.loads(state)["event"] for seq, _prev, state in rows if state}


@pytest.fixture
def ledger(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """A ledger of its own with one board person, added by the root key."""
    env = cli_env(database_url, tmp_path / "var")
    for name, value in env.items():  # for the System a test opens itself
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(console, "load_settings", fast_settings)
    made = Ledger(env, "")
    made.run("init")
    added = made.json("users", "add", "--org", "org:board", "--role", "board", "--name", "Ann")
    made.board = added["person_id"]
    return made


def test_people_and_their_tokens(ledger: Ledger) -> None:
    body = {"org_id": "org:irc", "name": "International Rescue Committee", "kind": "grantee"}
    ledger.do("register_organisation", body)
    added = ledger.json(
        "users", "add", "--org", "org:irc", "--role", "grantee",
        "--name", "Grace Hopper", "--email", "grace@example.org",
    )  # fmt: skip
    person = added["person_id"]
    assert person.startswith("user:irc:") and added["custody"] == "server"
    ledger.run("users", "add", "--org", "org:irc", "--role", "board", code=2)  # not its kind
    ledger.run("users", "add", "--org", "org:nowhere", "--role", "grantee", code=2)

    # The name is in the vault (the directory keeps its commitment), never in the log.
    listed = ledger.run("users", "list", "--org", "org:irc").stdout
    assert person in listed and "Grace" not in listed and ledger.board not in listed
    everyone = {p["person_id"]: p for p in ledger.json("users", "list")}
    assert everyone[person]["key_id"] == added["key_id"]
    assert everyone[ledger.board]["role"] == "board"
    events = ledger.events()
    assert "Grace" not in json.dumps(events) and "grace@" not in json.dumps(events)
    # The board's own organisation was registered, by its root key, with its first person.
    assert events[1]["type"] == "org.OrganisationRegistered"
    assert (events[1]["data"]["org_id"], events[1]["actor"]) == ("org:board", "org:board")
    registered = [e for e in events.values() if e["type"] == "ledger.KeyRegistered"]
    assert [e["data"]["person"] for e in registered] == [ledger.board, person]
    with ledger.system() as system:
        people = PeopleDirectory(system.app.recorder.datastore)  # type: ignore[attr-defined]
        assert people.profile_commitment(person) is not None

    # A token is shown once, and authenticates its person until it is revoked.
    issued = ledger.json("tokens", "create", "--user", person, "--expires", "12h")
    shown = ledger.run("tokens", "create", "--user", person).stdout
    second = next(w for w in shown.split() if w.startswith("cmpp_"))
    with ledger.system() as system:
        tokens = Tokens(system.app.recorder.datastore)  # type: ignore[attr-defined]
        assert tokens.holder(issued["token"]) == person
        assert tokens.holder(second) == person
    listing = ledger.run("tokens", "list", "--user", person, "--json").stdout
    assert "cmpp_" not in listing + ledger.run("tokens", "list", "--user", person).stdout
    rows = json.loads(listing)
    assert {r["token_id"] for r in rows} >= {issued["token_id"]}
    assert all(r["revoked_at"] is None for r in rows)
    ledger.run("tokens", "revoke", issued["token_id"])
    ledger.run("tokens", "revoke", issued["token_id"], code=2)  # no longer in force
    revoked = {r["token_id"]: r for r in ledger.json("tokens", "list", "--user", person)}
    assert revoked[issued["token_id"]]["revoked_at"] is not None
    with ledger.system() as system:
        tokens = Tokens(system.app.recorder.datastore)  # type: ignore[attr-defined]
        assert tokens.holder(issued["token"]) is None
        assert tokens.holder(second) == person
    for bad in ("tomorrow", "2020-01-01T00:00:00Z", "400d", "2030-01-01T00:00:00"):
        ledger.run("tokens", "create", "--user", person, "--expires", bad, code=2)
    ledger.run("tokens", "create", "--user", "user:irc:nobody", code=2)
    ledger.run("tokens", "list", "--user", "user:irc:nobody", code=2)

    # Suspended: their keys are revoked, their tokens stop working, they are no one.
    suspended = ledger.json("users", "suspend", person, "--reason", "left the program")
    assert suspended["revoked_key_ids"] == [added["key_id"]]
    with ledger.system() as system:
        tokens = Tokens(system.app.recorder.datastore)  # type: ignore[attr-defined]
        assert tokens.holder(second) is None
        assert CommandRunner(system).actor(person) is None
        assert CommandRunner(system).actor(ledger.board) is not None
    assert "suspended" in ledger.run("users", "list", "--org", "org:irc").stdout
    assert ledger.json("users", "list", "--org", "org:irc")[0]["key_id"] is None
    ledger.run("tokens", "create", "--user", person, code=2)
    ledger.run("users", "suspend", person, "--reason", "again", code=2)
    spent = {
        "expenditure_id": "E-1",
        "category": "food",
        "amount_cents": 1,
        "incurred_on": "2026-02-01",
    }
    refused = ledger.run("do", "report_expenditure", "--as", person, "--id", "award_id=A",
                         "--body", json.dumps(spent), code=2)  # fmt: skip
    assert "unknown or suspended" in refused.output


def test_do_records_as_the_person_once_per_key(ledger: Ledger) -> None:
    once = ("--json", "--idempotency-key", "k1")
    first = json.loads(ledger.do("record_appropriation", APPROPRIATION, *once).stdout)
    assert first["answer"]["appropriation_id"] == "FY2021" and not first["replayed"]
    event = ledger.events()[first["seq"]]
    assert event["type"] == "funds.AppropriationRecorded"
    assert event["actor"] == ledger.board
    size = len(ledger.events())

    again = json.loads(ledger.do("record_appropriation", APPROPRIATION, *once).stdout)
    assert again["replayed"] and again["seq"] == first["seq"]
    assert again["answer"] == first["answer"]
    other = {**APPROPRIATION, "appropriation_id": "FY2022"}
    reused = ledger.do("record_appropriation", other, "--idempotency-key", "k1", code=2)
    assert "another request" in reused.output
    assert len(ledger.events()) == size

    # Without a key, one is made and said first, so the command can be given again.
    made = ledger.run("do", "record_appropriation", "--as", ledger.board, "--json",
                      "--body", json.dumps(other))  # fmt: skip
    key = json.loads(made.stdout)["idempotency_key"]
    assert key in made.stderr
    retried = ledger.do("record_appropriation", other, "--idempotency-key", key, "--json")
    assert json.loads(retried.stdout)["replayed"]
    assert len(ledger.events()) == size + 1

    # A body the command's own model refuses: each field named, exit 2, nothing written.
    bad = {**APPROPRIATION, "amount_cents": -5}
    del bad["fiscal_year"]
    refused = ledger.do("record_appropriation", bad, code=2)
    assert "amount_cents" in refused.output and "fiscal_year" in refused.output
    extra = ledger.do("record_appropriation", {**APPROPRIATION, "colour": "red"}, code=2)
    assert "colour" in extra.output
    ledger.run("do", "record_appropriation", "--as", ledger.board, "--body", "{nope", code=2)
    ledger.run("do", "record_appropriation", "--as", ledger.board, "--body", "[1]", code=2)
    assert len(ledger.events()) == size + 1

    # The body from a file, or from standard input; the ids by --id.
    path = Path(ledger.env["CMPP_DATA_DIR"]).parent / "award.json"
    ledger.do("register_organisation", {"org_id": "org:irc", "name": "IRC", "kind": "grantee"})
    path.write_text(json.dumps(AWARD))
    ledger.run("do", "make_award", "--as", ledger.board, "--body", f"@{path}")
    amend = json.dumps({"delta_cents": 1000, "reason": "additional_funds"})
    amended = ledger.run("do", "amend_award", "--as", ledger.board, "--id", "award_id=A-1",
                         "--body", "-", "--json", stdin=amend)  # fmt: skip
    assert json.loads(amended.stdout)["answer"]["award_id"] == "A-1"
    ledger.run("do", "amend_award", "--as", ledger.board, "--body", amend, code=2)  # no id
    ledger.run("do", "amend_award", "--as", ledger.board, "--id", "award=A-1", "--body", amend,
               code=2)  # fmt: skip
    ledger.run("do", "nonesuch", "--as", ledger.board, code=2)
    ledger.run("do", "make_award", "--as", "user:board:nobody", "--body", "{}", code=2)
    # A role the command does not allow: the board records no disbursement.
    payment = {
        "disbursement_id": "D-1",
        "amount_cents": 1,
        "payment_ref": "P",
        "paid_on": "2026-02-01",
    }
    refused = ledger.do("record_disbursement", payment, "--id", "award_id=A-1", code=2)
    assert "may not" in refused.output


def test_the_command_listing(ledger: Ledger) -> None:
    listed = {row["command"]: row for row in ledger.json("do", "--list")}
    assert listed.keys() == COMMANDS.keys()
    assert listed["amend_award"]["ids"] == ["award_id"]
    assert listed["record_disbursement"]["roles"] == ["fiscal_agent"]
    fields = {f["name"]: f["required"] for f in listed["make_award"]["fields"]}
    assert fields == dict.fromkeys(AWARD, True)
    assert "record_appropriation" in ledger.run("do", "--list").stdout
    ledger.run("do", code=2)


def test_a_batch_run_twice_writes_each_line_once(ledger: Ledger, tmp_path: Path) -> None:
    lines = [
        {"command": "register_organisation", "key": "b1",
         "body": {"org_id": "org:irc", "name": "IRC", "kind": "grantee"}},
        {"command": "record_appropriation", "key": "b2", "body": APPROPRIATION},
        {"command": "make_award", "key": "b3", "body": AWARD},
        {"command": "amend_award", "key": "b4", "ids": {"award_id": "A-1"},
         "body": {"delta_cents": 500, "reason": "additional_funds"}},
    ]  # fmt: skip
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(map(json.dumps, lines)) + "\n\n")
    before = len(ledger.events())
    done = ledger.json("do-batch", str(batch), "--as", ledger.board)
    assert (done["lines"], done["recorded"], done["replayed"]) == (4, 4, 0)
    events = ledger.events()
    assert len(events) == before + 4
    assert {events[seq]["actor"] for seq in range(before, before + 4)} == {ledger.board}
    again = ledger.json("do-batch", str(batch), "--as", ledger.board)
    assert (again["recorded"], again["replayed"], again["last_seq"]) == (0, 4, done["last_seq"])
    assert len(ledger.events()) == before + 4

    # The first refusal stops the run, and says which line; what came before stands.
    too_much = {"delta_cents": 10**12, "reason": "additional_funds"}
    after = {"command": "record_appropriation", "key": "b7",
             "body": {**APPROPRIATION, "appropriation_id": "FY2022"}}  # fmt: skip
    refused = [{"command": "amend_award", "key": "b6", "ids": {"award_id": "A-1"},
                "body": too_much}, after]  # fmt: skip
    batch.write_text("\n".join(map(json.dumps, [*lines, *refused])))
    stopped = ledger.run("do-batch", str(batch), "--as", ledger.board, code=2)
    assert "line 5 (amend_award)" in stopped.output
    assert len(ledger.events()) == before + 4

    # A line that is not a command: the file is refused before any line runs.
    batch.write_text("\n".join([json.dumps(after), '{"command": "make_award", "body": {}}']))
    assert "line 2" in ledger.run("do-batch", str(batch), "--as", ledger.board, code=2).output
    batch.write_text(json.dumps({**after, "body": {"fiscal_year": "soon"}}))
    assert "line 1" in ledger.run("do-batch", str(batch), "--as", ledger.board, code=2).output
    assert len(ledger.events()) == before + 4
