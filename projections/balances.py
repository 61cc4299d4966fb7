"""Balances and SF-425 figures, per appropriation, award and grantee, as of any entry.

The projection keeps one movement row per funds event, keyed by its seq. The balance
now is the sum of every movement; the balance "once entry N had been applied" is the
same sum over seq <= N. So a replay as of any moment reads no entry after it, and
needs no snapshot.
"""

from __future__ import annotations

from typing import Any

from domain import catalogue as c
from projections import anchors
from projections.db import ProjectionDB

FIELDS = ("authorised", "disbursed", "reversed", "refunded", "expended")
FUNDS_MOVEMENTS = {
    c.AWARD_MADE: "authorised",
    c.AWARD_AMENDED: "authorised",
    c.DISBURSEMENT_RECORDED: "disbursed",
    c.DISBURSEMENT_REVERSED: "reversed",
    c.REFUND_RECEIVED: "refunded",
    c.EXPENDITURE_REPORTED: "expended",
}


class Balances:
    name = "balances"
    version = 3  # 3: each movement's day
    types = frozenset({c.APPROPRIATION_RECORDED, c.AWARD_CLOSED, *FUNDS_MOVEMENTS})
    tables: tuple[str, ...] = (
        "bal_appropriations",
        "bal_awards",
        "bal_movements",
        "bal_disbursements",
    )

    def create(self, db: ProjectionDB) -> None:
        db.execute(
            "CREATE TABLE bal_appropriations (appropriation_id TEXT PRIMARY KEY,"
            " fiscal_year BIGINT NOT NULL, public_law TEXT NOT NULL,"
            " amount_cents BIGINT NOT NULL, seq BIGINT NOT NULL)"
        )
        db.execute(
            "CREATE TABLE bal_awards (award_id TEXT PRIMARY KEY,"
            " appropriation_id TEXT NOT NULL, grantee TEXT NOT NULL, method TEXT NOT NULL,"
            " period_start TEXT NOT NULL, period_end TEXT NOT NULL, seq BIGINT NOT NULL,"
            " closed_seq BIGINT)"
        )
        db.execute(
            f"CREATE TABLE bal_movements (seq {db.seq_key}, award_id TEXT NOT NULL,"
            " kind TEXT NOT NULL, field TEXT NOT NULL, amount_cents BIGINT NOT NULL,"
            " on_date TEXT NOT NULL)"
        )
        db.execute("CREATE INDEX bal_movements_award ON bal_movements (award_id, seq)")
        db.execute(
            "CREATE TABLE bal_disbursements (award_id TEXT NOT NULL,"
            " disbursement_id TEXT NOT NULL, payment_ref TEXT NOT NULL,"
            " paid_on TEXT NOT NULL, amount_cents BIGINT NOT NULL, seq BIGINT NOT NULL,"
            " reversed_seq BIGINT, PRIMARY KEY (award_id, disbursement_id))"
        )

    def apply(self, db: ProjectionDB, seq: int, event: dict[str, Any]) -> None:
        kind, d = event["type"], event["data"]
        if kind == c.APPROPRIATION_RECORDED:
            db.insert(
                "bal_appropriations",
                (d["appropriation_id"], d["fiscal_year"], d["public_law"], d["amount_cents"], seq),
            )
            return
        if kind == c.AWARD_MADE:
            db.insert(
                "bal_awards",
                (
                    d["award_id"],
                    d["appropriation_id"],
                    d["grantee"],
                    d["method"],
                    d["period_start"],
                    d["period_end"],
                    seq,
                    None,  # closed_seq
                ),
            )
        elif kind == c.AWARD_CLOSED:
            db.execute(
                "UPDATE bal_awards SET closed_seq = ? WHERE award_id = ?", (seq, d["award_id"])
            )
            return
        elif kind == c.DISBURSEMENT_RECORDED:
            db.insert(
                "bal_disbursements",
                (
                    d["award_id"],
                    d["disbursement_id"],
                    d["payment_ref"],
                    d["paid_on"],
                    d["amount_cents"],
                    seq,
                    None,  # reversed_seq
                ),
            )
        field = FUNDS_MOVEMENTS[kind]
        amount = self._amount(db, kind, d)
        # The day the money moved (paid, spent, received), where the event says; else
        # the day it was recorded (an amendment, a reversal).
        on = c.CATALOGUE[kind].on
        on_date = str(d[on]) if on else str(event["at"])[:10]
        db.insert("bal_movements", (seq, d["award_id"], kind, field, amount, on_date))
        if kind == c.DISBURSEMENT_REVERSED:
            db.execute(
                "UPDATE bal_disbursements SET reversed_seq = ?"
                " WHERE award_id = ? AND disbursement_id = ?",
                (seq, d["award_id"], d["disbursement_id"]),
            )

    @staticmethod
    def _amount(db: ProjectionDB, kind: str, d: dict[str, Any]) -> int:
        if kind == c.AWARD_MADE:
            return int(d["amount_cents"])
        if kind == c.AWARD_AMENDED:
            return int(d["delta_cents"])
        if kind == c.DISBURSEMENT_REVERSED:
            rows = db.query(
                "SELECT amount_cents FROM bal_disbursements"
                " WHERE award_id = ? AND disbursement_id = ?",
                (d["award_id"], d["disbursement_id"]),
            )
            return int(rows[0]["amount_cents"]) if rows else 0
        return int(d["amount_cents"])

    def digest_queries(self) -> list[str]:
        return [
            "SELECT * FROM bal_appropriations ORDER BY appropriation_id",
            "SELECT * FROM bal_awards ORDER BY award_id",
            "SELECT * FROM bal_movements ORDER BY seq",
            "SELECT * FROM bal_disbursements ORDER BY award_id, disbursement_id",
        ]


class LogIndex:
    """When each entry was recorded, of which type, by which organisation: how an
    instant becomes a seq for replay, and how the inspector's entry browser finds them.
    `latest_at` is the latest instant of the entries up to each one (instants may run
    backwards a little from one entry to the next): what a report as of it rests on."""

    name = "log_index"
    version = 3
    types = None
    tables: tuple[str, ...] = ("log_index",)

    def __init__(self) -> None:
        # latest_at of the last row this process wrote, and its seq: trusted only for the
        # very next entry (another process, or a batch rolled back, may have moved on).
        self._last: tuple[int, str] | None = None

    def create(self, db: ProjectionDB) -> None:
        db.execute(
            f"CREATE TABLE log_index (seq {db.seq_key}, at TEXT NOT NULL,"
            " type TEXT NOT NULL, org TEXT NOT NULL, latest_at TEXT NOT NULL)"
        )
        db.execute("CREATE INDEX log_index_at ON log_index (at)")
        db.execute("CREATE INDEX log_index_type ON log_index (type, seq)")
        db.execute("CREATE INDEX log_index_org ON log_index (org, seq)")
        self._last = None

    def apply(self, db: ProjectionDB, seq: int, event: dict[str, Any]) -> None:
        before: str | None = None
        if self._last is not None and self._last[0] == seq - 1:
            before = self._last[1]
        elif seq > 0:
            rows = db.query("SELECT latest_at FROM log_index WHERE seq = ?", (seq - 1,))
            before = rows[0]["latest_at"] if rows else None
        at = event["at"]
        latest = at if before is None or at > before else before
        db.insert("log_index", (seq, at, event["type"], event["org"], latest))
        self._last = (seq, latest)

    def digest_queries(self) -> list[str]:
        return ["SELECT * FROM log_index ORDER BY seq"]


def seq_at(db: ProjectionDB, instant: str, before: int | None = None) -> int | None:
    """The last entry recorded at or before `instant` (None if none was), of those before
    seq `before` if given (the entries whose instants were known when the cut was made)."""
    rows = db.query(
        "SELECT MAX(seq) AS seq FROM log_index WHERE at <= ? AND seq < ?",
        (instant, 2**62 if before is None else before),
    )
    value = rows[0]["seq"]
    return None if value is None else int(value)


def _sf425(row: dict[str, Any]) -> dict[str, int]:
    a = row["disbursed"] - row["reversed"] - row["refunded"]
    b = row["expended"]
    d = row["authorised"]
    e, f = b, 0  # the federal share is the whole expenditure; obligations are not modelled
    return {
        "10a": a,
        "10b": b,
        "10c": a - b,
        "10d": d,
        "10e": e,
        "10f": f,
        "10g": e + f,
        "10h": d - (e + f),
    }


def report(db: ProjectionDB, at_seq: int | None = None) -> dict[str, Any]:
    """Every balance once entry `at_seq` had been applied (default: all that is projected)."""
    limit = (at_seq + 1) if at_seq is not None else 2**62
    sums = ", ".join(
        f"COALESCE(SUM(CASE WHEN m.field = '{f}' THEN m.amount_cents END), 0) AS {f}"
        for f in FIELDS
    )
    awards = db.query(
        f"SELECT a.award_id, a.appropriation_id, a.grantee, a.method, a.period_start,"  # noqa: S608
        f" a.period_end, CASE WHEN a.closed_seq < ? THEN 1 ELSE 0 END AS closed, {sums}"
        " FROM bal_awards a LEFT JOIN bal_movements m"
        " ON m.award_id = a.award_id AND m.seq < ?"
        " WHERE a.seq < ? GROUP BY a.award_id, a.appropriation_id, a.grantee, a.method,"
        " a.period_start, a.period_end, a.closed_seq ORDER BY a.award_id",
        (limit, limit, limit),
    )
    for award in awards:
        for key in (*FIELDS, "closed"):
            award[key] = int(award[key])
        award["closed"] = bool(award["closed"])
        award["cash_on_hand"] = (
            award["disbursed"] - award["reversed"] - award["refunded"] - award["expended"]
        )
        award["remaining"] = award["authorised"] - (award["disbursed"] - award["reversed"])
        award["sf425"] = _sf425(award)
    appropriations = []
    for row in db.query(
        "SELECT * FROM bal_appropriations WHERE seq < ? ORDER BY appropriation_id", (limit,)
    ):
        mine = [a for a in awards if a["appropriation_id"] == row["appropriation_id"]]
        totals = {f: sum(a[f] for a in mine) for f in FIELDS}
        appropriations.append(
            {
                "appropriation_id": row["appropriation_id"],
                "fiscal_year": row["fiscal_year"],
                "public_law": row["public_law"],
                "amount": int(row["amount_cents"]),
                **totals,
                "unobligated": int(row["amount_cents"]) - totals["authorised"],
                "awards": len(mine),
            }
        )
    grantees = []
    for grantee in sorted({a["grantee"] for a in awards}):
        mine = [a for a in awards if a["grantee"] == grantee]
        totals = {f: sum(a[f] for a in mine) for f in (*FIELDS, "cash_on_hand", "remaining")}
        grantees.append({"grantee": grantee, "awards": len(mine), **totals})
    control = db.query(
        "SELECT kind, COUNT(*) AS events, SUM(amount_cents) AS cents FROM bal_movements"
        " WHERE seq < ? GROUP BY kind ORDER BY kind",
        (limit,),
    )
    return {
        "as_of_seq": at_seq,
        "appropriations": appropriations,
        "awards": awards,
        "grantees": grantees,
        "control_totals": {
            r["kind"]: {"events": int(r["events"]), "cents": int(r["cents"])} for r in control
        },
    }


SF425_LINES = ("10a", "10b", "10c", "10d", "10e", "10f", "10g", "10h")


def sf425(result: dict[str, Any]) -> dict[str, Any]:
    """The SF-425 (Federal Financial Report) lines 10a to 10h of a balances report, per
    award and in total: the figures that are sent to the awarding agency."""
    awards = [
        {k: a[k] for k in ("award_id", "grantee", "appropriation_id", "period_start", "period_end")}
        | {"sf425": a["sf425"]}
        for a in result["awards"]
    ]
    answer = {
        "as_of_seq": result["as_of_seq"],
        "rests_on": result.get("rests_on"),
        "awards": awards,
        "totals": {line: sum(a["sf425"][line] for a in awards) for line in SF425_LINES},
    }
    if "anchor" in result:  # the same entry and checkpoint; the digest of these figures
        answer = anchors.restamped({**answer, "anchor": result["anchor"]})
    return answer
