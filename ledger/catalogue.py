"""Event types declared once: each is its own name, with its data members and who may sign it.

An `EventType` is the string that appears as an event's `type` in the log
(`funds.AwardMade`), so it compares, hashes and serialises as that string, and it
carries what LEDGER_FORMAT.md section 2 asks of the type: the exact members of its
`data` and how each is written, and the roles whose keys may sign it (section 4).
A `Catalogue` is a set of them: it answers "may these roles sign this type?" for the
writers and the verifier, and "is this data well formed?" for the rules. A member
that must hold a code of a published list, never free text, is declared with
`code_from` (or `codes_from` for a list of them).

The ledger declares its own three types here; a program declares the rest (for CMPP,
`domain.catalogue`). Standard library only: the verifier reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from functools import lru_cache
from typing import Any

BOARD = "board"  # holds the root key; registers and revokes every other key
LOG_ROLE = "log"  # the log key's only role: it signs checkpoints and nothing else


class Kind:
    """How a data member is written (beyond what canonical JSON already guarantees)."""

    def __init__(
        self,
        name: str,
        test: Callable[[Any], bool],
        *,
        rule: str = "well-formed",
        codes: tuple[str, ...] | None = None,
    ) -> None:
        self.name = name
        self.test = test
        self.rule = rule  # the rule a value of the wrong kind breaks
        self.codes = codes  # the published list a code kind takes its values from
        self.nullable = False
        self.base = self  # the kind without `or null`

    def or_null(self) -> Kind:
        kind = Kind(f"{self.name} or null", self.test, rule=self.rule, codes=self.codes)
        kind.nullable, kind.base = True, self
        return kind

    def accepts(self, value: Any) -> bool:
        return (value is None and self.nullable) or (value is not None and self.test(value))


MAX_SAFE_INTEGER = 2**53 - 1  # LEDGER_FORMAT.md section 1: |n| < 2^53


def _is_int(value: Any) -> bool:
    return type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER


def is_identifier(value: Any) -> bool:
    """A name for a thing: printable (no control, format or separator characters but the
    space), no space at either end, at most 256 characters. Two ids that look alike to
    a person ("PAY-1" and "PAY-1 ") cannot then both be used."""
    return (
        type(value) is str
        and 0 < len(value) <= 256
        and value.isprintable()
        and value == value.strip()
    )


def _is_text(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        value.encode("utf-8")  # a lone surrogate is not text (and cannot be stored)
    except UnicodeEncodeError:
        return False
    return True


def _is_date(value: Any) -> bool:
    if type(value) is not str or len(value) != 10:
        return False
    try:
        return date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


_HEX64 = re.compile(r"[0-9a-f]{64}")

ID = Kind("an identifier (printable, no space at either end)", is_identifier)
TEXT = Kind("text", _is_text)
DATE = Kind("a date YYYY-MM-DD", _is_date)
CENTS = Kind("integer cents", _is_int, rule="integer-cents")
INTEGER = Kind("an integer", _is_int)
FLAG = Kind("true or false", lambda v: type(v) is bool)
IDS = Kind("a list of identifiers", lambda v: type(v) is list and all(map(is_identifier, v)))
SHA256 = Kind("64 lowercase hex digits", lambda v: type(v) is str and bool(_HEX64.fullmatch(v)))
OBJECT = Kind("an object", lambda v: type(v) is dict)

_CODE = re.compile(r"[a-z0-9]+(?:[_-][a-z0-9]+)*")
CODE_RULE = "published-code"  # the rule a value outside its published list breaks


def _published(codes: Iterable[str], list_name: str) -> tuple[str, ...]:
    listed = tuple(codes)
    malformed = [code for code in listed if type(code) is not str or not _CODE.fullmatch(code)]
    if not listed or malformed or len(set(listed)) != len(listed):
        raise ValueError(
            f"the list of {list_name} must be distinct lowercase codes"
            + (f", not {malformed!r}" if malformed else "")
        )
    return listed


def code_from(codes: Iterable[str], list_name: str) -> Kind:
    """One code of a published list, and nothing else.

    A member declared so can never hold free text: what a clerk might type there (a
    name, an A-Number) is refused by the writers and flagged by the verifier alike,
    since both judge data by the same declaration. `list_name` says which list, in
    the plural ("closure reasons"), for the message that refuses a value.
    """
    listed = _published(codes, list_name)
    members = frozenset(listed)
    return Kind(
        f"a code from the published list of {list_name} ({', '.join(listed)})",
        lambda v: type(v) is str and v in members,
        rule=CODE_RULE,
        codes=listed,
    )


def codes_from(codes: Iterable[str], list_name: str) -> Kind:
    """A list of codes of a published list, and nothing else."""
    listed = _published(codes, list_name)
    members = frozenset(listed)
    return Kind(
        f"a list of codes from the published list of {list_name} ({', '.join(listed)})",
        lambda v: type(v) is list and all(type(x) is str and x in members for x in v),
        rule=CODE_RULE,
        codes=listed,
    )


class EventType(str):
    """An event type: the name itself, with its data members and its signers.

    `signed_by` names the roles whose keys may sign it; `on` names the member holding
    the date the event is about (for timelines), if it has one.
    """

    members: Mapping[str, Kind]
    text_members: tuple[str, ...]  # the members that may hold any text (not identifiers)
    _tests: tuple[tuple[str, Callable[[Any], bool], bool], ...]
    signed_by: frozenset[str]
    on: str | None

    def __new__(
        cls, type_name: str, /, *, signed_by: Iterable[str], on: str | None = None, **members: Kind
    ) -> EventType:
        area, dot, short = type_name.partition(".")
        if not (area and dot and short[:1].isupper()):
            raise ValueError(f"an event type is named area.Name, not {type_name!r}")
        if on is not None and on not in members:
            raise ValueError(f"{type_name}: `on` names {on!r}, which is not a member")
        self = super().__new__(cls, type_name)
        self.members = dict(members)
        self.signed_by = frozenset(signed_by)
        self.on = on
        # What `problems` runs for every event: each member's test, bound once.
        self._tests = tuple((name, kind.test, kind.nullable) for name, kind in members.items())
        self.text_members = tuple(n for n, k in members.items() if k.base in (TEXT, OBJECT))
        return self

    @property
    def area(self) -> str:
        return self.partition(".")[0]

    @property
    def short_name(self) -> str:
        return self.partition(".")[2]

    def problems(self, data: Any) -> list[tuple[str, str]]:
        """What is wrong with `data` for this type, as (rule, message); empty when well formed."""
        if type(data) is not dict:
            return [("well-formed", f"{self} data is not an object")]
        found: list[tuple[str, str]] = []
        if data.keys() != self.members.keys():
            missing = sorted(set(self.members) - set(data))
            extra = sorted(set(data) - set(self.members))
            found.append(
                (
                    "well-formed",
                    f"{self} data must have exactly the members {', '.join(sorted(self.members))}"
                    + (f"; missing {', '.join(missing)}" if missing else "")
                    + (f"; not allowed {', '.join(extra)}" if extra else ""),
                )
            )
        for member, test, nullable in self._tests:  # this runs for every event replayed
            value = data.get(member)
            if (value is None and not nullable and member in data) or (
                value is not None and not test(value)
            ):
                kind = self.members[member]
                # A value refused by a code list is likely free text, perhaps personal:
                # the message that refuses it (and the verifier's report) never repeats it.
                given = "the value given" if kind.codes is not None else repr(value)
                found.append((kind.rule, f"{member} must be {kind.name}, not {given}"))
        return found

    def __reduce__(self) -> tuple[Any, ...]:
        return str, (str(self),)  # pickled (to a worker process) as the plain name


# Entry 0 is signed by the root key it names, and is entry 0 only (ledger.trust): no
# role may sign it anywhere else.
LEDGER_OPENED = EventType(
    "ledger.LedgerOpened", signed_by=(), origin=ID, root_key=OBJECT, log_key=OBJECT
)
KEY_REGISTERED = EventType(
    "ledger.KeyRegistered",
    signed_by=(BOARD,),
    key_id=ID,
    public_key=ID,
    holder=ID,
    person=ID.or_null(),
    roles=IDS,
)
KEY_REVOKED = EventType("ledger.KeyRevoked", signed_by=(BOARD,), key_id=ID, reason=TEXT)
LEDGER_TYPES = (LEDGER_OPENED, KEY_REGISTERED, KEY_REVOKED)


class Catalogue:
    """The event types of one ledger, and the roles its keys may hold."""

    def __init__(self, types: Iterable[EventType], roles: Iterable[str] = ()) -> None:
        self.types: dict[str, EventType] = {}
        for event_type in (*LEDGER_TYPES, *types):
            if self.types.setdefault(event_type, event_type) is not event_type:
                raise ValueError(f"{event_type} is declared twice")
        self.roles = (BOARD, *(r for r in dict.fromkeys(roles) if r != BOARD))
        unknown = {r for t in self.types.values() for r in t.signed_by} - set(self.roles)
        if unknown:
            raise ValueError(f"types are signed by roles not declared: {sorted(unknown)}")
        self.may_sign = lru_cache(maxsize=4096)(self._may_sign)

    def __getitem__(self, name: str) -> EventType:
        return self.types[name]

    def __contains__(self, name: object) -> bool:
        return name in self.types

    def __iter__(self) -> Any:
        return iter(self.types.values())

    def _may_sign(self, roles: tuple[str, ...], event_type: str) -> bool:
        """May a key holding `roles` sign `event_type`? Types not declared: nobody."""
        declared = self.types.get(event_type)
        return declared is not None and not declared.signed_by.isdisjoint(roles)

    def signable_by(self, role: str) -> list[EventType]:
        """The permission table's row for `role` (DESIGN.md section 4, Roles)."""
        return sorted(t for t in self.types.values() if role in t.signed_by)


LEDGER_ONLY = Catalogue(())
