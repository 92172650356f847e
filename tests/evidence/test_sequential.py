"""cumul() and permutest() against metafor 3.8.1 (tests/fixtures/metafor/cumul.R)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raad.evidence import rma
from raad.evidence.sequential import cumul, permutest

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "metafor" / "cumul.json").read_text())
TIGHT = {"threshold": 1e-12, "tol": 1e-12, "maxiter": 10000}


@pytest.mark.parametrize("case", REF["cumul"], ids=lambda c: c["method"])
def test_cumulative_by_year(case):
    res = rma(REF["yi"], REF["vi"], method=case["method"], control=TIGHT)
    out = cumul(res, order=REF["year"])
    assert out["added"].tolist() == [f"Study {i}" for i in case["order"]]
    assert out["k"].tolist() == list(range(1, len(REF["yi"]) + 1))
    assert out["estimate"].tolist() == pytest.approx(case["estimate"], rel=1e-6)
    assert out["se"].tolist() == pytest.approx(case["se"], rel=1e-6)
    if case["tau2"]:  # metafor gives no tau2 column for a fixed-effect model
        assert out["tau2"].tolist() == pytest.approx(case["tau2"], rel=1e-6, abs=1e-10)
    else:
        assert case["method"] == "FE" and set(out["tau2"]) == {0.0}


@pytest.mark.parametrize("case", REF["perm"], ids=lambda c: f"{c['method']}-{c['test']}")
def test_exact_permutation_test(case):
    res = rma(
        REF["yi"][:10], REF["vi"][:10], method=case["method"], test=case["test"], control=TIGHT
    )
    assert float(res.zval_beta[0]) == pytest.approx(case["zval"], rel=1e-6)
    assert permutest(res) == pytest.approx(case["pval"], rel=1e-9)
