"""The expected course of one patient's score under a regimen, from the trial arms of that
regimen (a prediction band for a new patient, beside the clinic's own band).

Which arms: every trial arm in the trial base given the regimen itself (same agent, N2O
fraction or ketamine dose, number of sessions and sessions per week, where the regimen states
them) whose trial reports the arm's mean (SD, n) on the patient's scale at baseline and at a
follow-up time point.

At each such time point, per arm:

- ``yi = ln(m_t / m_0)``, the log ratio of the follow-up mean to the baseline mean, with
  sampling variance ``vi = sd_t^2 / (n m_t^2) + sd_0^2 / (n m_0^2)`` (delta method). The
  pre-post correlation is not reported, so it is taken as 0: this over-states ``vi`` when the
  true correlation is positive (the band is then wider, never narrower);
- arms are pooled by random effects (REML, :func:`raad.evidence.rma.rma`) when there are two or
  more; with one arm ``tau^2`` cannot be estimated and is taken as 0, and the result says so;
- a new patient's spread around the arm's mean is ``s^2 = ln(1 + (sd_t / m_t)^2)``, the variance
  of the log score of a log-normal with the arm's follow-up mean and SD (an assumption: scores
  are positive and right-skewed at follow-up), the n-weighted mean over arms;
- the band for a patient with baseline ``y0`` is ``y0 * exp(mu +/- q * sqrt(se^2 + tau^2 + s^2))``:
  the prediction interval of a random-effects model (Higgins, Thompson & Spiegelhalter 2009, J R
  Stat Soc A 172:137-159) widened by the between-patient variance, on the log ratio scale, with
  ``q`` the t quantile for the band's coverage (the 80% band uses t_0.90) on the arms'
  patients' degrees of freedom (sum of n - 1), since ``s^2`` is estimated from a few patients.

Measured in simulation (arms of 12, follow-up log-normal with sigma 0.3 to 0.9, 3,000 trials
each; tests/evidence/test_expected_course.py): a new patient lies above the upper limit 6-8%
of the time (nominal 10%), so the off-track flag errs against raising an alarm, and below the
lower limit 10-23% (the small-sample SD of a skewed score understates the spread downwards). Scaling by
  ``y0`` assumes the patient's score changes in proportion to the arms' (the same proportional
  model the clinic band uses).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import t as t_dist

# the trial base's and the regimens' records (raad.knowledge.trials.Trial/Arm and
# raad.knowledge.treatment.Regimen) are read by their attributes: this room imports nothing of
# the rest of raad
Arm = Any
Regimen = Any
Trial = Any

ASSUMPTIONS = (
    "pre-post correlation not reported: taken as 0 (wider band)",
    "scores log-normal at follow-up (between-patient spread from the arm's mean and SD)",
    "the patient's score changes in proportion to the trial arms' (ratio of means)",
)
ONE_ARM = "one trial arm: between-trial heterogeneity (tau^2) cannot be estimated, taken as 0"


@dataclass(frozen=True)
class ArmSeries:
    """One trial arm's mean (SD, n) on a scale at baseline and at follow-up time points."""

    trial: str
    label: str
    arm: str
    scale: str
    baseline: tuple[float, float, int]  # mean, sd, n
    later: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()


def matches(arm: Arm, regimen: Regimen) -> bool:
    """The arm gives the regimen: same agent, and the same dose, number of sessions and sessions
    per week wherever the regimen states them."""
    if arm.agent != regimen.agent:
        return False
    for key in ("n2o_fraction", "dose_mg_per_kg", "sessions", "per_week"):
        want = getattr(regimen, key)
        if want is None:
            continue
        got = getattr(arm, key)
        if key == "per_week" and got is None and (arm.sessions or 1) == 1:
            continue
        if got is None or not math.isclose(float(got), float(want)):
            return False
    return True


def arm_series(trials: Iterable[Trial], regimen: Regimen, scale: str) -> list[ArmSeries]:
    """The arms of ``trials`` giving ``regimen`` with arm means on ``scale`` at baseline and
    at least one later time point."""
    out = []
    for t in trials:
        if t.scale != scale:
            continue
        for a in t.arms:
            if not matches(a, regimen):
                continue
            means = {
                n.time: (float(n.mean), float(n.sd), int(n.n))
                for n in t.numbers
                if n.kind == "arm_mean" and n.arm == a.id and n.outcome == "depression" and n.time
            }
            sources = tuple(
                sorted({n.cite.source for n in t.numbers if n.kind == "arm_mean" and n.arm == a.id})
            )
            if "baseline" in means and len(means) > 1:
                later = {k: v for k, v in means.items() if k != "baseline"}
                out.append(ArmSeries(t.id, t.label, a.id, scale, means["baseline"], later, sources))
    return out


def log_ratio(
    baseline: tuple[float, float, int], later: tuple[float, float, int]
) -> tuple[float, float]:
    """``(yi, vi)``: the log ratio of means and its delta-method variance (correlation 0)."""
    (m0, s0, n0), (mt, st, nt) = baseline, later
    if m0 <= 0 or mt <= 0:
        raise ValueError("arm means must be positive for a ratio of means")
    return math.log(mt / m0), st**2 / (nt * mt**2) + s0**2 / (n0 * m0**2)


def band_at(
    series: list[ArmSeries], time: str, baseline: float, coverage: float = 0.80
) -> dict[str, Any] | None:
    """The band at ``time`` for a patient whose baseline is ``baseline``, or None if no arm
    reports that time point. Keys: lower, upper, centre (the patient's predicted score), mu,
    se, tau2, s2, k, arms (trial label and arm), sources, notes."""
    from .rma import rma

    arms = [s for s in series if time in s.later]
    if not arms:
        return None
    pairs = [log_ratio(s.baseline, s.later[time]) for s in arms]
    yi = [p[0] for p in pairs]
    vi = [p[1] for p in pairs]
    notes = []
    if len(arms) >= 2:
        fit = rma(yi, vi, method="REML")
        mu = float(np.atleast_1d(fit.beta)[0])
        se, tau2 = float(np.atleast_1d(fit.se)[0]), float(fit.tau2)
    else:
        mu, se, tau2 = yi[0], math.sqrt(vi[0]), 0.0
        notes.append(ONE_ARM)
    weights = [s.later[time][2] for s in arms]
    s2 = sum(
        w * math.log(1 + (s.later[time][1] / s.later[time][0]) ** 2)
        for w, s in zip(weights, arms, strict=True)
    ) / sum(weights)
    df = sum(w - 1 for w in weights)  # the spread is estimated from the arms' patients
    z = float(t_dist.ppf(0.5 + coverage / 2, df))
    half = z * math.sqrt(se**2 + tau2 + s2)
    return {
        "time": time,
        "lower": baseline * math.exp(mu - half),
        "upper": baseline * math.exp(mu + half),
        "centre": baseline * math.exp(mu),
        "mu": mu,
        "se": se,
        "tau2": tau2,
        "s2": s2,
        "k": len(arms),
        "arms": [f"{s.label} ({s.arm}, n = {s.later[time][2]})" for s in arms],
        "sources": sorted({src for s in arms for src in s.sources}),
        "notes": notes + list(ASSUMPTIONS),
    }
