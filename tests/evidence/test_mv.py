"""Multilevel and multivariate models, vcalc and cluster-robust inference against metafor
3.8.1's rma.mv, vcalc and robust (tests/fixtures/metafor/mv.R): the three-level
dat.konstantopoulos2011 (REML and ML, with and without a moderator) and the bivariate
dat.berkey1998 with its known sampling covariances."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raad.evidence import EvidenceInputError
from raad.evidence.mv import rma_mv, robust, vcalc

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "metafor" / "mv.json").read_text())
KONST = pd.DataFrame(REF["konst"])
FITS = {(f["data"], f["method"]): f for f in REF["fits"]}


def _check(res, f):
    np.testing.assert_allclose(res.beta, f["beta"], rtol=1e-6)
    np.testing.assert_allclose(res.se, f["se"], rtol=1e-6)
    np.testing.assert_allclose(res.sigma2, np.atleast_1d(f["sigma2"]), rtol=1e-5)
    assert res.ll == pytest.approx(f["ll"], rel=1e-7)
    assert res.qe == pytest.approx(f["QE"], rel=1e-9)
    assert list(res.nlvls) == list(np.atleast_1d(f["nlvls"]))
    if "QM" in f:
        assert res.qm == pytest.approx(f["QM"], rel=1e-6)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_three_level_model_and_robust_errors(method):
    f = FITS[("konstantopoulos2011", method)]
    res = rma_mv("yi", "vi", random="~ 1 | district/school", data=KONST, method=method)
    _check(res, f)
    rb = robust(res, KONST.district)
    np.testing.assert_allclose(rb.se, f["robust"]["se"], rtol=1e-6)
    np.testing.assert_allclose(rb.pval, f["robust"]["pval"], rtol=1e-5)
    assert rb.df.tolist() == [f["robust"]["df"]]
    cr2 = robust(res, KONST.district, clubSandwich=True)  # clubSandwich 0.5.8's CR2
    np.testing.assert_allclose(cr2.se, f["cr2"]["se"], rtol=1e-6)
    np.testing.assert_allclose(cr2.df, f["cr2"]["df"], rtol=1e-6)
    np.testing.assert_allclose(cr2.pval, f["cr2"]["pval"], rtol=1e-5)
    json.dumps(cr2.to_dict(), allow_nan=False)
    json.dumps(res.to_dict(), allow_nan=False)
    json.dumps(rb.to_dict(), allow_nan=False)
    assert "district/school" in str(res)


def test_a_moderator():
    f = FITS[("konstantopoulos2011-year", "REML")]
    res = rma_mv("yi", "vi", random="~ 1 | district/school", data=KONST, mods="~ year")
    _check(res, f)
    rb = robust(res, KONST.district)
    np.testing.assert_allclose(rb.se, f["robust"]["se"], rtol=1e-6)
    assert rb.df.tolist() == [f["robust"]["df"]] * 2


def test_bivariate_with_known_covariances():
    f = FITS[("berkey1998", "REML")]
    b = REF["berkey"]
    frame = pd.DataFrame({"yi": b["yi"], "trial": b["trial"], "outcome": b["outcome"]})
    res = rma_mv("yi", np.array(b["V"]), random="~ 1 | trial", data=frame, mods="~ outcome - 1")
    _check(res, f)


def test_vcalc_equals_metafors():
    V = vcalc(KONST.vi, KONST.district, rho=0.6, obs=KONST.school)
    np.testing.assert_allclose(V, np.array(REF["vcalc_rho06"]), rtol=1e-12, atol=1e-15)


def test_bad_inputs_name_the_field():
    with pytest.raises(EvidenceInputError, match="random"):
        rma_mv("yi", "vi", random="~ district", data=KONST)
    with pytest.raises(EvidenceInputError, match="random"):
        rma_mv("yi", "vi", random="~ 1 | nowhere", data=KONST)
    with pytest.raises(EvidenceInputError, match="method"):
        rma_mv("yi", "vi", random="~ 1 | district", data=KONST, method="DL")
    with pytest.raises(EvidenceInputError, match="rho"):
        vcalc(KONST.vi, KONST.district, rho=1.5)
