"""Whose a command's target is: the organisation a grantee's command must belong to.

A grantee may act only on its own awards, participants and complaints, and one of
another grantee's must look exactly like one that does not exist. So the owner is found
before any rule is judged: the program's rules would otherwise say first that another's
award is closed, or its complaint already resolved, which is that grantee's business.

Each owner is read from the signed event that opened the target's stream: an award's
grantee (its data), a participant's or a complaint's organisation (who recorded it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.cases import Complaint, Participant
from domain.funds import Award
from projections.system import System

Owner = Callable[[System, dict[str, str], Any], str | None]


def _opening(system: System, stream_id: UUID) -> dict[str, Any] | None:
    return system.app.opening_event(stream_id)


def award_grantee(system: System, ids: dict[str, str], _body: Any) -> str | None:
    opened = _opening(system, Award.create_id(ids["award_id"]))
    return None if opened is None else str(opened["data"]["grantee"])


def participant_grantee(system: System, ids: dict[str, str], _body: Any) -> str | None:
    return _recorded_by(system, Participant.create_id(ids["participant_id"]))


def complaint_filer(system: System, ids: dict[str, str], _body: Any) -> str | None:
    return _recorded_by(system, Complaint.create_id(ids["complaint_id"]))


def named_participant_grantee(system: System, _ids: dict[str, str], body: Any) -> str | None:
    """For a command naming its participant in the body (or none: then it is no one's)."""
    participant = getattr(body, "participant_id", None)
    if participant is None:
        return ""  # names no one: nothing to hide
    return _recorded_by(system, Participant.create_id(participant))


def _recorded_by(system: System, stream_id: UUID) -> str | None:
    opened = _opening(system, stream_id)
    return None if opened is None else str(opened["org"])
