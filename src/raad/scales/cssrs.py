"""Risk level of the C-SSRS screener (an instrument without a total).

The grades and the answers that raise them are data (``risk_levels`` in
``instruments/cssrs_screener.yaml``, each with its sources): high = yes to question 4 or 5, or
yes to 6 with 6b (past 3 months); moderate = yes to 3, or to 6 without 6b; low = yes to 1 or 2
only; all no = negative. The Columbia triage is guidance for the clinician, not a decision.
"""

from __future__ import annotations

from .model import Instrument


def risk_level(instr: Instrument, values: dict[str, int], *, complete: bool = True) -> str | None:
    """The first grade of ``instr.risk_levels`` whose answers are all yes, else "negative".

    ``values``: validated item id -> 0/1, after skip logic. On an incomplete record the risk
    can only rise with the missing answers: the highest grade is given as it is ("high"), a
    lower one as "at least <grade>", and None when no yes is recorded yet. An instrument
    without risk levels (a diary) has no risk: None.
    """
    if not instr.risk_levels:
        return None
    for n, grade in enumerate(instr.risk_levels):
        if any(all(values.get(i, 0) >= 1 for i in group) for group in grade.when_any):
            return grade.level if complete or n == 0 else f"at least {grade.level}"
    return "negative" if complete else None
