"""Virtual parallel and crossover trials: power and sample size, vectorised over trials.

Outcomes are on the standardised scale (SD 1; lower = less depressed). Parallel: each arm's
patients ~ N(mean, 1), analysed by Student's two-sample t-test, with Hedges' g (exact
correction, as metafor's ``escalc("SMD")``; checked against :func:`raad.evidence.escalc` in
the tests). Two-period crossover (AB/BA, as Nagele 2015): patient
level ~ N(0, rho) plus period noise ~ N(0, 1 - rho), so rho is the within-patient correlation;
analysed by the paired t-test on the within-patient differences (no period or carry-over effect
is simulated). Analytic power from the noncentral t distribution (Cohen 1988, ch. 2):
parallel ncp = d sqrt(n/2), df = 2n - 2; crossover ncp = d sqrt(n / (2 (1 - rho))), df = n - 1.
The effect can come from the evidence base (``trials.yaml``: a published SMD, or MD with an SD
you give) and, with ``effect_se``, is drawn per trial from N(effect, se^2) (assurance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import gammaln

from .checks import check_fraction, check_number, check_patients, choice
from .errors import PharmInputError

DESIGNS = ("parallel", "crossover")


@dataclass(frozen=True)
class Effect:
    smd: float
    se: float
    label: str
    source: str


def effect_from_evidence(published_id: str, outcome_sd: float | None = None) -> Effect:
    """A published pooled effect (``trials.yaml`` ``published``) as an SMD with its SE from
    the 95% CI, (hi - lo) / (2 x 1.96). An MD needs ``outcome_sd`` (same scale points)."""
    from raad.knowledge.trials import trial_base

    pub = {p.id: p for p in trial_base().published}
    choice("effect", published_id, list(pub))
    p = pub[published_id]
    se = (p.ci[1] - p.ci[0]) / (2 * stats.norm.ppf(0.975))
    if p.measure == "SMD":
        return Effect(p.value, se, p.label, p.cite.source)
    if p.measure == "MD":
        if outcome_sd is None:
            raise PharmInputError(
                "outcome_sd", None, f"an SD (>0) to standardise the MD of {published_id}"
            )
        check_number("outcome_sd", outcome_sd, 1e-9, 1e6)
        return Effect(p.value / outcome_sd, se / outcome_sd, p.label, p.cite.source)
    raise PharmInputError("effect", published_id, "an SMD or MD entry (not RR)")


@dataclass(frozen=True)
class TrialSimResult:
    design: str
    n: int  # per arm (parallel) or patients (crossover)
    effect_smd: float
    effect_se: float
    correlation: float | None
    alpha: float
    trials: int
    p_values: np.ndarray
    estimates: np.ndarray  # Hedges' g (parallel) or the mean within-patient difference (crossover)

    @property
    def power(self) -> float:
        return float(np.mean(self.significant))

    @property
    def significant(self) -> np.ndarray:
        """Two-sided rejections in the effect's direction; with a zero effect, every rejection
        (so the power is the type I error rate)."""
        reject = self.p_values < self.alpha
        if self.effect_smd == 0:
            return reject
        return reject & (np.sign(self.estimates) == np.sign(self.effect_smd))

    @property
    def power_se(self) -> float:
        return float(np.sqrt(self.power * (1 - self.power) / self.trials))

    def analytic_power(self) -> float:
        return analytic_power(self.design, self.n, self.effect_smd, self.alpha, self.correlation)

    def to_dict(self) -> dict:
        return {
            "design": self.design,
            "n": self.n,
            "effect_smd": self.effect_smd,
            "effect_se": self.effect_se,
            "correlation": self.correlation,
            "alpha": self.alpha,
            "trials": self.trials,
            "power": self.power,
            "power_se": self.power_se,
            "analytic_power_fixed_effect": self.analytic_power(),
        }

    def __str__(self) -> str:
        unit = "per arm" if self.design == "parallel" else "patients"
        return (
            f"{self.design} trial, n = {self.n} {unit}, SMD {self.effect_smd:g}"
            f" (se {self.effect_se:.3g}), alpha {self.alpha:g}: power {self.power:.3f}"
            f" (MC se {self.power_se:.3f}) over {self.trials} trials;"
            f" analytic (fixed effect) {self.analytic_power():.3f}"
        )


def hedges_c(m: int) -> float:
    """Hedges' exact small-sample correction c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)),
    computed on the log scale (Hedges 1981, doi:10.3102/10769986006002107), as metafor's
    ``escalc("SMD")`` applies it."""
    return float(np.exp(gammaln(m / 2) - 0.5 * np.log(m / 2) - gammaln((m - 1) / 2)))


def _validate(design: str, n: int, effect: float, alpha: float, correlation: float | None) -> None:
    choice("design", design, DESIGNS)
    check_patients(n, "n", 100_000)
    if n < 2:
        raise PharmInputError("n", n, "2 or more")
    check_number("effect_smd", effect, -10, 10)
    check_fraction("alpha", alpha, 0, 1, open_=True)
    if design == "crossover":
        if correlation is None:
            raise PharmInputError(
                "correlation",
                None,
                "a within-patient correlation in [0, 1) for a crossover (no source gives one; choose it)",
            )
        check_fraction("correlation", correlation, 0, 1)
        if correlation >= 1:
            raise PharmInputError("correlation", correlation, "0 <= correlation < 1")


def analytic_power(
    design: str, n: int, effect_smd: float, alpha: float = 0.05, correlation: float | None = None
) -> float:
    """Power of the two-sided t-test in the direction of the effect (noncentral t)."""
    _validate(design, n, effect_smd, alpha, correlation)
    d = abs(effect_smd)
    if design == "parallel":
        df, ncp = 2 * n - 2, d * np.sqrt(n / 2)
    else:
        df, ncp = n - 1, d * np.sqrt(n / (2 * (1 - correlation)))
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, ncp))


def simulate_trials(
    design: str,
    n: int,
    effect_smd: float,
    *,
    trials: int = 10_000,
    alpha: float = 0.05,
    correlation: float | None = None,
    effect_se: float = 0.0,
    seed: int = 0,
    chunk: int = 2_000,
    progress: Callable[[int, int], None] | None = None,
) -> TrialSimResult:
    """Simulate ``trials`` trials patient by patient (vectorised in chunks) and analyse each."""
    _validate(design, n, effect_smd, alpha, correlation)
    check_patients(trials, "trials", 10_000_000)
    check_number("effect_se", effect_se, 0, 10)
    rng = np.random.default_rng(seed)
    p_all, est_all = np.empty(trials), np.empty(trials)
    done = 0
    while done < trials:
        m = min(chunk, trials - done)
        true = effect_smd + (rng.normal(0, effect_se, m) if effect_se > 0 else np.zeros(m))
        if design == "parallel":
            ctrl = rng.normal(0.0, 1.0, (m, n))
            act = rng.normal(0.0, 1.0, (m, n)) + true[:, None]
            m1, m2 = act.mean(1), ctrl.mean(1)
            s1, s2 = act.std(1, ddof=1), ctrl.std(1, ddof=1)
            sp = np.sqrt((s1**2 + s2**2) / 2)
            tstat = (m1 - m2) / (sp * np.sqrt(2 / n))
            p = 2 * stats.t.sf(np.abs(tstat), 2 * n - 2)
            est = hedges_c(2 * n - 2) * (m1 - m2) / sp
        else:
            level = rng.normal(0.0, np.sqrt(correlation), (m, n))
            noise = rng.normal(0.0, np.sqrt(1 - correlation), (m, n, 2))
            on_active = level + noise[..., 0] + true[:, None]
            on_placebo = level + noise[..., 1]
            diff = on_active - on_placebo
            md, sd = diff.mean(1), diff.std(1, ddof=1)
            tstat = md / (sd / np.sqrt(n))
            p = 2 * stats.t.sf(np.abs(tstat), n - 1)
            est = md
        p_all[done : done + m], est_all[done : done + m] = p, est
        done += m
        if progress is not None:
            progress(done, trials)
    return TrialSimResult(
        design, n, effect_smd, effect_se, correlation, alpha, trials, p_all, est_all
    )


def sample_size(
    design: str,
    effect_smd: float,
    power: float = 0.8,
    alpha: float = 0.05,
    correlation: float | None = None,
    most: int = 100_000,
) -> int:
    """Smallest n (per arm, or patients for a crossover) whose analytic power reaches ``power``."""
    check_fraction("power", power, 0, 1, open_=True)
    _validate(design, 2, effect_smd, alpha, correlation)
    if effect_smd == 0:
        raise PharmInputError("effect_smd", effect_smd, "a non-zero effect")
    lo, hi = 2, 2
    while analytic_power(design, hi, effect_smd, alpha, correlation) < power:
        lo, hi = hi, hi * 2
        if hi > most:
            raise PharmInputError("effect_smd", effect_smd, f"an effect reachable with n <= {most}")
    while lo < hi:
        mid = (lo + hi) // 2
        if analytic_power(design, mid, effect_smd, alpha, correlation) >= power:
            hi = mid
        else:
            lo = mid + 1
    return hi
