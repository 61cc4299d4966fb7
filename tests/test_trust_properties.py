"""A state machine: random key changes and signed writes, refused or accepted as the rules say.

After every step the log holds exactly the accepted writes and verifies: the recorder
never commits an entry the verifier would reject, and never refuses one it would accept.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ledger.appender import LogWriteError
from ledger.registry import KeyRuleError
from ledger.signing import Signer, SigningKey
from tests.helpers import open_ledger
from tests.sample import sample_payment

ORGS = ["org:board", "org:cws", "org:irc"]
ROLE_SETS = [("board",), ("grantee",), ("fiscal_agent",), ("fiscal_agent", "grantee")]


class TrustMachine(RuleBasedStateMachine):
    @initialize()
    def open(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.ledger = open_ledger(f"sqlite:///{self.tmp / 'db.sqlite3'}")
        root, clerk = self.ledger.root, self.ledger.clerk
        # The model: every signer we hold, and whether its key is live.
        self.signers: list[Signer] = [root, clerk]
        self.live = {root.key.key_id: True, clerk.key.key_id: True}
        self.size = self.ledger.app.store.head().size

    def teardown(self) -> None:
        if hasattr(self, "ledger"):
            self.ledger.app.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _may(self, signer: Signer, role: str) -> bool:
        return self.live.get(signer.key.key_id, False) and role in signer.key.roles

    @rule(data=st.data(), holder=st.sampled_from(ORGS), roles=st.sampled_from(ROLE_SETS))
    def register(self, data: st.DataObject, holder: str, roles: tuple[str, ...]) -> None:
        by = data.draw(st.sampled_from(self.signers))
        new = Signer(SigningKey.generate(holder, roles))
        expected = self._may(by, "board")
        try:
            self.ledger.app.register_key(by, new.key.public_key, holder, list(roles))
            accepted = True
        except LogWriteError:
            accepted = False
        assert accepted == expected
        self.signers.append(new)  # kept even if refused: it then signs as a stranger
        if accepted:
            self.live[new.key.key_id] = True
            self.size += 1

    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        by = data.draw(st.sampled_from(self.signers))
        target = data.draw(st.sampled_from(self.signers))
        live_boards = [s for s in self.signers if self._may(s, "board")]
        rule_ok = self.live.get(target.key.key_id, False) and live_boards != [target]
        expected = rule_ok and self._may(by, "board")
        try:
            self.ledger.app.revoke_key(by, target.key.key_id, "rotation")
            accepted = True
        except (LogWriteError, KeyRuleError):
            accepted = False
        assert accepted == expected
        if accepted:
            self.live[target.key.key_id] = False
            self.size += 1

    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        by = data.draw(st.sampled_from(self.signers))
        expected = self._may(by, "grantee")
        try:
            self.ledger.app.save(sample_payment(), signer=by)
            accepted = True
        except LogWriteError:
            accepted = False
        assert accepted == expected
        self.size += accepted

    @invariant()
    def the_log_holds_what_was_accepted_and_verifies(self) -> None:
        if not hasattr(self, "ledger"):
            return
        assert self.ledger.app.store.head().size == self.size
        self.ledger.log.checkpoint()
        report = self.ledger.verify()
        assert report.ok, list(report.lines())


TestTrust = TrustMachine.TestCase
TestTrust.settings = settings(
    max_examples=40,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
