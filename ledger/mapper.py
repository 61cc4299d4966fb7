"""The eventsourcing Mapper that makes each domain event a signed ledger event.

Domain events become the canonical event of LEDGER_FORMAT.md section 2: `type`
is the event class's explicit TOPIC, `data` is the event's own attributes, and
the envelope names the actor, organisation and key. Signing needs the signer,
which eventsourcing's Mapper interface does not carry, so the application's
`SigningEventStore` passes it from `app.save(..., signer=...)`; a plain
`to_stored_event` refuses, so nothing reaches the log unsigned.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import CanInitAggregate, DomainEventProtocol
from eventsourcing.persistence import EventStore, Mapper, Notification, Recording, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from ledger import canonical
from ledger.appender import SignedStoredEvent
from ledger.entry import EntryError, format_instant, parse_instant, read_event, signed_state
from ledger.hashing import b64encode
from ledger.replay import altered
from ledger.signing import Signer

ENVELOPE = ("originator_id", "originator_version", "timestamp", "originator_topic")


class UnsignedEventError(RuntimeError):
    """An attempt to store an event without a signer."""


def event_type(cls: type[Any]) -> str:
    topic = get_topic(cls)
    if ":" in topic:
        raise TypeError(f"{cls.__qualname__} needs an explicit TOPIC such as 'area.Name'")
    return str(topic)  # a declared EventType is a str subclass: store the plain name


def _aggregate_topic(cls: type[Any]) -> str:
    # A creation event is declared inside its aggregate class: find that class.
    outer_name = cls.__qualname__.rsplit(".", 1)[0]
    outer: Any = sys.modules[cls.__module__]
    for part in outer_name.split("."):
        outer = getattr(outer, part)
    return get_topic(outer)


class SigningMapper(Mapper[Any]):
    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        raise UnsignedEventError(
            "ledger events are signed: save them with app.save(..., signer=Signer(...))"
        )

    def to_signed_stored_events(
        self, domain_events: Sequence[Any], signer: Signer
    ) -> list[StoredEvent]:
        events = [self._ledger_event(e, signer) for e in domain_events]
        encoded = [canonical.dumps(event) for event in events]
        signatures = signer.key.sign_many(encoded)
        return [
            SignedStoredEvent(
                originator_id=domain_event.originator_id,
                originator_version=domain_event.originator_version,
                topic=event["type"],
                state=signed_state(event_bytes, b64encode(sig)),
                event=event,
            )
            for domain_event, event, event_bytes, sig in zip(
                domain_events, events, encoded, signatures, strict=True
            )
        ]

    @staticmethod
    def _ledger_event(domain_event: Any, signer: Signer) -> dict[str, Any]:
        attributes = vars(domain_event)
        return {
            "type": event_type(type(domain_event)),
            "stream": str(domain_event.originator_id),
            "version": domain_event.originator_version,
            "at": format_instant(signer.at or domain_event.timestamp),
            "actor": signer.actor,
            "org": signer.org,
            "key": signer.key.key_id,
            "data": {k: v for k, v in attributes.items() if k not in ENVELOPE},
        }

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        cls = resolve_topic(stored_event.topic)
        # An aggregate is read before a writer replays the log, so bytes an operator
        # wrote into the row are met here first: refused as the replay would refuse them.
        try:
            event = read_event(stored_event.state)
            timestamp = parse_instant(event["at"])
        except EntryError as exc:
            raise altered(
                f"event {stored_event.originator_version} of stream "
                f"{stored_event.originator_id} is not a signed event ({exc})"
            ) from None
        state: dict[str, Any] = dict(event["data"])
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        state["timestamp"] = timestamp
        if issubclass(cls, CanInitAggregate):
            state["originator_topic"] = _aggregate_topic(cls)
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", state)
        return domain_event  # type: ignore[no-any-return]


class SigningEventStore(EventStore[Any]):
    """An event store whose `put` signs each event with the saver's signer."""

    mapper: SigningMapper

    def put(
        self, domain_events: Sequence[DomainEventProtocol[Any]], **kwargs: Any
    ) -> list[Recording[Any]]:
        signer = kwargs.pop("signer", None)
        if not isinstance(signer, Signer):
            raise UnsignedEventError("app.save(...) needs signer=Signer(key)")
        stored = self.mapper.to_signed_stored_events(domain_events, signer)
        notification_ids = self.recorder.insert_events(stored, **kwargs)
        if not notification_ids:
            return []
        return [
            Recording(
                d,
                Notification(
                    id=n,
                    originator_id=s.originator_id,
                    originator_version=s.originator_version,
                    topic=s.topic,
                    state=s.state,
                ),
            )
            for d, s, n in zip(domain_events, stored, notification_ids, strict=True)
        ]
