"""Multi-arm dose-response trial designs (placebo and one or more N2O doses, weekly
sessions, repeated measures) simulated many at a time: power, type I error and assurance.

Model (standardised scale: each visit's outcome has SD 1, lower = less depressed): patient i
in arm a at visit v (1..``visits``) has ``y = delta_a + b_i + e_iv`` with ``b_i ~ N(0, rho)``
and ``e_iv ~ N(0, 1 - rho)`` (compound symmetry: correlation ``rho`` between visits), and
``delta_0 = 0`` on placebo. Dropout is monotone: before each visit a patient still in the
trial leaves with probability ``dropout`` (missing completely at random); a patient who
leaves before the first visit gives no data and is counted.

Analysis: the summary-measures method of Matthews et al. 1990 (BMJ 300:230-235,
doi:10.1136/bmj.300.6719.230): each patient's mean over the visits attended, then each dose
against placebo by Student's two-sample t-test, two-sided, a dose counted as better only when
its mean is lower. The doses' p-values are adjusted by Holm's step-down procedure (Holm 1979,
Scand J Stat 6:65-70) or Bonferroni, or left unadjusted. Power is the chance that at least
one dose is shown better than placebo (and, per dose, that that dose is); with every effect 0
it is the family-wise type I error.

Assurance (O'Hagan, Stevens & Campbell 2005, Pharm Stat 4:187-201, doi:10.1002/pst.175): with
``effect_se`` the true effects of each simulated trial are drawn from N(effect, se^2) (the
pooled estimate's uncertainty), so the rate is the unconditional chance of success.

Optional: non-inferiority of a lower dose to a higher one on efficacy (one-sided t-test of
low - high < margin at alpha; margin in SD units, a choice with no source here) and
superiority of the lower dose on nausea (one-sided two-proportion z-test, pooled variance, at
alpha) from per-arm nausea rates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from .checks import check_number, check_patients
from .errors import PharmInputError

MULTIPLICITY = ("holm", "bonferroni", "none")


@dataclass(frozen=True)
class Input:
    """One design input with where it comes from (a source id, or "assumed: ...")."""

    name: str
    value: Any
    source: str


@dataclass(frozen=True)
class DesignResult:
    doses: tuple[float, ...]  # placebo first (0)
    effects: tuple[float, ...]  # true SMD vs placebo per dose (placebo: 0)
    n_per_arm: int
    trials: int
    alpha: float
    multiplicity: str
    reject: np.ndarray  # (trials, doses-1): dose shown better than placebo (adjusted)
    reject_any: np.ndarray  # (trials, doses-1): adjusted rejection in either direction
    p_values: np.ndarray  # (trials, doses-1), unadjusted two-sided
    estimates: np.ndarray  # (trials, doses-1): difference in patient-mean scores
    analysed: np.ndarray  # (trials,): patients with any post-baseline visit
    ni_reject: np.ndarray | None = None  # (trials,) non-inferiority shown
    nausea_reject: np.ndarray | None = None  # (trials,) lower dose less nausea, shown
    inputs: tuple[Input, ...] = field(default=())
    design: str = "parallel"  # or "crossover" (n_per_arm then holds the patients randomised)

    @property
    def _success(self) -> np.ndarray:
        """Per trial and dose: shown better than placebo; for a dose whose true effect is 0,
        any rejection (so that with no effect the power is the type I error, as in
        ``raad.pharm.trials``)."""
        null = np.asarray(self.effects[1:]) == 0
        return np.where(null[None, :], self.reject_any, self.reject)

    @property
    def power(self) -> float:
        """Chance that at least one dose is shown better than placebo."""
        return float(np.mean(self._success.any(axis=1)))

    @property
    def rejection_rate(self) -> float:
        """Chance of any (adjusted, two-sided) rejection: with every effect 0, the
        family-wise type I error (alpha for one dose; at most alpha with Holm or Bonferroni)."""
        return float(np.mean(self.reject_any.any(axis=1)))

    @property
    def power_by_dose(self) -> tuple[float, ...]:
        return tuple(float(x) for x in self._success.mean(axis=0))

    @property
    def mc_se(self) -> float:
        return float(np.sqrt(self.power * (1 - self.power) / self.trials))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "design": self.design,
            "power": self.power,
            "power_mc_se": self.mc_se,
            "trials": self.trials,
            "n_per_arm": self.n_per_arm if self.design == "parallel" else None,
            "patients": self.n_per_arm if self.design == "crossover" else None,
            "alpha": self.alpha,
            "multiplicity": self.multiplicity,
            "arms": [
                {"dose": d, "effect_smd": e, "power": p}
                for d, e, p in zip(
                    self.doses[1:], self.effects[1:], self.power_by_dose, strict=True
                )
            ],
            "placebo": {"dose": self.doses[0]},
            "mean_analysed_per_trial": float(self.analysed.mean()),
            "inputs": [{"name": i.name, "value": i.value, "source": i.source} for i in self.inputs],
        }
        if self.ni_reject is not None:
            out["non_inferiority_power"] = float(self.ni_reject.mean())
        if self.nausea_reject is not None:
            out["nausea_superiority_power"] = float(self.nausea_reject.mean())
        return out


def evidence_effects(doses: Sequence[float]) -> tuple[list[float], list[float], list[Input]]:
    """Each dose's SMD vs placebo and SE from the knowledge base (``design_inputs.yaml``:
    a published pooled estimate, its SE from the 95% CI; or another dose's, with the reason
    and its source). Raises PharmInputError for a dose the knowledge base has no effect for."""
    from raad.knowledge.design_inputs import design_inputs
    from raad.knowledge.trials import trial_base

    pub = {p.id: p for p in trial_base().published}
    by_dose = {e.n2o_fraction: e for e in design_inputs().effects}
    effects, ses, inputs = [0.0], [0.0], []
    for d in doses[1:]:
        entry = by_dose.get(float(d))
        if entry is None:
            raise PharmInputError(
                "arms", d, f"a dose with an effect in the knowledge base: {sorted(by_dose)}"
            )
        seen = entry
        why = [entry.note]
        while seen.same_as is not None:
            seen = by_dose[seen.same_as]
            why.append(seen.note)
        p = pub[seen.published]
        if p.measure != "SMD":
            raise PharmInputError("effect-source", p.id, "a published SMD")
        se = (p.ci[1] - p.ci[0]) / (2 * float(stats.norm.isf(0.025)))
        effects.append(p.value)
        ses.append(se)
        sources = [p.cite.source] + [c.source for c in entry.cite]
        inputs.append(
            Input(
                f"effect at {d:.0%} (SMD vs placebo)",
                p.value,
                f"{'; '.join(why)} [{', '.join(sources)}]",
            )
        )
        inputs.append(
            Input(f"SE of the effect at {d:.0%}", round(se, 6), f"from the 95% CI of {p.id}")
        )
    return effects, ses, inputs


def evidence_nausea(
    doses: Sequence[float], placebo: float | None
) -> tuple[list[float], list[Input]]:
    """Per-arm nausea probabilities: doses from the knowledge base, placebo as given (no
    source in the knowledge base gives a placebo rate)."""
    from raad.knowledge.design_inputs import design_inputs

    if placebo is None:
        raise PharmInputError(
            "placebo-nausea", None, "a placebo nausea rate (none found in the sources read)"
        )
    check_number("placebo-nausea", placebo, 0, 1)
    by_dose = {e.n2o_fraction: e for e in design_inputs().nausea}
    rates, inputs = [placebo], [Input("nausea on placebo", placebo, "assumed (given)")]
    for d in doses[1:]:
        e = by_dose.get(float(d))
        if e is None:
            raise PharmInputError("arms", d, f"a dose with a nausea rate: {sorted(by_dose)}")
        if e.events is not None:
            rate = e.events / e.of
            how = f"{e.events}/{e.of}"
        else:
            ref = by_dose[e.relative_to]
            rate = ref.events / ref.of * e.ratio
            how = f"{e.ratio:g} x the rate at {e.relative_to:.0%} ({ref.events}/{ref.of})"
        rates.append(rate)
        src = ", ".join(f"{c.source}: {c.where}" for c in e.cite)
        inputs.append(Input(f"nausea at {d:.0%}", round(rate, 6), f"{how} [{src}]"))
    return rates, inputs


def _validate(doses, effects, n_per_arm, visits, rho, dropout, alpha, multiplicity):
    if len(doses) < 2 or doses[0] != 0:
        raise PharmInputError("arms", list(doses), "placebo (0) first, then one or more doses")
    if any(not 0 < d <= 1 for d in doses[1:]) or len(set(doses)) != len(doses):
        raise PharmInputError("arms", list(doses), "distinct N2O fractions in (0, 1] after 0")
    if len(effects) != len(doses):
        raise PharmInputError("effects", list(effects), f"{len(doses)} values, one per arm")
    if effects[0] != 0:
        raise PharmInputError("effects", list(effects), "0 for placebo (effects are vs placebo)")
    for e in effects:
        check_number("effect", e, -5, 5)
    check_patients(n_per_arm, "n_per_arm", 100_000)
    if n_per_arm < 2:
        raise PharmInputError("n_per_arm", n_per_arm, "at least 2 patients per arm")
    check_patients(visits, "visits", 52)
    check_number("rho", rho, 0, 0.99)
    check_number("dropout", dropout, 0, 0.9)
    check_number("alpha", alpha, 1e-6, 0.5)
    if multiplicity not in MULTIPLICITY:
        raise PharmInputError("multiplicity", multiplicity, f"one of {', '.join(MULTIPLICITY)}")


def generate(
    rng: np.random.Generator,
    m: int,
    effects: np.ndarray,
    n: int,
    visits: int,
    rho: float,
    dropout: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated scores ``(m, arms, n, visits)`` with NaN after dropout, and the true
    effects used ``(m, arms)`` (``effects`` of shape (arms,) or (m, arms))."""
    eff = np.broadcast_to(effects, (m, effects.shape[-1]))
    arms = eff.shape[1]
    b = rng.normal(0.0, np.sqrt(rho), (m, arms, n, 1))
    e = rng.normal(0.0, np.sqrt(1 - rho), (m, arms, n, visits))
    y = eff[:, :, None, None] + b + e
    if dropout > 0:
        # visits attended: the number of visits before the first "leave" draw
        stay = rng.random((m, arms, n, visits)) >= dropout
        attended = np.cumprod(stay, axis=-1).astype(bool)
        y = np.where(attended, y, np.nan)
    return y, eff


def analyse(y: np.ndarray, alpha: float, multiplicity: str) -> tuple[np.ndarray, ...]:
    """Summary-measure analysis of ``y`` (m, arms, n, visits): per trial, each dose vs
    placebo by Student's t on patient means. Returns (better (m, d): adjusted rejection with
    the dose's mean lower, rejected (m, d): in either direction, p (m, d), diff (m, d),
    analysed patients (m,), patient means, their counts per arm)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        obs = ~np.isnan(y)
        k = obs.sum(-1)
        pm = np.where(k > 0, np.nansum(y, -1) / np.maximum(k, 1), np.nan)  # (m, arms, n)
        has = k > 0
        cnt = has.sum(-1)  # (m, arms)
        mean = np.nansum(pm, -1) / cnt
        ss = np.nansum((pm - mean[..., None]) ** 2, -1)
        n0, n1 = cnt[:, :1], cnt[:, 1:]
        df = n0 + n1 - 2
        sp2 = (ss[:, :1] + ss[:, 1:]) / df
        diff = mean[:, 1:] - mean[:, :1]
        t = diff / np.sqrt(sp2 * (1 / n0 + 1 / n1))
        p = 2 * stats.t.sf(np.abs(t), df)
    p = np.where(np.isfinite(p), p, 1.0)
    rejected = _adjust(p, alpha, multiplicity)
    return rejected & (diff < 0), rejected, p, diff, cnt.sum(-1), pm, cnt


def _adjust(p: np.ndarray, alpha: float, multiplicity: str) -> np.ndarray:
    """Rejections (m, d) after Holm's step-down procedure, Bonferroni or none."""
    d = p.shape[1]
    if multiplicity == "none" or d == 1:
        return p < alpha
    if multiplicity == "bonferroni":
        return p < alpha / d
    order = np.argsort(p, axis=1)
    ps = np.take_along_axis(p, order, axis=1)
    ok = ps < alpha / (d - np.arange(d))[None, :]
    ok = np.cumprod(ok, axis=1).astype(bool)  # stop at the first that fails
    out = np.zeros_like(ok)
    np.put_along_axis(out, order, ok, axis=1)
    return out


def simulate_design(
    doses: Sequence[float],
    effects: Sequence[float],
    n_per_arm: int,
    *,
    trials: int = 10_000,
    visits: int = 4,
    rho: float = 0.5,
    dropout: float = 0.0,
    alpha: float = 0.05,
    multiplicity: str = "holm",
    effect_se: Sequence[float] | None = None,
    ni_margin: float | None = None,
    nausea: Sequence[float] | None = None,
    seed: int = 0,
    chunk: int = 1_000,
    inputs: Sequence[Input] = (),
    progress: Callable[[int, int], None] | None = None,
) -> DesignResult:
    """Simulate ``trials`` trials of the design and analyse each (see the module docstring).

    ``doses``: N2O fractions, placebo (0) first; ``effects``: true SMD vs placebo per arm
    (placebo 0; negative = better); ``effect_se``: per arm, for assurance; ``ni_margin`` (SD
    units, > 0): test the lowest dose's non-inferiority to the highest; ``nausea``: per-arm
    probabilities, to test the lowest dose's superiority on nausea over the highest.
    Raises PharmInputError naming the argument.
    """
    doses_t = tuple(float(x) for x in doses)
    eff_t = tuple(float(x) for x in effects)
    _validate(doses_t, eff_t, n_per_arm, visits, rho, dropout, alpha, multiplicity)
    check_patients(trials, "trials", 10_000_000)
    se = np.zeros(len(doses_t)) if effect_se is None else np.asarray(effect_se, dtype=float)
    if se.shape != (len(doses_t),) or np.any(se < 0) or se[0] != 0:
        raise PharmInputError("effect_se", effect_se, "one SE >= 0 per arm, 0 for placebo")
    if ni_margin is not None:
        check_number("ni_margin", ni_margin, 1e-6, 5)
    if nausea is not None:
        nz = np.asarray(nausea, dtype=float)
        if nz.shape != (len(doses_t),) or np.any((nz < 0) | (nz > 1)):
            raise PharmInputError("nausea", nausea, "one probability in [0, 1] per arm")
    rng = np.random.default_rng(seed)
    d = len(doses_t) - 1
    reject = np.zeros((trials, d), dtype=bool)
    reject_any = np.zeros((trials, d), dtype=bool)
    pvals, diffs = np.ones((trials, d)), np.zeros((trials, d))
    analysed = np.zeros(trials)
    ni = np.zeros(trials, dtype=bool) if ni_margin is not None else None
    nau = np.zeros(trials, dtype=bool) if nausea is not None else None
    lo_arm, hi_arm = 1 + int(np.argmin(doses_t[1:])), 1 + int(np.argmax(doses_t[1:]))
    done = 0
    base = np.asarray(eff_t)
    while done < trials:
        m = min(chunk, trials - done)
        eff = base + rng.normal(0.0, 1.0, (m, len(base))) * se if se.any() else base
        y, _ = generate(rng, m, np.asarray(eff), n_per_arm, visits, rho, dropout)
        r, ra, p, df_, a, pm, cnt = analyse(y, alpha, multiplicity)
        sl = slice(done, done + m)
        reject[sl], reject_any[sl], pvals[sl], diffs[sl], analysed[sl] = r, ra, p, df_, a
        if ni is not None:
            ni[sl] = _non_inferior(pm, cnt, lo_arm, hi_arm, ni_margin, alpha)
        if nau is not None:
            nau[sl] = _less_nausea(rng, m, n_per_arm, nz, lo_arm, hi_arm, alpha)
        done += m
        if progress is not None:
            progress(done, trials)
    return DesignResult(
        doses_t,
        eff_t,
        n_per_arm,
        trials,
        alpha,
        multiplicity,
        reject,
        reject_any,
        pvals,
        diffs,
        analysed,
        ni,
        nau,
        tuple(inputs),
    )


def _non_inferior(pm, cnt, lo, hi, margin, alpha) -> np.ndarray:
    """One-sided t-test of mean(low) - mean(high) < margin (lower scores better)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a, b = pm[:, lo], pm[:, hi]
        na, nb = cnt[:, lo], cnt[:, hi]
        ma, mb = np.nansum(a, -1) / na, np.nansum(b, -1) / nb
        ssa = np.nansum((a - ma[:, None]) ** 2, -1)
        ssb = np.nansum((b - mb[:, None]) ** 2, -1)
        df = na + nb - 2
        se = np.sqrt((ssa + ssb) / df * (1 / na + 1 / nb))
        t = (ma - mb - margin) / se
        return stats.t.cdf(t, df) < alpha


def _less_nausea(rng, m, n, rates, lo, hi, alpha) -> np.ndarray:
    """One-sided pooled two-proportion z-test that the low dose causes less nausea."""
    x_lo = rng.binomial(n, rates[lo], m)
    x_hi = rng.binomial(n, rates[hi], m)
    p_lo, p_hi = x_lo / n, x_hi / n
    pool = (x_lo + x_hi) / (2 * n)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (p_hi - p_lo) / np.sqrt(pool * (1 - pool) * 2 / n)
    return np.where(np.isfinite(z), stats.norm.sf(z) < alpha, False)


def _sequences(arms: int) -> np.ndarray:
    """Every order of the arms (a balanced set: each arm follows each other arm equally often,
    Williams-type balance for first-order carry-over), shape (sequences, arms)."""
    from itertools import permutations

    if arms > 4:
        raise PharmInputError("arms", arms, "at most 4 arms in a crossover (every order is used)")
    return np.array(list(permutations(range(arms))))


def simulate_crossover(
    doses: Sequence[float],
    effects: Sequence[float],
    n_patients: int,
    *,
    trials: int = 10_000,
    rho: float = 0.5,
    carryover: float = 0.0,
    dropout: float = 0.0,
    alpha: float = 0.05,
    multiplicity: str = "holm",
    seed: int = 0,
    chunk: int = 1_000,
    inputs: Sequence[Input] = (),
    progress: Callable[[int, int], None] | None = None,
) -> DesignResult:
    """Crossover trials: each patient receives every arm once, one period each, in one of all
    the arms' orders (patients assigned to the orders in turn), one score per period (SD 1,
    correlation ``rho`` between a patient's periods). ``carryover``: the share of the previous
    period's treatment effect still present (first-order, proportional; 0 = a long enough
    washout). Before each period after the first a patient leaves with probability
    ``dropout``. Analysis: each dose against placebo by the paired t-test on the within-patient
    differences (as Nagele 2015 and 2021 report within-subject differences), which ignores
    carry-over, so its bias shows in the estimates; Holm, Bonferroni or none across doses.
    ``n_patients``: patients randomised (``DesignResult.n_per_arm`` holds it)."""
    doses_t = tuple(float(x) for x in doses)
    eff_t = tuple(float(x) for x in effects)
    _validate(doses_t, eff_t, max(n_patients, 2), 1, rho, dropout, alpha, multiplicity)
    check_patients(trials, "trials", 10_000_000)
    check_number("carryover", carryover, 0, 1)
    arms = len(doses_t)
    seqs = _sequences(arms)
    order = seqs[np.arange(n_patients) % len(seqs)]  # (n, periods): arm given in each period
    eff = np.asarray(eff_t)
    mean = eff[order]  # (n, periods)
    mean[:, 1:] += carryover * eff[order[:, :-1]]
    rng = np.random.default_rng(seed)
    d = arms - 1
    reject = np.zeros((trials, d), dtype=bool)
    reject_any = np.zeros((trials, d), dtype=bool)
    pvals, diffs = np.ones((trials, d)), np.zeros((trials, d))
    analysed = np.zeros(trials)
    done = 0
    while done < trials:
        m = min(chunk, trials - done)
        b = rng.normal(0.0, np.sqrt(rho), (m, n_patients, 1))
        e = rng.normal(0.0, np.sqrt(1 - rho), (m, n_patients, arms))
        y = mean[None] + b + e  # (m, n, periods)
        if dropout > 0:
            stay = rng.random((m, n_patients, arms - 1)) >= dropout
            present = np.concatenate(
                [np.ones((m, n_patients, 1), dtype=bool), np.cumprod(stay, -1).astype(bool)], -1
            )
            y = np.where(present, y, np.nan)
        # scores by arm: period of each arm for each patient
        by_arm = np.take_along_axis(y, np.argsort(order, axis=1)[None].repeat(m, 0), axis=2)
        dd = by_arm[:, :, 1:] - by_arm[:, :, :1]  # (m, n, d) dose minus placebo
        with np.errstate(invalid="ignore", divide="ignore"):
            k = (~np.isnan(dd)).sum(1)
            md = np.nansum(dd, 1) / k
            sd = np.sqrt(np.nansum((dd - md[:, None, :]) ** 2, 1) / (k - 1))
            t = md / (sd / np.sqrt(k))
            p = 2 * stats.t.sf(np.abs(t), k - 1)
        p = np.where(np.isfinite(p), p, 1.0)
        rejected = _adjust(p, alpha, multiplicity)
        sl = slice(done, done + m)
        reject[sl], reject_any[sl] = rejected & (md < 0), rejected
        pvals[sl], diffs[sl] = p, md
        analysed[sl] = (~np.isnan(by_arm[:, :, 0])).sum(1)
        done += m
        if progress is not None:
            progress(done, trials)
    return DesignResult(
        doses_t,
        eff_t,
        n_patients,
        trials,
        alpha,
        multiplicity,
        reject,
        reject_any,
        pvals,
        diffs,
        analysed,
        None,
        None,
        tuple(inputs),
        "crossover",
    )
