"""Plots for the web pages, drawn with matplotlib and served as SVG."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from raad.scales import get


def trajectory_svg(
    ratings: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
    expected: dict[str, Any] | None = None,
) -> bytes:
    """Totals over time per instrument, sessions as vertical lines, and for each instrument the
    response line (50% of the first total, the default response rule) and the remission cut-off;
    totals the patient gave from home (``source`` "patient") carry an open diamond. With
    ``expected`` (raad.services.expected), the clinic's band at each time point is drawn as a
    shaded range on the course's instrument and the trials' band (where there is one) as a
    predicted score with its interval."""
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    if expected and expected.get("course") and expected.get("band"):
        start = datetime.fromisoformat(expected["course"]["start"] + "T00:00:00+00:00")
        pts = [b for b in expected["band"] if b.get("upper") is not None]
        if pts:
            from datetime import timedelta

            xs = [start + timedelta(days=b["day"]) for b in pts]
            ax.fill_between(
                xs,
                [b["lower"] for b in pts],
                [b["upper"] for b in pts],
                color="#c9d6e3",
                alpha=0.6,
                step="mid" if len(pts) == 1 else None,
                label=f"{expected['instrument']} expected band (this clinic)",
            )
            for x, b in zip(xs, pts, strict=True):
                ax.plot([x, x], [b["lower"], b["upper"]], color="#7d93a8", lw=3, alpha=0.8)
    trial = (expected or {}).get("trial_band") or {}
    if expected and expected.get("course") and trial.get("available"):
        from datetime import timedelta

        start = datetime.fromisoformat(expected["course"]["start"] + "T00:00:00+00:00")
        for i, b in enumerate(trial["points"]):
            x = start + timedelta(days=b["day"])
            ax.errorbar(
                [x],
                [b["centre"]],
                yerr=[[b["centre"] - b["lower"]], [b["upper"] - b["centre"]]],
                fmt="s",
                color="#8a5a00",
                capsize=5,
                lw=1.5,
                label=f"{expected['instrument']} expected band (trials)" if i == 0 else None,
            )
    by_instrument: dict[str, list[tuple[datetime, float]]] = {}
    for r in ratings:
        if r["total"] is not None:
            by_instrument.setdefault(r["instrument"], []).append(
                (datetime.fromisoformat(r["administered_at"]), r["total"])
            )
    for i, s in enumerate(sessions):
        ax.axvline(
            datetime.fromisoformat(s["start"]),
            color="#9aa5b1",
            lw=0.8,
            ls=":",
            label="session" if i == 0 else None,
        )
    colours = ["#1f5f8b", "#b5531c", "#3c7d3a", "#6b3fa0", "#8a6d1d"]
    home = [
        (datetime.fromisoformat(r["administered_at"]), r["total"])
        for r in ratings
        if r["total"] is not None and r.get("source") == "patient"
    ]
    for k, (name, points) in enumerate(sorted(by_instrument.items())):
        c = colours[k % len(colours)]
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", color=c, label=name)
        instr = get(name)
        o = instr.outcomes
        if o.response and o.response.default.percent_reduction_at_least:
            level = ys[0] * (1 - o.response.default.percent_reduction_at_least / 100)
            ax.axhline(
                level, color=c, ls="--", lw=1, label=f"{name} response ({o.response.default.name})"
            )
        if o.remission and o.remission.default.total_at_most is not None:
            ax.axhline(
                o.remission.default.total_at_most,
                color=c,
                ls="-.",
                lw=1,
                label=f"{name} remission ({o.remission.default.name})",
            )
    if home:  # answered by the patient from home: their own marker
        hx, hy = zip(*home, strict=True)
        ax.scatter(
            hx,
            hy,
            marker="D",
            s=46,
            facecolors="none",
            edgecolors="#111",
            zorder=5,
            label="answered from home",
        )
    ax.set_ylabel("total score")
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    if by_instrument or sessions:
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    else:
        ax.text(0.5, 0.5, "No ratings yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Scores over time (sessions dotted)", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()
