"""eventsourcing event classes whose data members come from their declared EventType.

An aggregate declares an event by naming its type, and nothing else:

    class Award(Aggregate):
        Created = opening(AWARD_MADE)       # an EventType: the name, members, signers
        Amended = recording(AWARD_AMENDED)

The members become the event's dataclass fields here (before eventsourcing makes it a
frozen dataclass), so they are written once, in the catalogue, and the signed event's
`data` holds exactly them (LEDGER_FORMAT.md section 2).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from ledger.catalogue import EventType


def _declare_members(cls: type[Any]) -> None:
    if "TOPIC" not in cls.__dict__:
        return  # eventsourcing's own subclass of a declared event: it inherits the fields
    topic = cls.__dict__["TOPIC"]
    if not isinstance(topic, EventType):
        raise TypeError(f"{cls.__qualname__}.TOPIC must be an EventType of the catalogue")
    cls.__annotations__ = {name: Any for name in topic.members}


class DeclaredEvent(Aggregate.Event):
    """An event recorded on an existing stream."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        _declare_members(cls)
        super().__init_subclass__(**kwargs)


class DeclaredCreated(Aggregate.Created):
    """The event that opens a stream."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        _declare_members(cls)
        super().__init_subclass__(**kwargs)


def opening(event_type: EventType) -> type[DeclaredCreated]:
    """The creation event of a stream, of `event_type` (name it `Created` in the aggregate)."""
    return type(event_type.short_name, (DeclaredCreated,), {"TOPIC": event_type})


def recording(event_type: EventType) -> type[DeclaredEvent]:
    """An event recorded on an existing stream, of `event_type`."""
    return type(event_type.short_name, (DeclaredEvent,), {"TOPIC": event_type})
