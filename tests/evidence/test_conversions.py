"""Conversions against metafor 5.1-12's conv.fivenum, conv.wald, conv.2x2 and conv.delta
(tests/fixtures/metafor/conv.R), plus the t-quantile versions metafor does not offer,
checked against the Cochrane Handbook's worked example."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from raad.evidence import EvidenceInputError, EvidenceWarning
from raad.evidence.conversions import (
    conv_2x2,
    conv_delta,
    conv_fivenum,
    conv_wald,
    events_from_risk,
    se_from_ci,
    se_from_p,
)

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "metafor" / "conv.json").read_text())


def _na(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _same(got, want, rel=1e-9):
    want = _na(want)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    ok = ~np.isnan(want)
    assert got[ok] == pytest.approx(want[ok], rel=rel, abs=1e-12)


@pytest.mark.parametrize(
    "case", REF["fivenum"], ids=lambda c: f"{c['method']}-{c['dist']}-{c.get('transf')}-{c['test']}"
)
def test_fivenum_against_metafor(case):
    five = {k: _na(v) for k, v in REF["fivenum_input"].items()}
    if "rows" in case:
        idx = np.array(case["rows"]) - 1
        five = {k: v[idx] for k, v in five.items()}
    method = case["method"] if isinstance(case["method"], str) else tuple(case["method"])
    res = conv_fivenum(
        five["min"],
        five["q1"],
        five["median"],
        five["q3"],
        five["max"],
        five["n"],
        method=method,
        dist=case["dist"],
        transf=case.get("transf", True),
        test=case["test"],
    )
    _same(res.mean, case["mean"])
    # walter2007 integrates numerically in both (R's integrate: 1e-4 relative by default)
    _same(res.sd, case["sd"], rel=1e-6 if "walter2007" in method else 1e-9)
    _same(res.tval, case["tval"])
    _same(res.crit, case["crit"])
    if "sig" in case:
        assert [s for s in res.sig] == [None if s is None else bool(s) for s in case["sig"]]
    json.dumps(res.to_dict(), allow_nan=False)


def test_fivenum_refuses_quantiles_out_of_order():
    with pytest.raises(EvidenceInputError, match="min <= q1"):
        conv_fivenum(min=[5], median=[3], max=[9], n=[20])
    with pytest.raises(EvidenceInputError, match="method"):
        conv_fivenum(min=[1], median=[3], max=[9], n=[20], method="qe")
    with pytest.raises(EvidenceInputError, match="dist"):
        conv_fivenum(min=[1], median=[3], max=[9], n=[20], dist="gamma")


@pytest.mark.parametrize("case", REF["wald"], ids=lambda c: c["name"])
def test_wald_against_metafor(case):
    inp = {k: _na(v) for k, v in case["input"].items()}
    out = inp.get("or", inp.get("md"))
    res = conv_wald(
        out,
        inp["lb"],
        inp["ub"],
        pval=inp["p"],
        level=case["level"],
        transf=math.log if case.get("transf") == "log" else None,
    )
    _same(res.yi, case["yi"])
    _same(res.vi, case["vi"])
    json.dumps(res.to_dict(), allow_nan=False)


def test_wald_warns_when_the_interval_is_on_another_scale():
    """An odds ratio of 3.4 (0.9 to 12.8) without transf=log: the CI's midpoint is 6.85."""
    with pytest.warns(EvidenceWarning, match="not symmetric"):
        conv_wald([3.4], [0.9], [12.8])


def test_wald_with_t_quantiles_follows_the_cochrane_handbook():
    """Cochrane Handbook 6.5.2.3: a 95% CI of a mean with n = 25 per group uses the t
    quantile with 48 df; the handbook's example gives 2.0106 for df 48."""
    assert float(stats.t.isf(0.025, 48)) == pytest.approx(2.0106, abs=5e-5)
    se = se_from_ci(-7.8, -1.8, df=19)
    assert se == pytest.approx(6.0 / (2 * stats.t.isf(0.025, 19)), rel=1e-12)
    assert se < se_from_ci(-7.8, -1.8)  # the t quantile is wider, so the SE is smaller
    res = conv_wald([-4.8, -0.87], [-7.8, None], [-1.8, None], pval=[None, 0.69], df=[19, 23])
    assert res.vi[0] == pytest.approx(se**2, rel=1e-12)
    assert res.vi[1] == pytest.approx((0.87 / stats.t.isf(0.345, 23)) ** 2, rel=1e-12)
    assert se_from_p(-0.87, 0.69, df=23) == pytest.approx(math.sqrt(res.vi[1]), rel=1e-12)
    assert res.basis == ("ci", "p")


def test_wald_bad_input_names_the_field():
    with pytest.raises(EvidenceInputError, match="pval"):
        conv_wald([1.0], pval=[1.5])
    with pytest.raises(EvidenceInputError, match="ci_ub"):
        conv_wald([1.0], [2.0], [0.5], check=False)
    with pytest.raises(EvidenceInputError, match="df"):
        conv_wald([1.0], [0.5], [2.0], df=0)
    with pytest.raises(EvidenceInputError, match="transf"):
        conv_wald([-1.0], [0.5], [2.0], transf=math.log)
    with pytest.raises(EvidenceInputError, match="ci"):
        se_from_ci(2.0, 1.0)
    with pytest.raises(EvidenceInputError, match="p"):
        se_from_p(1.0, 0.0)


@pytest.mark.parametrize(
    "kind", ["from_or", "from_phi", "from_x2_correct", "from_x2_uncorrected", "from_or_rounded"]
)
def test_2x2_against_metafor(kind):
    t = REF["twobytwo"]
    inp = {k: _na(v) for k, v in t["input"].items()}
    args = dict(ni=inp["ni"], n1i=inp["n1i"], n2i=inp["n2i"])
    if kind == "from_or":
        res = conv_2x2(**args, ori=inp["ori"])
    elif kind == "from_phi":
        res = conv_2x2(**args, ri=inp["ri"])
    elif kind == "from_x2_correct":
        res = conv_2x2(**args, x2i=inp["x2c"], correct=True)
    elif kind == "from_x2_uncorrected":
        res = conv_2x2(**args, x2i=inp["x2u"], correct=False)
    else:
        res = conv_2x2(**args, ori=np.round(inp["ori"], 2))
    for cell in ("ai", "bi", "ci", "di"):
        _same(getattr(res, cell), t[kind][cell])
    if kind in ("from_or", "from_phi", "from_x2_uncorrected"):
        # unrounded statistics give back the true tables
        for cell in ("ai", "bi", "ci", "di"):
            assert getattr(res, cell).tolist() == [float(x) for x in t["truth"][cell]]


def test_2x2_statistic_that_does_not_fit_its_margins_is_left_empty():
    with pytest.warns(EvidenceWarning, match="negative cell"):
        res = conv_2x2([20], [10], [2], ri=[-0.9])
    assert np.isnan(res.ai[0])


def test_events_from_risk():
    # Yan 2022: percentages of a 20-patient arm (Williams 2025 Table 1)
    assert events_from_risk(15, 20) == (3,)
    assert events_from_risk(41.7, 12, decimals=1) == (5,)
    assert events_from_risk(41.7, 24, decimals=1) == (10,)
    assert events_from_risk(33, 7) == ()  # 2/7 = 28.6%, 3/7 = 42.9%: no count fits
    assert events_from_risk(0.4, 1000, decimals=1) == (4,)
    assert events_from_risk(1, 120) == (1,)  # 0.83% -> 1%, 1.67% -> 2%


@pytest.mark.parametrize("name", ["exp", "ztor"])
def test_delta_against_metafor(name):
    d = REF["delta"]
    f = math.exp if name == "exp" else math.tanh
    yi, vi = conv_delta(d["input"]["yi"], d["input"]["vi"], f)
    assert yi == pytest.approx(d[name]["yi"], rel=1e-12)
    assert vi == pytest.approx(d[name]["vi"], rel=1e-9)
    _, v2 = conv_delta(
        d["input"]["yi"],
        d["input"]["vi"],
        f,
        deriv=f if name == "exp" else (lambda x: 1 - math.tanh(x) ** 2),
    )
    assert v2 == pytest.approx(vi, rel=1e-9)
