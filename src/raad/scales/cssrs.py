"""Risk level of the C-SSRS screener (an instrument without a total).

'high': yes to question 4 or 5, or yes to 6 with 6b (past 3 months) - the triage rule as a
secondary source (drcheng-cssrs in knowledge/sources.yaml) summarises it; any other yes is a
'positive' screen graded by the clinician; all no is 'negative'. The official colour-coded
triage table was not read, so no 'low'/'moderate' grade is assigned here.
"""

from __future__ import annotations

from .model import Instrument


def risk_level(instr: Instrument, values: dict[str, int]) -> str:
    if (
        values.get("4") == 1
        or values.get("5") == 1
        or (values.get("6") == 1 and values.get("6b") == 1)
    ):
        return "high"
    if any(v == 1 for v in values.values()):
        return "positive"
    return "negative"
