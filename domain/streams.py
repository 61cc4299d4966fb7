"""What every aggregate of the program is: a stream of one thing's events, recorded.

An award, a participant, a complaint… each is a stream whose id comes from its own
business id (so the same id twice conflicts in the database), holding events of the
catalogue. The aggregates decide nothing: the rules (domain.rules) judge every event
under the writers' lock, against the whole log. So an aggregate only lists its events.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate

from ledger.catalogue import EventType


class Stream(Aggregate):
    KEY: ClassVar[str | None]  # the member naming the thing (award_id…); None: a random id
    PREFIX: ClassVar[str]  # stream ids are uuid5(URL, "cmpp:<PREFIX>/<key>")

    @classmethod
    def create_id(cls, key: str | None) -> UUID:
        if cls.KEY is None:
            return uuid4()
        return uuid5(NAMESPACE_URL, f"cmpp:{cls.PREFIX}/{key}")

    @classmethod
    def id_for(cls, data: dict[str, Any]) -> UUID:
        return cls.create_id(None if cls.KEY is None else data[cls.KEY])

    @classmethod
    def opens(cls, event_type: EventType) -> bool:
        """Is `event_type` the event that opens a stream of this kind?"""
        return bool(event_type == getattr(cls.Created, "TOPIC", None))

    @classmethod
    def open(cls, data: dict[str, Any]) -> Self:
        """A new stream, opened by its Created event with `data`."""
        return cls._create(cls.Created, id=cls.id_for(data), **data)

    def record(self, event_type: EventType, data: dict[str, Any]) -> None:
        self.trigger_event(self._event_class(event_type), **data)

    @classmethod
    def _event_class(cls, event_type: EventType) -> type[Any]:
        for event_class in cls.event_classes():
            if event_type == event_class.TOPIC:
                return event_class
        raise LookupError(f"{event_type} is not an event of {cls.__name__}")

    @classmethod
    def event_classes(cls) -> list[type[Any]]:
        return [
            value
            for value in vars(cls).values()
            if isinstance(value, type) and isinstance(getattr(value, "TOPIC", None), EventType)
        ]


def streams_by_type(*streams: type[Stream]) -> dict[str, type[Stream]]:
    """Which stream holds each event type; a type in two streams is a mistake."""
    index: dict[str, type[Stream]] = {}
    for stream in streams:
        for event_class in stream.event_classes():
            if index.setdefault(event_class.TOPIC, stream) is not stream:
                raise ValueError(f"{event_class.TOPIC} is in two streams")
    return index
