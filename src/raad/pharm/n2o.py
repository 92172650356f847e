"""Nitrous oxide uptake and washout (Cowles 1973) and methionine-synthase inactivation.

Uptake: four compartments (lung, vessel-rich group VRG, muscle, fat) exchanging by
conductances G = flow x blood:gas coefficient (ventilation x 1 for the lung) with capacitances
C = tissue volume x tissue:gas + blood volume x blood:gas (+ air volume for the lung)
(Cowles 1973 eqs. 6, 14, 15). The temperature/pressure factor multiplies every G and C and
cancels without the concentration effect, which raad does not model. ``cowles_explicit`` is
Cowles' own difference scheme (to reproduce his Table 4); ``uptake`` is the same linear system
solved exactly. Partial pressures are in atm, i.e. fractions of one atmosphere.

Methionine synthase (ASSUMPTION, no human rate found): activity E in 0-1 with
dE/dt = kr (1 - E) - ki (P_vrg / P_ref) E; ki and kr are read from rat liver data (see
``methionine_synthase`` in pharmacology.yaml) and varied over a range.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from .checks import check_fraction, check_number, check_times, choice
from .errors import PharmInputError
from .linear import Infusion, solve
from .params import pharmacology

STATES = ("lung", "vrg", "mus", "fat")


def conductances_capacitances(
    agent: str = "nitrous_oxide",
    ventilation_factor: float = 1.0,
    cardiac_output_factor: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """G (L/min; ventilation first, then VRG, muscle, fat) and C (L) of the standard man."""
    u = pharmacology().n2o_uptake
    choice("agent", agent, list(u.partition))
    pc = u.partition[agent]
    co = u.cardiac_output_l_min * cardiac_output_factor
    ff = u.flow_fraction
    G = np.array(
        [
            u.alveolar_ventilation_l_min * ventilation_factor,
            co * ff.vrg * pc.lung,
            co * ff.mus * pc.lung,
            co * ff.fat * pc.lung,
        ]
    )
    tv, bv = u.tissue_volume_l, u.blood_volume_l
    C = np.array(
        [
            tv["lung_air"] + tv["lung_tissue"] * pc.lung + bv["lung"] * pc.lung,
            tv["vrg"] * pc.vrg + bv["vrg"] * pc.lung,
            tv["mus"] * pc.mus + bv["mus"] * pc.lung,
            tv["fat"] * pc.fat + bv["fat"] * pc.lung,
        ]
    )
    return G, C


def cowles_explicit(
    p_insp: float, total_min: float, dt_min: float = 0.1, **factors: float
) -> dict[str, float]:
    """Cowles' explicit difference scheme from zero; partial pressures at ``total_min`` and the
    mixed venous value (conductance-weighted mean of the tissues)."""
    G, C = conductances_capacitances(**factors)
    p = np.zeros(4)
    for _ in range(round(total_min / dt_min)):
        into = G[1:] * (p[0] - p[1:])
        lung_in = (p_insp - p[0]) * G[0] - into.sum()
        p = p + np.concatenate([[lung_in], into]) * dt_min / C
    out = dict(zip(STATES, p.tolist(), strict=True))
    out["cv"] = float((p[1:] * G[1:]).sum() / G[1:].sum())
    return out


def rate_matrix(G: np.ndarray, C: np.ndarray) -> np.ndarray:
    K = np.zeros((4, 4))
    K[0, 0] = -(G[0] + G[1:].sum()) / C[0]
    K[0, 1:] = G[1:] / C[0]
    K[1:, 0] = G[1:] / C[1:]
    K[1:, 1:] = np.diag(-G[1:] / C[1:])
    return K


def uptake(
    sessions: list[tuple[float, float, float]], times_min: np.ndarray | list[float]
) -> np.ndarray:
    """Partial pressures (atm; times, 4 states) for sessions (start_min, duration_min, fraction)."""
    t = check_times("times_min", times_min)
    G, C = conductances_capacitances()
    inputs = []
    for start, dur, frac in sessions:
        check_fraction("n2o_fraction", frac)
        check_number("duration_min", dur, 0, 24 * 60)
        inputs.append(Infusion(start, start + dur, 0, G[0] * frac / C[0]))
    return solve(rate_matrix(G, C)[None], t, inputs)[0]


# --- methionine synthase --------------------------------------------------------------


def ms_rates() -> tuple[float, float, float]:
    """(ki per min at the reference pressure, kr per min, reference pressure) from the rat data."""
    ms = pharmacology().methionine_synthase
    ki = math.log(1 / (1 - ms.inhibited_fraction)) / ms.within_min
    deficit0, deficit1 = 1 - ms.recovery_from_activity, 1 - ms.recovered_activity
    kr = math.log(deficit0 / deficit1) / (ms.recovery_after_h * 60)
    return ki, kr, ms.at_n2o_fraction


def course_schedule(
    regimen_id: str, n2o_fraction: float | None = None
) -> list[tuple[float, float, float]]:
    """Sessions (start_min, duration_min, fraction) of an N2O regimen in regimens.yaml."""
    from raad.knowledge.treatment import regimens

    regs = {k: r for k, r in regimens().items() if r.agent == "n2o"}
    choice("regimen", regimen_id, list(regs))
    r = regs[regimen_id]
    frac = r.n2o_fraction if n2o_fraction is None else n2o_fraction
    lim = _limits()
    check_fraction("n2o_fraction", frac, *lim.n2o_fraction)
    from .simulate import session_starts_days

    days = session_starts_days(r.sessions or 1, r.per_week)
    return [(d * 1440.0, float(r.duration_min), float(frac)) for d in days]


def _limits():
    from raad.knowledge.treatment import monitoring

    return monitoring().plausible_ranges


def _grid(sessions: list[tuple[float, float, float]], tail_min: float) -> np.ndarray:
    """Fine steps (0.5 min) from each session start to 6 h after it, 30 min otherwise."""
    end = max(s + d for s, d, _ in sessions) + tail_min
    pts = [np.arange(0.0, end, 30.0)]
    for s, d, _ in sessions:
        pts.append(np.arange(s, min(end, s + d + 360.0), 0.5))
        pts.append(np.array([s + d]))
    return np.unique(np.concatenate([*pts, np.array([end])]))


@dataclass(frozen=True)
class CourseResult:
    """Exposure, VRG N2O and methionine-synthase activity over a course, with the safety
    limits the exposure is compared against."""

    label: str
    sessions: list[tuple[float, float, float]]
    times_min: np.ndarray
    vrg_atm: np.ndarray
    activity: np.ndarray  # (scenarios, times); row 0 = central assumption
    factors: np.ndarray  # (scenarios, 2): inactivation and resynthesis multipliers
    checks: list[dict] = field(default_factory=list)

    @property
    def nadir(self) -> np.ndarray:
        return self.activity.min(axis=1)

    def nadir_range(self) -> tuple[float, float, float]:
        """(central, lowest, highest) nadir of activity across the assumption range."""
        n = self.nadir
        return float(n[0]), float(n.min()), float(n.max())

    def to_dict(self) -> dict:
        c, lo, hi = self.nadir_range()
        return {
            "label": self.label,
            "sessions": [list(s) for s in self.sessions],
            "inhalation_hours": sum(d for _, d, _ in self.sessions) / 60,
            "ms_activity_nadir": {
                "central": c,
                "lowest": lo,
                "highest": hi,
                "status": "assumption",
            },
            "checks": self.checks,
        }


def exposure_checks(sessions: list[tuple[float, float, float]]) -> list[dict]:
    """The course's exposure against the cited Entonox and Kalinox limits (monitoring.yaml)."""
    from raad.knowledge.treatment import monitoring

    ex = monitoring().n2o_exposure
    starts = sorted(s for s, _, _ in sessions)
    gaps = np.diff(starts) / 1440.0
    days = sorted({int(s // 1440) for s in starts})
    run = best = 1
    for a, b in itertools.pairwise(days):
        run = run + 1 if b == a + 1 else 1
        best = max(best, run)
    total_h = sum(d for _, d, _ in sessions) / 60
    longest = max(d for _, d, _ in sessions)
    src = ", ".join(c.source for c in ex.cite)
    ksrc = ", ".join(c.source for c in ex.kalinox_cite)
    return [
        {
            "check": "total inhalation (h)",
            "value": total_h,
            "limit": ex.total_hours_limit,
            "ok": total_h <= ex.total_hours_limit,
            "source": src,
        },
        {
            "check": "shortest interval between sessions (days)",
            "value": float(gaps.min()) if gaps.size else None,
            "limit": ex.min_interval_days,
            "ok": bool(gaps.size == 0 or gaps.min() >= ex.min_interval_days),
            "source": src,
        },
        {
            "check": "longest continuous inhalation (min)",
            "value": longest,
            "limit": ex.continuous_minutes_limit,
            "ok": longest <= ex.continuous_minutes_limit,
            "source": ksrc,
        },
        {
            "check": "consecutive days with N2O",
            "value": best,
            "limit": ex.consecutive_days_limit,
            "ok": best <= ex.consecutive_days_limit,
            "source": ksrc,
        },
    ]


def simulate_course(
    regimen_id: str,
    *,
    n2o_fraction: float | None = None,
    tail_days: float = 7.0,
    scenarios: int = 5,
) -> CourseResult:
    """Methionine-synthase activity over an N2O course, across the assumption range
    (``scenarios`` x ``scenarios`` multiples of ki and kr, log-spaced, plus the central one)."""
    check_number("tail_days", tail_days, 0, 365)
    if isinstance(scenarios, bool) or not isinstance(scenarios, int) or not 1 <= scenarios <= 50:
        raise PharmInputError("scenarios", scenarios, "a whole number 1-50")
    sessions = course_schedule(regimen_id, n2o_fraction)
    t = _grid(sessions, tail_days * 1440.0)
    p = uptake(sessions, t)[:, 1]
    ms = pharmacology().methionine_synthase
    ki, kr, p_ref = ms_rates()
    fi = np.geomspace(*ms.inactivation_factor_range, scenarios)
    fr = np.geomspace(*ms.resynthesis_factor_range, scenarios)
    grid = np.array([(1.0, 1.0)] + [(a, b) for a in fi for b in fr])
    act = activity(t, p, ki * grid[:, 0], kr * grid[:, 1], p_ref)
    frac = sessions[0][2]
    return CourseResult(
        f"{regimen_id} at {frac:.0%}", sessions, t, p, act, grid, exposure_checks(sessions)
    )


def activity(
    t: np.ndarray, p_vrg: np.ndarray, ki: np.ndarray, kr: np.ndarray, p_ref: float
) -> np.ndarray:
    """Exact step solution of dE/dt = kr (1 - E) - ki (p / p_ref) E with p held at each
    interval's mean; vectorised over (ki, kr) scenarios. Returns (scenarios, times)."""
    ki, kr = np.atleast_1d(ki)[:, None], np.atleast_1d(kr)[:, None]
    pm = 0.5 * (p_vrg[1:] + p_vrg[:-1])[None, :]
    dt = np.diff(t)[None, :]
    rate = kr + ki * pm / p_ref
    e_star = kr / rate
    decay = np.exp(-rate * dt)
    out = np.ones((ki.shape[0], t.size))
    e = np.ones(ki.shape[0])
    for j in range(t.size - 1):
        e = e_star[:, j] + (e - e_star[:, j]) * decay[:, j]
        out[:, j + 1] = e
    return out
