"""rma_batch must give rma's numbers for every group, without a Python loop over groups."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from raad.evidence import EvidenceInputError, EvidenceWarning, rma
from raad.evidence.batch import rma_batch

from .conftest import load

METHODS = ["FE", "DL", "REML", "ML", "PM", "HE", "SJ", "EB", "HS"]


def synthetic(n_groups: int = 120, seed: int = 7):
    rng = np.random.default_rng(seed)
    ks = rng.integers(2, 25, n_groups)
    g = np.repeat(np.arange(n_groups), ks)
    v = rng.uniform(0.01, 0.5, len(g))
    tau2 = rng.choice([0.0, 0.02, 0.3, 2.0], n_groups)[g]
    y = rng.normal(0.3, np.sqrt(v + tau2))
    return y, v, g


@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize("method", METHODS)
def test_batch_equals_rma_on_every_group(method, test):
    y, v, g = synthetic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = rma_batch(y, v, g, method=method, test=test)
        assert list(out.index) == sorted(set(g))
        for gi in out.index:
            sel = g == gi
            r = rma(y[sel], v[sel], method=method, test=test)
            row = out.loc[gi]
            assert row.k == sel.sum()
            np.testing.assert_allclose(
                [row.estimate, row.se, row.ci_lb, row.ci_ub, row.pval, row.qe],
                [r.estimate, r.se, r.ci_lb, r.ci_ub, r.pval, r.qe],
                rtol=1e-9,
                atol=1e-14,
            )
            np.testing.assert_allclose(row.tau2, r.tau2, rtol=1e-9, atol=1e-10)
            np.testing.assert_allclose(row.i2, r.i2, rtol=1e-9, atol=1e-7)
            if method != "FE":
                np.testing.assert_allclose(row.se_tau2, r.se_tau2, rtol=1e-8)
                pr = r.predict()
                np.testing.assert_allclose(
                    [row.pi_lb, row.pi_ub], [pr.pi_lb, pr.pi_ub], rtol=1e-9, atol=1e-12
                )


def test_batch_on_metafor_fixtures():
    """Stack every intercept-only reference case into one batch call per method and test."""
    cases = [c for c in load("rma.json")["cases"] if c.get("mods") is None and c["level"] == 95]
    for method in METHODS:
        for test in ("z", "knha"):
            sel = [c for c in cases if c["method"] == method and c["test"] == test]
            y = np.concatenate([c["yi"] for c in sel])
            v = np.concatenate([c["vi"] for c in sel])
            g = np.concatenate([[c["name"]] * len(c["yi"]) for c in sel])
            out = rma_batch(y, v, g, method=method, test=test)
            for c in sel:
                R, row = c["result"], out.loc[c["name"]]
                np.testing.assert_allclose(
                    [row.estimate, row.se, row.pval, row.ci_lb],
                    [R["beta"], R["se"], R["pval"], R["ci_lb"]],
                    rtol=1e-6,
                    err_msg=f"{c['name']} {method} {test}",
                )
                np.testing.assert_allclose(row.tau2, R["tau2"], rtol=1e-6, atol=1e-10)


def test_batch_accepts_dataframe_columns():
    y, v, g = synthetic(10)
    frame = pd.DataFrame({"y": y, "v": v, "analysis": [f"a{x}" for x in g]})
    out = rma_batch("y", "v", "analysis", data=frame)
    assert len(out) == 10 and out.index.name == "group"
    assert out.attrs["method"] == "REML"


def test_a_group_that_cannot_be_fitted_is_reported_and_the_rest_fitted():
    """The issue: one group with k = 1 aborted a whole run. Now every group that can be
    fitted is, and the others carry their reason (the same numbers as rma for the rest)."""
    with pytest.warns(EvidenceWarning, match="1 of 2 group"):
        out = rma_batch([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], ["a", "a", "b"], method="REML")
    assert out.loc["a", "status"] == "ok"
    assert out.loc["a", "estimate"] == pytest.approx(rma([0.1, 0.2], [0.1, 0.1]).estimate)
    assert out.loc["b", "status"].startswith("too few studies: k=1")
    assert np.isnan(out.loc["b", "estimate"]) and out.loc["b", "k"] == 1


def test_missing_values_are_left_out_of_their_group():
    y = [0.1, np.nan, 0.3, 0.2, 0.5, 0.4]
    v = [0.1, 0.1, 0.1, np.nan, 0.2, 0.1]
    g = ["a", "a", "a", "b", "b", "b"]
    out = rma_batch(y, v, g, method="DL")
    assert out["k_omitted"].tolist() == [1, 1] and out["k"].tolist() == [2, 2]
    assert out.loc["a", "estimate"] == pytest.approx(
        rma([0.1, 0.3], [0.1, 0.1], method="DL").estimate
    )
    with pytest.raises(EvidenceInputError, match="missing"):
        rma_batch(y, v, g, na_action="fail")


def test_a_group_that_does_not_converge_is_reported_not_raised():
    y, v, g = synthetic(50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the not-fitted and local-maximum warnings
        out = rma_batch(y, v, g, method="REML", control={"maxiter": 1, "fallback": False})
    assert (out["status"] != "ok").any()
    bad = out[out["status"] != "ok"]
    assert bad["status"].str.startswith("did not converge").all()
    assert bad["estimate"].isna().all() and (out["status"] == "ok").sum() + len(bad) == 50


def test_batch_refuses_bad_variances_and_lengths():
    with pytest.raises(EvidenceInputError, match="vi"):
        rma_batch([0.1, 0.2], [0.1, 0.0], ["a", "a"])
    with pytest.raises(EvidenceInputError, match="equal length"):
        rma_batch([0.1, 0.2], [0.1, 0.2, 0.3], ["a", "a"])
    with pytest.raises(EvidenceInputError, match="method"):
        rma_batch([0.1, 0.2], [0.1, 0.2], ["a", "a"], method="XX")


def test_step_halving_in_one_step_equals_repeated_halving():
    """Fisher scoring halves a step until tau² stays >= 0 (metafor); done in one step it gives
    the same doubles as halving again and again, also at tau² = 0 and for huge ratios."""
    from raad.evidence.batch import _halve_until_nonnegative

    rng = np.random.default_rng(3)

    def repeated(t, adj):
        adj = adj.copy()
        neg = t + adj < 0
        while neg.any():
            adj[neg] /= 2
            neg = t + adj < 0
        return adj

    for _ in range(500):
        t = np.abs(rng.normal(0, 1, 40)) * rng.choice([0, 1e-300, 1e-5, 1, 1e5], 40)
        t[rng.random(40) < 0.3] = 0.0
        adj = rng.normal(0, 1, 40) * rng.choice([1e-8, 1, 1e8], 40)
        mine, theirs = _halve_until_nonnegative(t, adj), repeated(t, adj)
        assert np.array_equal(mine, theirs)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_newton_reaches_the_fisher_scoring_root_in_fewer_iterations(method):
    """rma_batch's default Newton steps and metafor's Fisher scoring (newton=False) give the
    same tau² on 600 synthetic meta-analyses (k 5-40, including groups where scoring cycles
    and groups at tau² = 0), in fewer iterations."""
    rng = np.random.default_rng(7)
    k = rng.integers(5, 41, 600)
    group = np.repeat(np.arange(600), k)
    vi = rng.uniform(0.01, 0.5, group.size)
    tau2 = rng.choice([0.0, 0.02, 0.1, 0.5], 600)[group]
    yi = rng.normal(0.3, np.sqrt(vi + tau2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        newton = rma_batch(yi, vi, group, method=method)
        fisher = rma_batch(yi, vi, group, method=method, control={"newton": False})
    assert (newton.status == "ok").all() and (fisher.status == "ok").all()
    np.testing.assert_allclose(newton.tau2, fisher.tau2, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(newton.estimate, fisher.estimate, rtol=1e-9, atol=1e-12)
    assert newton.iterations.sum() < 0.6 * fisher.iterations.sum()
