"""Errors with one root: every error a user can cause is a UserError naming its rule, so the
command line maps one class to exit code 2 (and the API one class to problem+json)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import domain
import ledger
import projections
import tools
from ledger.errors import UserError

# Errors that never reach a user as such: each is caught and turned into a UserError,
# a verification finding, or a fallback, where it is raised.
INTERNAL = {
    "ledger.canonical.CanonicalError",  # bytes that are not canonical: a finding
    "ledger.entry.EntryError",  # an entry that is not well formed: a finding
    "ledger.merkle.ProofError",  # a proof that does not verify: a finding
    "ledger.trust.TrustError",  # becomes LogWriteError (writers) or a finding (verifier)
    "ledger.mapper.UnsignedEventError",  # a programming error: a save without a signer
    "ledger.guard_snapshot.SnapshotRejectedError",  # the snapshot is discarded, log replayed
    "ledger.outcome.AlreadyRecorded",  # a retried write found itself committed: success
    "ledger.prepared._Captured",  # a prepared command's event, handed back: success
    "tools.server_commands._Stopped",  # SIGTERM after a graceful shutdown: a clean stop
    # The log does not verify: a --verified answer shows the findings and exits 1.
    "projections.verified.LogNotVerifiedError",
}


def _errors() -> list[type[BaseException]]:
    found = []
    for package in (ledger, domain, projections, tools):
        for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for _name, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, Exception) and cls.__module__ == module.__name__:
                    found.append(cls)
    return found


@pytest.mark.parametrize("error", _errors(), ids=lambda e: e.__qualname__)
def test_every_error_a_user_can_cause_is_a_user_error_with_a_rule(
    error: type[BaseException],
) -> None:
    name = f"{error.__module__}.{error.__qualname__}"
    if name in INTERNAL:
        assert not issubclass(error, UserError), f"{name} is listed as internal"
        return
    assert issubclass(error, UserError), f"{name} does not derive from UserError"
    assert isinstance(error.rule, str) and error.rule  # type: ignore[attr-defined]
