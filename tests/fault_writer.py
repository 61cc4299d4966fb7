"""A writer process for the fault-injection suite: enrols one participant, then says so.

    python -m tests.fault_writer PARTICIPANT_ID [SQL_FRAGMENT before|after]

Its settings come from the CMPP_* environment, as `cmpp`'s do. With a SQL fragment
(SQLite only) the process kills itself with SIGKILL when that statement starts
("before") or when the one after it starts ("after"); on PostgreSQL the test's proxy
kills it instead. It prints RECORDED once the command has returned.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from projections.settings import load_settings
from projections.system import System
from tests.sqlite_faults import instrumented


def enrol(system: System, participant_id: str) -> None:
    system.app.enrol_participant(
        system.signer("org:irc", "grantee"),
        participant_id=participant_id,
        **ENROLMENT,
    )


ENROLMENT: dict[str, Any] = {
    "enrolled_on": "2023-01-09",
    "referral_source": "ice_ero",
    "language": "es",
    "age_band": "35-44",
    "gender": "female",
    "nationality": "PE",
    "pii": {"name": "Ana María Quispe Huamán", "a_number": "A201456789"},
}


def main(argv: list[str]) -> None:
    participant_id = argv[0]
    hooks: AbstractContextManager[Any] = instrumented() if len(argv) > 1 else nullcontext()
    with hooks as faults, System(load_settings()) as system:
        system.app.rules  # noqa: B018
        system.app.vault  # noqa: B018 (made before the fault is armed)
        if faults is not None:
            faults.arm(argv[1], after=argv[2] == "after", kind="kill")
        enrol(system, participant_id)
    print("RECORDED", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
