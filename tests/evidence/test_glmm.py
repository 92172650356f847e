"""Binomial-normal models for 2x2 tables against metafor 3.8.1's rma.glmm with lme4 and
BiasedUrn (tests/fixtures/metafor/glmm.R) on dat.bcg (also with the moderator ablat),
dat.nielweise2007 (zero cells) and dat.collins1985a (missing counts).

Tolerances follow what each reference can deliver:
- UM.FS, EE: glm's fit: 1e-6 (standard errors: 2e-6 relative against metafor's, whose glm
  stops one step before its weights settle, and 1e-8 against glm run to convergence);
- UM.FS, ML, "tight": lme4 driven to its optimum: estimates to 2e-6 (lme4's own estimates
  move by up to 1.3e-6 between PIRLS tolerances 1e-7 and 1e-10, where the log-likelihood
  changes by less than 1e-10; raad's log-likelihood at its estimate is at least lme4's,
  tested below); standard errors to 2e-6 relative (lme4's Hessian is a finite-difference one), except dat.bcg (arms of up to 130,000
  people), where lme4's finite-difference Hessian moves by 3e-5 between those tolerances,
  so 1e-4 relative;
- UM.FS, ML, "default": metafor's own settings, where lme4's optimiser stops up to 4e-4
  from the optimum (and warns that it did not converge): 1e-3;
- CM.EL: estimates to 1e-6 (tau^2 1e-5 relative: metafor's nlminb stops there); standard
  errors 2e-3 relative, as metafor's own value for dat.collins1985a moves from 0.125162 to
  0.125287 (1e-3) between its noncentral hypergeometric densities (its own, BiasedUrn at
  precision 1e-7 and at 1e-14); the exact information is checked separately below.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, special, stats

from raad.evidence import EvidenceInputError
from raad.evidence.glmm import _Conditional, _Unconditional, rma_glmm

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "metafor" / "glmm.json").read_text())
CASES = [c for c in REF["cases"] if "error" not in c]


def _na(values):
    return [np.nan if x is None else x for x in values]


def _fit(case, **kw):
    s = REF["data"][case["data"]]
    mods = _na(s["mod"]) if case["mods"] else None
    return rma_glmm(
        *(_na(s[x]) for x in ("ai", "bi", "ci", "di")),
        model=case["model"],
        method=case["method"],
        mods=mods,
        **kw,
    )


def _case(name):
    return next(c for c in REF["cases"] if c["name"] == name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_against_metafor(case):
    res = _fit(case)
    beta, se = np.atleast_1d(case["beta"]), np.atleast_1d(case["se"])
    assert res.k == case["k"]
    assert res.qe_df == case["QE_df"]
    assert res.qe_lrt == pytest.approx(case["QE_LRT"], rel=1e-6)
    if case["model"] == "UM.FS":
        assert res.qe_wld == pytest.approx(case["QE_Wld"], rel=1e-6)
    else:
        assert res.qe_wld == pytest.approx(case["wald_check"], rel=1e-6)
    if case["model"] == "UM.FS" and case["method"] == "EE":
        tol_b, tol_se = 1e-6, 2e-6
        assert np.array(res.se) == pytest.approx(np.atleast_1d(case["se_glm_converged"]), rel=1e-8)
    elif case["model"] == "UM.FS" and case["settings"] == "tight":
        tol_b, tol_se = 2e-6, (1e-4 if case["data"] == "bcg" else 2e-6)
    elif case["model"] == "UM.FS":
        tol_b, tol_se = 1e-3, 1e-3
    else:
        tol_b, tol_se = 1e-6, 2e-3
    assert np.array(res.beta) == pytest.approx(beta, abs=tol_b)
    assert np.array(res.se) == pytest.approx(se, rel=tol_se)
    if case["model"] == "CM.EL":
        assert res.tau2 == pytest.approx(case["tau2"], rel=1e-5, abs=1e-9)
        assert res.loglik == pytest.approx(case["logLik"], abs=2e-6)
    elif case["settings"] == "tight":
        # tau^2 is where the likelihood is flattest: lme4's moves by 3.6e-6 (1.1e-5
        # relative) on dat.nielweise2007 between PIRLS tolerances 1e-7 and 1e-10
        assert res.tau2 == pytest.approx(case["tau2"], rel=1.5e-5, abs=1e-9)
    else:
        assert res.tau2 == pytest.approx(case["tau2"], abs=tol_b)
    if case["method"] == "EE":
        assert res.loglik == pytest.approx(case["logLik"], abs=1e-6)
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.parametrize("case", [c for c in CASES if "lme4_logLik" in c], ids=lambda c: c["name"])
def test_marginal_loglik_equals_lme4s(case):
    """lme4's logLik of the same model is the marginal log-likelihood less the saturated
    model's: raad's logLik less (logLik of the EE fit + QE_LRT / 2)."""
    res = _fit(case)
    ee = _fit({**case, "method": "EE"})
    saturated = ee.loglik + ee.qe_lrt / 2
    assert res.loglik - saturated == pytest.approx(case["lme4_logLik"], abs=1e-6)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["settings"] == "tight"], ids=lambda c: c["name"]
)
def test_estimate_is_at_least_as_likely_as_lme4s(case):
    s = REF["data"][case["data"]]
    a, b, c, d = (np.array(_na(s[x]), dtype=float) for x in ("ai", "bi", "ci", "di"))
    ok = ~np.isnan(a + b + c + d) & ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    X = np.ones((int(ok.sum()), 1))
    if case["mods"]:
        X = np.column_stack([X, np.array(s["mod"], dtype=float)[ok]])
    res = _fit(case)
    lik = _Unconditional(a[ok], b[ok], c[ok], d[ok], X, 7)
    ours = lik.profile(np.array(res.beta), math.sqrt(res.tau2))
    theirs = lik.profile(np.atleast_1d(case["beta"]), math.sqrt(case["tau2"]))
    assert ours >= theirs - 1e-9


def _collins():
    s = REF["data"]["collins1985a"]
    a, b, c, d = (np.array(_na(s[x]), dtype=float) for x in ("ai", "bi", "ci", "di"))
    ok = ~np.isnan(a + b + c + d)
    return a[ok], b[ok], c[ok], d[ok]


def test_conditional_ee_se_is_the_exact_information():
    """For the common odds ratio the information is the sum of the tables' noncentral
    hypergeometric variances at the estimate (Breslow 1981); the score is zero there."""
    res = rma_glmm(*_collins(), model="CM.EL", method="EE")
    lik = _Conditional(*_collins(), np.ones((len(_collins()[0]), 1)))
    _, mean, var = lik._moments(np.full(len(_collins()[0]), res.beta[0]))
    assert float(np.sum(_collins()[0] - mean)) == pytest.approx(0.0, abs=1e-8)
    assert res.se[0] == pytest.approx(1 / math.sqrt(var.sum()), rel=1e-7)


def test_conditional_integral_against_adaptive_quadrature():
    """The 32-node Gauss-Hermite integral of each table's likelihood equals scipy's quad."""
    a, b, c, d = _collins()
    lik = _Conditional(a, b, c, d, np.ones((len(a), 1)))
    mu, tau = -0.25, 0.4
    got = lik.study_ll(np.full(len(a), mu), tau)
    for i in range(len(a)):
        n1, n2, m1 = a[i] + b[i], c[i] + d[i], a[i] + c[i]
        s = np.arange(max(0, m1 - n2), min(n1, m1) + 1)
        lc = (
            special.gammaln(n1 + 1)
            - special.gammaln(s + 1)
            - special.gammaln(n1 - s + 1)
            + special.gammaln(n2 + 1)
            - special.gammaln(m1 - s + 1)
            - special.gammaln(n2 - m1 + s + 1)
        )
        x = int(a[i] - s[0])

        def f(t, lc=lc, s=s, x=x):
            return math.exp(lc[x] + s[x] * t - special.logsumexp(lc + s * t)) * stats.norm.pdf(
                t, mu, tau
            )

        want, _ = integrate.quad(f, -np.inf, np.inf, epsabs=0, epsrel=1e-12)
        assert got[i] == pytest.approx(math.log(want), abs=1e-9)


def test_unconditional_quadrature_converges_to_the_integral():
    """With many nodes the adaptive quadrature of UM.FS equals scipy's quad of the same
    integral; nAGQ = 7 (metafor's default) is within 1e-6 of it on these tables."""
    a, b, c, d = _collins()
    X = np.ones((len(a), 1))
    alpha = np.log((c + 0.5) / (d + 0.5))
    xb = np.full(len(a), -0.25)
    tau = 0.6
    many = _Unconditional(a, b, c, d, X, 40).study_ll(alpha, xb, tau)
    seven = _Unconditional(a, b, c, d, X, 7).study_ll(alpha, xb, tau)
    for i in range(len(a)):

        def f(u, i=i):
            e1, e2 = alpha[i] + xb[i] + u / 2, alpha[i] - u / 2
            return math.exp(
                stats.binom.logpmf(a[i], a[i] + b[i], special.expit(e1))
                + stats.binom.logpmf(c[i], c[i] + d[i], special.expit(e2))
            ) * stats.norm.pdf(u, 0, tau)

        want, _ = integrate.quad(f, -np.inf, np.inf, epsabs=0, epsrel=1e-12)
        assert many[i] == pytest.approx(math.log(want), abs=1e-9)
    assert seven == pytest.approx(many, abs=1e-6)


def test_tables_without_information_are_listed_and_left_out():
    res = rma_glmm(
        [0, 3, 2, 5, None], [10, 7, 8, 5, 4], [0, 1, 4, 2, 1], [12, 9, 6, 8, 3], method="EE"
    )
    assert res.dropped == (0,)
    assert res.omitted == (4,)
    assert res.k == 3
    assert "left out" in str(res)


def test_bad_input_names_the_field():
    with pytest.raises(EvidenceInputError, match="measure"):
        rma_glmm([1, 2], [3, 4], [5, 6], [7, 8], measure="RR")
    with pytest.raises(EvidenceInputError, match="model"):
        rma_glmm([1, 2], [3, 4], [5, 6], [7, 8], model="UM.RS")
    with pytest.raises(EvidenceInputError, match="method"):
        rma_glmm([1, 2], [3, 4], [5, 6], [7, 8], method="REML")
    with pytest.raises(EvidenceInputError, match="nAGQ"):
        rma_glmm([1, 2], [3, 4], [5, 6], [7, 8], nAGQ=0)
    with pytest.raises(EvidenceInputError, match="ai"):
        rma_glmm([1.5, 2], [3, 4], [5, 6], [7, 8])
    with pytest.raises(EvidenceInputError, match="mods"):
        rma_glmm([1, 2, 3], [3, 4, 5], [5, 6, 7], [7, 8, 9], mods=[1, 2])
    with pytest.raises(EvidenceInputError, match="ai"):
        rma_glmm([0, 0], [3, 4], [0, 0], [7, 8])


def test_summary_text_shows_the_odds_ratio():
    res = _fit(_case("nielweise2007/int/UM.FS/ML/tight"))
    text = str(res)
    assert "Random-effects binomial-normal model" in text
    assert f"{math.exp(res.beta[0]):.4f}" in text
