"""The evidence explorer's data: the trial base and a pooled analysis with its forest plot."""

from __future__ import annotations

import io
from typing import Any

from raad.evidence import plots, rma
from raad.evidence.pooling import as_arrays, md_rows
from raad.knowledge.trials import trial_base

TIMES = ("2h", "24h", "1w", "2w", "4w")
AGENTS = ("n2o", "ketamine", "esketamine", "naltrexone")


def check(agent: str, dose: str | None, time: str) -> float | None:
    """The explorer's choices, checked: the dose (N2O %) as a number, or InvalidInput naming
    the field and what is allowed."""
    from raad.services.errors import InvalidInput

    if agent not in AGENTS:
        raise InvalidInput("agent", agent, f"one of {', '.join(AGENTS)}")
    if time not in TIMES:
        raise InvalidInput("time", time, f"one of {', '.join(TIMES)}")
    if dose in (None, ""):
        return None
    try:
        value = float(dose)
    except ValueError:
        raise InvalidInput("dose", dose, "an N2O concentration in % (e.g. 25 or 50)") from None
    if not 0 < value <= 100:
        raise InvalidInput("dose", dose, "an N2O concentration in % (0-100)")
    return value


def _pool(agent: str, dose: float | None, time: str):
    base = trial_base()
    fraction = None if dose is None or agent != "n2o" else dose / 100
    rows, excluded = md_rows(
        [t.model_dump() for t in base.trials],
        agent=agent,
        fraction=fraction,
        outcome="depression",
        time=time,
    )
    res = None
    if len(rows) >= 2:
        yi, vi, labels = as_arrays(rows)
        res = rma(yi, vi, method="REML", test="knha", slab=labels)
    published = [
        p
        for p in base.published
        if p.outcome == "depression"
        and p.time == time
        and (fraction is None or p.n2o_fraction == fraction)
    ]
    return base, rows, excluded, res, published


def context(agent: str, dose: float | None, time: str) -> dict[str, Any]:
    base, rows, excluded, res, published = _pool(agent, dose, time)
    return {
        "trials": [t.model_dump() for t in base.trials],
        "rows": [r.to_dict() for r in rows],
        "excluded": [e.to_dict() for e in excluded],
        "result": res.to_dict() if res else None,
        "published": [p.model_dump() for p in published],
        "agent": agent,
        "dose": dose,
        "time": time,
        "times": TIMES,
        "agents": AGENTS,
    }


def forest_svg(agent: str, dose: float | None, time: str) -> bytes | None:
    res = _pool(agent, dose, time)[3]
    if res is None:
        return None
    fig = plots.forest(res)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()
