"""Every `cmpp` command, handed what a user or the environment may hand it: no traceback,
ever, and an exit code that means what the README says.

0 done; 1 only a finding (`verify`, `verify-entry`) or differences (`reconcile`); 2
anything to put right, with one line on stderr (`error: …`, or click's own usage error).
The property test enumerates the commands from the typer app, so a new command is
fuzzed too, and draws each argument by its type and name: text with console markup,
control and Unicode digits, huge and negative numbers, binary and BOM-prefixed files,
fields past csv's limit, directories, FIFOs, missing and unwritable paths. The examples
after it pin each failure an adversarial tester found.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from projections.db import ProjectionDB
from tests.cli_support import BUNDLE_TO_OIG, cli_env, fast_settings
from tools import console
from tools.cli import app

# A command that blocks on a FIFO must not hang the suite: a signal would not end it
# (Hypothesis replays the example that was interrupted, and blocks again), a thread does.
pytestmark = pytest.mark.timeout(120, method="thread")

# The only commands that may exit 1: a verification finding, differences found, or an
# answer refused because the log does not verify (--verified).
FINDINGS = {
    ("verify",),
    ("verify-entry",),
    ("reconcile",),
    ("sf425",),
    ("balances",),
    ("replay",),
    ("projections", "check"),
    ("report",),  # a bundle that does not verify answers no figure
    ("verify-foia",),
}
HEADER = "payment_ref,paid_on,amount_cents,payee"
UNWRITABLE = Path("/proc/cmpp-no-such-place")  # under /proc nothing can be made, even by root


# -- the commands, as typer builds them ------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    kind: type  # int, float, str, bool, Path
    option: str | None  # its flag (--size); None for an argument
    required: bool
    multiple: bool


def _kind(annotation: Any) -> type:
    """The Python type under Annotated[...], `| None` and list[...]."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]  # X | None, list[X]
    return _kind(args[0]) if args else annotation


def _commands() -> dict[tuple[str, ...], list[Param]]:
    """Each command's words (`prove inclusion`) and its parameters, from the typer app."""
    found: dict[tuple[str, ...], list[Param]] = {}

    def walk(group: Any, words: tuple[str, ...]) -> None:
        for name, command in sorted(group.commands.items()):
            if hasattr(command, "commands"):
                walk(command, (*words, name))
                continue
            hints = typing.get_type_hints(command.callback, include_extras=True)
            found[(*words, name)] = [
                Param(
                    p.name,
                    _kind(hints[p.name]),
                    None if p.param_type_name == "argument" else p.opts[0],
                    p.required,
                    bool(getattr(p, "multiple", False)),
                )
                for p in command.params
                if p.name != "help"
            ]

    walk(typer.main.get_command(app), ())
    return found


# `run` and `serve` start a server that runs until stopped: tests/test_cli.py drives them.
SERVERS = {("run",), ("serve",)}
COMMANDS = {words: params for words, params in _commands().items() if words not in SERVERS}


# -- one demo ledger for the module ----------------------------------------------------


@dataclass
class Demo:
    env: dict[str, str]
    home: Path
    vkey: str
    key_ids: list[str]
    payments: list[dict[str, Any]]  # the ledger's disbursements, as a bank file would list them
    participants: list[str]
    bundle: Path
    entry: bytes
    proof: bytes
    size: int
    examples: Iterator[int]

    def place(self) -> Path:
        """A new, empty directory of one example's own."""
        path = self.home / f"example-{next(self.examples)}"
        path.mkdir()
        return path


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("cli-inputs")
    url = f"sqlite:///{home / 'ledger.sqlite3'}"
    env = cli_env(url, home / "var")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(console, "load_settings", fast_settings)
        made = invoke(env, "init", "--json")
        assert made.exit_code == 0, made.output
        assert invoke(env, "demo", "--participants", "4", "--seed", "3").exit_code == 0
        # Not the board's root key: revoking it, an example would end key management for
        # every example after it.
        keys = json.loads(invoke(env, "keys", "list", "--json").stdout)
        (home / "header.csv").write_text(HEADER + "\n")
        # From the stored projections: that also brings them up to date for what follows.
        unpaid = json.loads(
            invoke(env, "reconcile", str(home / "header.csv"), "--unverified", "--json").stdout
        )
        db = ProjectionDB(url)
        participants = [r["participant_id"] for r in db.query("SELECT * FROM case_participants")]
        db.close()
        assert (
            invoke(
                env,
                *BUNDLE_TO_OIG,
                str(home / "bundle"),
            ).exit_code
            == 0
        )
        assert invoke(env, "prove", "entry", "3", str(home / "proof")).exit_code == 0
        yield Demo(
            env=env,
            home=home,
            vkey=json.loads(made.stdout)["log_vkey"],
            key_ids=[k["key_id"] for k in keys if k["holder"] != "org:board"],
            payments=unpaid["missing_from_bank"],
            participants=participants,
            bundle=home / "bundle",
            entry=(home / "proof" / "3.entry").read_bytes(),
            proof=(home / "proof" / "3.tlog-proof").read_bytes(),
            size=json.loads((home / "bundle" / "manifest.json").read_text())["size"],
            examples=iter(range(10**9)),
        )


def check_outcome(words: tuple[str, ...], result: Result) -> None:
    """No traceback; 1 only for a finding; 2 with one line saying what to put right."""
    shown = result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{' '.join(words)} raised {result.exception!r}\n{shown}"
    )
    assert "Traceback" not in shown, shown
    assert result.exit_code in (0, 1, 2), (result.exit_code, shown)
    if result.exit_code == 1:
        assert words in FINDINGS, shown
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    if result.exit_code == 2:
        usage = "Usage: " in result.stderr  # click's own: a bad or missing argument
        assert usage or (len(errors) == 1 and result.stderr.endswith(errors[0] + "\n")), shown
    else:
        assert not errors, shown


# -- what is drawn -----------------------------------------------------------------------

T = typing.TypeVar("T")


def _one_of(values: list[T]) -> st.SearchStrategy[T]:
    """One of `values`, drawn by its index: Hypothesis would otherwise spell out every
    value (some of them 100 kB) in each strategy's description."""
    return st.integers(0, len(values) - 1).map(values.__getitem__)


ODD_TEXT = [
    "",
    " ",
    "[/]",
    "org:x[/]",
    "[red]red[/red]",
    "[bold",
    "\\",
    "a\\[/]",
    "\x1b[31mred",
    "line\nbreak",
    "tab\there",
    "\x00",
    "\udcff",  # what Python makes of a byte of argv that is not UTF-8
    "\u202e",
    "٥٦",
    "²",
    "--5",
    "-1",
    "x" * 5_000,
]
text = st.one_of(_one_of(ODD_TEXT), st.text(max_size=30))
ODD_NUMBERS = [
    "-1",
    "--5",
    "²",
    "٥٦",
    "1.5",
    "1e3",
    "0x10",
    " 7",
    "",
    str(2**53),
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    "9" * 5_000,
]
ODD_FLOATS = ["nan", "inf", "-inf", "0", "0.01", "1e308", "-1", "x"]


def _bytes_of(content: bytes) -> st.SearchStrategy[bytes]:
    """`content` as written, or broken as a disk, a transfer or a person breaks it."""
    return st.one_of(
        st.just(content),
        st.integers(0, len(content)).map(lambda n: content[:n]),
        st.just(b"\xef\xbb\xbf" + content),
        st.just(content.replace(b"\n", b"\r\n")),
        st.binary(max_size=200),
        st.integers(0, len(content)).map(lambda n: content[:n] + b"\xff\xfe" + content[n:]),
        st.just(content.replace(b"index 3", "index ٣".encode())),
        st.just(5000).map(lambda n: content.replace(b"index 3", b"index " + b"9" * n)),
        st.just(100_000).map(lambda n: b"[" * n),
    )


def _csv_row(demo: Demo) -> st.SearchStrategy[str]:
    paid = _one_of(demo.payments)
    field = st.one_of(text, _one_of(ODD_NUMBERS))
    real = paid.map(
        lambda p: [p["payment_ref"], p["ledger_paid_on"], str(p["ledger_amount_cents"])]
    )
    row = st.tuples(
        st.one_of(real.map(lambda r: r[0]), field),
        st.one_of(real.map(lambda r: r[1]), st.sampled_from(["2023-02-30", "2023-1-1"]), field),
        st.one_of(real.map(lambda r: r[2]), field),
        st.one_of(st.just("grantee"), field, st.just(140_000).map(lambda n: "y" * n)),
    )
    return st.one_of(
        row.map(",".join),
        real.map(lambda r: ",".join([*r, "payee"])),
        st.lists(field, max_size=6).map(",".join),
    )


def _payment_file(demo: Demo) -> st.SearchStrategy[bytes]:
    header = st.sampled_from([HEADER] * 3 + ["\ufeff" + HEADER, "ref,date,amount,payee", ""])
    lines = st.tuples(header, st.lists(_csv_row(demo), max_size=4))
    encoded = lines.map(lambda t: "\n".join([t[0], *t[1]]) + "\n").flatmap(
        lambda s: st.sampled_from(
            [s.encode("utf-8", "surrogatepass"), s.encode("utf-8-sig", "surrogatepass")]
        )
    )
    return st.one_of(encoded, encoded, encoded, st.binary(max_size=200), st.just(b"\x00" * 10))


def _path(
    data: st.DataObject, place: Path, name: str, content: st.SearchStrategy[bytes] | None
) -> str:
    """A path for a parameter: often a file of the right sort (broken or not), otherwise
    whatever a user might name instead."""
    choices = ["missing", "directory", "fifo", "binary", "under a file", "unwritable", "new"]
    choice = data.draw(st.sampled_from(choices if content is None else ["content"] * 7 + choices))
    path = place / name
    copies = 0
    while os.path.lexists(path):  # a repeatable option's second value: a place of its own
        copies += 1
        path = place / f"{name}-{copies}"
    if choice == "content":
        assert content is not None
        path.write_bytes(data.draw(content))
    elif choice == "directory":
        path.mkdir()
    elif choice == "fifo":
        os.mkfifo(path)
    elif choice == "binary":
        path.write_bytes(data.draw(st.binary(max_size=100)))
    elif choice == "under a file":
        path.write_text("a file")
        path = path / "inside"
    elif choice == "unwritable":
        path = UNWRITABLE / name
    elif choice == "new":
        path = place / "new" / name
    return str(path)


def _bundle(data: st.DataObject, demo: Demo, place: Path) -> str:
    """A copy of the demo's bundle, perhaps with one file broken, gone or not a file."""
    bundle = place / "bundle"
    shutil.copytree(demo.bundle, bundle)
    member = bundle / data.draw(
        st.sampled_from(["manifest.json", "entries.jsonl", "checkpoint.txt", "checkpoints/1.txt"])
    )
    damage = data.draw(st.sampled_from(["none", "bytes", "gone", "fifo", "directory"]))
    if damage == "bytes":
        member.write_bytes(data.draw(_bytes_of(member.read_bytes())))
    elif damage != "none":
        member.unlink()
        if damage == "fifo":
            os.mkfifo(member)
        elif damage == "directory":
            member.mkdir()
    return str(bundle)


def _number(data: st.DataObject, name: str, demo: Demo) -> str:
    small = name in ("participants", "jobs")  # valid ones kept small: they cost time
    valid = st.integers(1, 4) if small else st.integers(0, demo.size + 2)
    return data.draw(st.one_of(valid.map(str), _one_of(ODD_NUMBERS)))


def _text_for(data: st.DataObject, name: str, demo: Demo) -> str:
    plausible = {
        "key_id": _one_of(demo.key_ids),
        "holder": st.sampled_from(["org:cws", "org:x[/]", "org:irc"]),
        "role": st.sampled_from(["grantee", "fiscal_agent", "board", "log"]),
        "trusted_key": st.sampled_from([demo.vkey, demo.vkey[:-2] + "AA"]),
        "trusted_root_key": _one_of(demo.key_ids),
        "as_of": st.sampled_from(["2023-06-30", "2023-06-30T12:00:00.000000Z", "2023-13-01"]),
        "participant_id": _one_of(demo.participants),
        "grantee": st.sampled_from(["org:irc", "org:bakerripley"]),
        "name": st.sampled_from(["balances", "case_history", "oversight"]),
    }
    if name in plausible:
        return data.draw(st.one_of(plausible[name], text))
    return data.draw(text)


def _value(data: st.DataObject, param: Param, demo: Demo, place: Path) -> str:
    if param.kind is int:
        return _number(data, param.name, demo)
    if param.kind is float:
        return data.draw(st.sampled_from(ODD_FLOATS))
    if param.kind is Path:
        if param.name == "bundle":
            if data.draw(st.booleans()):
                return _bundle(data, demo, place)
            return _path(data, place, "bundle", None)
        contents = {
            "payments": _payment_file(demo),
            "entry": _bytes_of(demo.entry),
            "proof": _bytes_of(demo.proof),
        }
        return _path(data, place, param.name, contents.get(param.name))
    return _text_for(data, param.name, demo)


def _arguments(data: st.DataObject, params: list[Param], demo: Demo, place: Path) -> list[str]:
    args: list[str] = []
    for param in params:
        if param.kind is bool:
            args += [param.option] if param.option and data.draw(st.booleans()) else []
        elif param.option is None:
            if param.required or data.draw(st.booleans()):
                args.append(_value(data, param, demo, place))
        elif param.required or data.draw(st.booleans()):
            for _ in range(data.draw(st.integers(1, 2)) if param.multiple else 1):
                args += [param.option, _value(data, param, demo, place)]
    return args


def _no_follower(*_: Any, **__: Any) -> None:
    """`projections follow` runs until stopped: here it stops at once, its arguments and
    its set-up checked all the same."""


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_command_answers_any_input_with_a_meaningful_exit(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, words: tuple[str, ...], data: st.DataObject
) -> None:
    monkeypatch.setattr("tools.projection_commands.follow", _no_follower)
    args = _arguments(data, COMMANDS[words], demo, demo.place())
    result = invoke(demo.env, *words, *args)
    check_outcome(words, result)


def test_the_commands_are_found_in_the_app() -> None:
    assert {("verify",), ("reconcile",), ("prove", "inclusion"), ("keys", "list")} <= set(COMMANDS)
    assert len(COMMANDS) >= 20


# -- each failure found, pinned --------------------------------------------------------


def run(demo: Demo, *args: str, code: int) -> Result:
    result = invoke(demo.env, *args)
    check_outcome(tuple(a for a in args[:2] if not a.startswith("-") and "/" not in a), result)
    assert result.exit_code == code, result.output
    return result


def bank_file(demo: Demo, *rows: str, encoding: str = "utf-8") -> str:
    path = demo.place() / "payments.csv"
    path.write_bytes("\n".join([HEADER, *rows, ""]).encode(encoding))
    return str(path)


def all_paid(demo: Demo) -> list[str]:
    return [
        f"{p['payment_ref']},{p['ledger_paid_on']},{p['ledger_amount_cents']},grantee"
        for p in demo.payments
    ]


@pytest.mark.parametrize("amount", ["²", "--5", "9" * 5_000, "٥٦", "-5", str(2**53), "1.5", ""])
def test_reconcile_refuses_an_amount_that_is_not_whole_cents(demo: Demo, amount: str) -> None:
    csv = bank_file(demo, f"PAY-1,2023-01-01,{amount},grantee")
    assert "line 2: amount_cents" in run(demo, "reconcile", csv, code=2).stderr


def test_reconcile_reads_a_byte_order_mark_and_names_the_line_that_is_wrong(demo: Demo) -> None:
    assert run(demo, "reconcile", bank_file(demo, *all_paid(demo), encoding="utf-8-sig"), code=0)
    rows = all_paid(demo)
    latin1 = bank_file(demo, rows[0], "PAY-é,2023-01-01,5,Zoë", encoding="latin-1")
    assert "line 3: the file is not UTF-8 text" in run(demo, "reconcile", latin1, code=2).stderr
    long = bank_file(demo, rows[0], rows[1], "PAY-2,2023-01-01,5," + "y" * 140_000)
    assert "line 4: not valid CSV" in run(demo, "reconcile", long, code=2).stderr
    binary = demo.place() / "binary.csv"
    binary.write_bytes(HEADER.encode() + b"\n\x00\x01\x02")
    assert "NUL" in run(demo, "reconcile", str(binary), code=2).stderr
    refused = {"PAY\x1b[2J,2023-01-01,5,x": "payment_ref", "PAY-3,2023-01-01,5,a\x07b": "payee"}
    for row, field in refused.items():
        assert f"line 2: {field}" in run(demo, "reconcile", bank_file(demo, row), code=2).stderr


def test_reconcile_refuses_what_is_not_a_file(demo: Demo) -> None:
    place = demo.place()
    os.mkfifo(place / "fifo")
    for path in (place / "fifo", place, place / "missing.csv"):
        assert str(path) in run(demo, "reconcile", str(path), code=2).stderr


def test_prove_bounds_every_number(demo: Demo) -> None:
    for args in (
        ("prove", "inclusion", "1", "--size", str(2**64)),
        ("prove", "inclusion", "1", "--size", "-1"),
        ("prove", "consistency", "1", str(2**64)),
        ("prove", "entry", "1", str(demo.place()), "--size", str(2**63)),
        ("balances", "--at-seq", str(2**64)),
    ):
        run(demo, *args, code=2)
    beyond = run(demo, "prove", "inclusion", "1", "--size", str(2**63 - 1), code=2)
    assert re.search(r"the log has \d+ entries, not 9223372036854775807", beyond.stderr)


def _left_in(place: Path) -> list[str]:
    return sorted(p.name for p in place.iterdir())


@pytest.mark.parametrize(
    "command",
    [
        ("prove", "entry", "3"),
        BUNDLE_TO_OIG,
    ],
)
def test_writing_where_it_cannot_says_why_and_leaves_nothing(
    demo: Demo, command: tuple[str, ...]
) -> None:
    place = demo.place()
    (place / "file").write_text("a file")
    for target in (UNWRITABLE / "out", place / "file" / "out", place / "file"):
        result = run(demo, *command, str(target), code=2)
        assert str(target) in result.stderr
    assert _left_in(place) == ["file"]


def _failing_leaves(failure: BaseException | None) -> Any:
    """iter_leaves as a full disk (or a SIGTERM) has it: one entry, then `failure`."""

    def leaves(*_: Any) -> Iterator[tuple[int, bytes]]:
        yield 0, b"{}"
        if failure is None:
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            raise failure

    return leaves


def test_a_failed_export_leaves_nothing_and_says_what_could_not_be_written(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as file.write() raises it
    monkeypatch.setattr("ledger.export.iter_leaves", _failing_leaves(full))
    place = demo.place()
    out = place / "new" / "bundle"
    result = run(
        demo,
        *BUNDLE_TO_OIG,
        str(out),
        code=2,
    )
    assert f"cannot write {out / 'entries.jsonl'}: No space left on device" in result.stderr
    assert _left_in(place) == []  # nor the directory it made for it


def test_a_terminated_export_leaves_nothing(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ledger.export.iter_leaves", _failing_leaves(None))
    place, handler = demo.place(), signal.getsignal(signal.SIGTERM)
    result = invoke(
        demo.env,
        *BUNDLE_TO_OIG,
        str(place / "bundle"),
    )
    assert result.exit_code == 128 + signal.SIGTERM and _left_in(place) == []
    assert signal.getsignal(signal.SIGTERM) is handler  # the command's own, gone with it


def test_what_a_killed_export_left_is_removed_by_the_next(demo: Demo) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    place = demo.place()
    abandoned = place / f".bundle.partial-{ended.pid}"
    (abandoned / "checkpoints").mkdir(parents=True)
    run(
        demo,
        *BUNDLE_TO_OIG,
        str(place / "bundle"),
        code=0,
    )
    assert _left_in(place) == ["bundle"]


def test_an_entry_proof_half_written_is_not_left(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = Path.write_bytes

    def second_fails(path: Path, data: bytes) -> int:
        if "tlog-proof" in path.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return written(path, data)

    monkeypatch.setattr(Path, "write_bytes", second_fails)
    place = demo.place()
    result = run(demo, "prove", "entry", "3", str(place / "out"), code=2)
    assert f"cannot write {place / 'out' / '3.tlog-proof'}: No space" in result.stderr
    assert _left_in(place) == []


def test_verify_entry_refuses_what_is_not_an_entry_or_a_proof(demo: Demo) -> None:
    place = demo.place()
    files = {
        "entry": demo.entry,
        "proof": demo.proof,
        "binary": bytes(range(256)),
        "latin1": "Zoë".encode("latin-1"),
        "not-json": b"{not json\n",
        "deep": b"[" * 100_000 + b"\n",
        "tampered": demo.entry.replace(b'"seq":3', b'"seq":4'),
    }
    for name, content in files.items():
        (place / name).write_bytes(content)
    os.mkfifo(place / "fifo")

    def verify_entry(entry: str, proof: str, code: int) -> Result:
        key = ("--trusted-key", demo.vkey)
        return run(demo, "verify-entry", str(place / entry), str(place / proof), *key, code=code)

    verify_entry("entry", "proof", code=0)
    assert verify_entry("tampered", "proof", code=1).stdout.startswith("FAILED")
    for entry, proof in [
        ("binary", "proof"),
        ("latin1", "proof"),
        ("not-json", "proof"),
        ("deep", "proof"),
        ("proof", "entry"),
        ("entry", "binary"),
        ("entry", "latin1"),
        ("fifo", "proof"),
        ("entry", "fifo"),
        ("entry", "missing"),
    ]:
        verify_entry(entry, proof, code=2)


@pytest.mark.parametrize(
    ("member", "damage", "code"),
    [
        ("", "fifo", 2),
        ("manifest.json", "fifo", 2),
        ("manifest.json", "binary", 2),
        ("manifest.json", "deep", 2),
        ("entries.jsonl", "fifo", 1),
        ("entries.jsonl", "truncated", 1),
        ("entries.jsonl", "binary", 1),
        ("checkpoint.txt", "directory", 1),
        ("checkpoint.txt", "binary", 1),
        ("checkpoints/1.txt", "fifo", 1),
        ("checkpoints/²³.txt", "fifo", 1),
    ],
)
def test_verify_a_broken_bundle_never_hangs_nor_crashes(
    demo: Demo, member: str, damage: str, code: int
) -> None:
    bundle = demo.place() / "bundle"
    shutil.copytree(demo.bundle, bundle)
    path = bundle / member
    content = path.read_bytes() if path.is_file() else b""
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    if damage == "fifo":
        os.mkfifo(path)
    elif damage == "directory":
        path.mkdir()
    else:
        broken = {
            "binary": bytes(range(256)),
            "deep": b"[" * 100_000,
            "truncated": content[: len(content) // 2],
        }
        path.write_bytes(broken[damage])
    run(demo, "verify", "--bundle", str(bundle), "--trusted-key", demo.vkey, code=code)


def test_user_text_is_printed_as_it_is_never_as_markup(demo: Demo) -> None:
    run(demo, "keys", "register", "--holder", "org:x[/]", "--role", "grantee", code=0)
    assert "org:x[/]" in run(demo, "keys", "list", code=0).stdout
    for args in (
        ("case-history", "p[/]"),
        ("case-history", "p[red]x"),
        ("projections", "rebuild", "[/]bold"),
        ("reconcile", str(demo.place() / "x[/].csv")),
    ):
        assert args[-1] in run(demo, *args, code=2).stderr
    csv = bank_file(demo, "PAY[/]1,2023-01-01,5,[bold]payee")
    assert "PAY[/]1" in run(demo, "reconcile", csv, code=1).stdout


def test_a_message_is_one_line_whatever_it_quotes(demo: Demo) -> None:
    result = run(demo, "case-history", "a\nb\x1b[2Jc\u202e", code=2)
    assert result.stderr.count("\n") == 1 and "\x1b" not in result.stderr
    assert "a\\nb\\x1b[2Jc\\u202e" in result.stderr


def test_the_environment_s_errors_become_a_message_and_bugs_stay_bugs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(typer.Exit) as refused, console.user_errors():
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "bundle/x.json")
    assert refused.value.exit_code == 2
    assert "bundle/x.json: No space left on device" in capsys.readouterr().err
    for bug in (TypeError("a bug"), AttributeError("a bug"), KeyError("a bug")):
        with pytest.raises(type(bug)), console.user_errors():
            raise bug
