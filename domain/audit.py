"""What the server records about itself: reads of protected records, and exports.

Each access or export is a stream of its own (a random id): one event, never changed.
"""

from __future__ import annotations

from domain import catalogue as c
from domain.streams import Stream
from ledger.events import opening


class RecordsAccess(Stream):
    TOPIC = "domain.RecordsAccess"
    KEY, PREFIX = None, "access"
    Created = opening(c.RECORDS_ACCESSED)


class Export(Stream):
    TOPIC = "domain.Export"
    KEY, PREFIX = None, "export"
    Created = opening(c.EXPORT_GENERATED)
