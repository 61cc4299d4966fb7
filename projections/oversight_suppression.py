"""The oversight view as it may leave the oversight role: small counts hidden, and as many
more as it takes that no hidden count can be worked out from the published ones.

The view's counts that add up are lists with a published total: participants,
consents and services by age band, gender, nationality and language (totals: the
view's participants, consented, and services); services without a valid consent by
finding (total: their count); a category's complaints by outcome (total: resolved). In
such a list an attacker knows only that the hidden counts, each at least 1, add up to
the total less the published ones (S): each lies between 1 and S - (h - 1), h of them.
So counts from 1 to 10 are hidden, then the smallest others, until that range is at
least 10 wide (S - h >= 10), or every count of the list is. A count standing alone
(a total, a category's complaints filed) is hidden from 1 to 10. A hidden count shows
"suppressed".
"""

from __future__ import annotations

import copy
from typing import Any

from projections.suppression import MIN_WIDTH, SMALL

HIDDEN = "suppressed"


def hidden_in_list(counts: list[int], total: int | None) -> set[int]:
    """The positions of `counts` to hide, the list adding up to `total` (None: the total
    is hidden, and nothing bounds a hidden count from above)."""
    hidden = {i for i, n in enumerate(counts) if 1 <= n <= SMALL}
    shown = sorted((n, i) for i, n in enumerate(counts) if i not in hidden and n > 0)
    if total is None:
        # The total must not be the sum of a list shown whole.
        return hidden or ({shown[0][1]} if shown else set())
    if not hidden:
        return hidden
    while shown and _width(counts, hidden, total) < MIN_WIDTH:
        hidden.add(shown.pop(0)[1])
    return hidden


def _width(counts: list[int], hidden: set[int], total: int) -> int:
    """How wide each hidden count's range is: from 1 to (what they add up to) - (h - 1)."""
    rest = total - sum(n for i, n in enumerate(counts) if i not in hidden)
    return rest - len(hidden)


def _holds(counts: list[int], hidden: set[int], total: int) -> bool:
    return not hidden or _width(counts, hidden, total) >= MIN_WIDTH


def protect_lists(lists: list[list[int]], total: int) -> tuple[bool, list[set[int]]]:
    """Whether the lists' shared total must be hidden, and each list's hidden positions.
    The total is hidden when it is from 1 to 10, or when some list cannot keep its hidden
    counts 10 wide beside it; then every list hides at least one count."""
    if not 1 <= total <= SMALL:
        hiddens = [hidden_in_list(counts, total) for counts in lists]
        if all(_holds(c, h, total) for c, h in zip(lists, hiddens, strict=True)):
            return False, hiddens
    return True, [hidden_in_list(counts, None) for counts in lists]


def _standalone(n: Any) -> Any:
    return HIDDEN if isinstance(n, int) and 1 <= n <= SMALL else n


def suppressed(view: dict[str, Any]) -> dict[str, Any]:
    """The unsuppressed view's figures with their small counts hidden (see above)."""
    out = copy.deepcopy(view)
    dims = list(out["disparities"].values())
    totals = {
        "participants": view["participants"],
        "consented": view["consent"]["consented"],
        "services": view["language_access"]["services"],
    }
    hidden_totals = set()
    for member, total in totals.items():
        lists = [[int(r[member]) for r in rows] for rows in dims]
        total_hidden, hiddens = protect_lists(lists, total)
        if total_hidden:
            hidden_totals.add(member)
        for rows, hide in zip(dims, hiddens, strict=True):
            for n in hide:
                rows[n][member] = HIDDEN
    findings = out["services_without_valid_consent"]
    if _hide_keys(findings["by_finding"], findings["count"]):
        findings["count"] = HIDDEN
    for complaint in out["complaints"].values():
        if _hide_keys(complaint["outcomes"], complaint["resolved"]):
            complaint["resolved"] = HIDDEN
        complaint["filed"] = _standalone(complaint["filed"])
    if "participants" in hidden_totals:
        out["participants"] = HIDDEN
    if "consented" in hidden_totals:
        out["consent"]["consented"] = HIDDEN
    if "services" in hidden_totals:
        out["language_access"]["services"] = HIDDEN
    out["participants"] = _standalone(out["participants"])
    for member in ("consented", "withdrew"):
        out["consent"][member] = _standalone(out["consent"][member])
    # A rate of two counts gives one from the other: none is shown beside a hidden count.
    consent = out["consent"]
    if HIDDEN in (out["participants"], consent["consented"]):
        consent["consent_rate"] = HIDDEN
    if HIDDEN in (consent["consented"], consent["withdrew"]):
        consent["withdrawal_rate"] = HIDDEN
    findings["count"] = _standalone(findings["count"])
    unreleased = out["referrals_without_release"]
    unreleased["count"] = _standalone(unreleased["count"])
    for member, n in list(out["language_access"].items()):
        out["language_access"][member] = _standalone(n)
    accesses = out["protected_record_accesses"]
    for purpose, n in list(accesses.items()):
        accesses[purpose] = _standalone(n)
    return out


def _hide_keys(counts: dict[str, Any], total: int) -> bool:
    """Hide counts of a keyed list adding up to `total`; whether the total is hidden too."""
    keys = sorted(counts)
    total_hidden, [hide] = protect_lists([[int(counts[k]) for k in keys]], total)
    for n in hide:
        counts[keys[n]] = HIDDEN
    return total_hidden
