"""Instants within bounds (LEDGER_FORMAT.md sections 2 and 7, check 3): a writer refuses
an event more than 300 s from its clock; the verifier reports an entry more than 300 s
earlier than the one before it, as a stolen key and a writer of one's own could make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.organisations import Organisation
from ledger.appender import InstantBounds, LogWriteError
from ledger.report import Check
from tests.helpers import BareLedger

ORGANISATION = {"org_id": "org:backdated", "name": "Backdated", "kind": "grantee", "uei": None}


def dated(data: dict[str, Any], moment: datetime) -> Organisation:
    """An organisation registered, its event stamped `moment` instead of now."""
    aggregate = Organisation.open(dict(data))
    for event in aggregate.pending_events:
        object.__setattr__(event, "timestamp", moment)
    return aggregate


@pytest.mark.parametrize("offset", [-301, 301, -86_400 * 365 * 4])
def test_a_writer_refuses_an_instant_far_from_its_clock(database_url: str, offset: int) -> None:
    ledger = BareLedger(database_url)
    size = ledger.app.store.head().size
    moment = datetime.now(UTC) + timedelta(seconds=offset)
    with pytest.raises(LogWriteError, match="300 s from this writer's clock"):
        ledger.app.save(dated(ORGANISATION, moment), signer=ledger.board)
    assert ledger.app.store.head().size == size
    ledger.app.save(dated(ORGANISATION, datetime.now(UTC)), signer=ledger.board)  # and now


def test_the_verifier_reports_a_backdated_entry(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = BareLedger(database_url)
    now = datetime.now(UTC)
    ledger.app.save(dated(ORGANISATION, now), signer=ledger.board)
    # Up to 300 s earlier than the entry before is skew between writers' clocks.
    skewed = {**ORGANISATION, "org_id": "org:skewed"}
    ledger.app.save(dated(skewed, now - timedelta(seconds=290)), signer=ledger.board)
    ledger.log.checkpoint()
    assert ledger.verify().ok
    # An operator with the board's key and a writer of their own, which checks no clock.
    monkeypatch.setattr(InstantBounds, "around_now", classmethod(lambda cls: cls("0", "9")))
    backdated = {**ORGANISATION, "org_id": "org:earlier"}
    seq = ledger.app.store.head().size
    ledger.app.save(dated(backdated, datetime(2022, 1, 1, tzinfo=UTC)), signer=ledger.board)
    ledger.log.checkpoint()
    report = ledger.verify()
    chain = [(f.seq, f.message) for f in report.findings[Check.CHAIN]]
    assert len(chain) == 1 and chain[0][0] == seq and "backdated" in chain[0][1], chain
    assert {check for check, count in report.counts.items() if count} == {Check.CHAIN}
