"""Missing values as metafor handles them (tests/fixtures/metafor/na.R, metafor 3.8.1): escalc
gives NA for a study with a missing count; rma leaves studies with a missing yi, vi or
moderator out, lists them and warns in metafor's words; the numbers equal metafor's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raad.evidence import EvidenceWarning, escalc, rma

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "metafor" / "na.json").read_text())
TIGHT = {"threshold": 1e-12, "tol": 1e-12, "maxiter": 10000}


def _na(values):
    return [np.nan if x is None else x for x in values]


def test_escalc_gives_na_where_metafor_does():
    es = escalc("RR", ai=_na(REF["tpos_na"]), bi=REF["tneg"], ci=REF["cpos"], di=REF["cneg"])
    np.testing.assert_allclose(es.yi, _na(REF["yi_na"]), rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(es.vi, _na(REF["vi_na"]), rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: c["name"])
def test_rma_omits_as_metafor_does(case):
    if case["mods"]:
        frame = pd.DataFrame({"yi": REF["yi"], "vi": REF["vi"], "ablat": _na(REF["ablat_na"])})
        args = {"yi": "yi", "vi": "vi", "mods": "~ ablat", "data": frame}
    else:
        args = {"yi": _na(REF["yi_na"]), "vi": _na(REF["vi_na"])}
    with pytest.warns(EvidenceWarning) as caught:
        res = rma(**args, method=case["method"], control=TIGHT)
    assert [str(w.message) for w in caught] == [case["warning"]]
    assert res.k == case["k"] and res.k_all == case["k_all"]
    omitted = [i for i, kept in enumerate(case["not_na"]) if not kept]
    assert res.data.omitted_at == tuple(omitted)
    assert res.omitted == tuple(f"Study {i + 1}" for i in omitted)
    np.testing.assert_allclose(res.beta, case["beta"], rtol=1e-6)
    np.testing.assert_allclose(res.se_beta, case["se"], rtol=1e-6)
    assert res.tau2 == pytest.approx(case["tau2"], rel=1e-6, abs=1e-10)


def test_metafors_other_warnings_and_errors():
    """metafor 3.8.1: a variance ratio of 1e7 warns (7.7e6 does not); a factor with one level
    stops with "contrasts can be applied only to factors with 2 or more levels"."""
    from raad.evidence import EvidenceInputError

    with pytest.warns(EvidenceWarning, match="Ratio of largest to smallest sampling variance"):
        rma([0.1, 0.5, 0.2], [1e-7, 1, 0.5])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rma([0.1, 0.5, 0.2], [1.3e-7, 1, 0.5])
    frame = pd.DataFrame({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.1, 0.1], "g": ["a", "a", "a"]})
    with pytest.raises(EvidenceInputError, match="2 or more levels"):
        rma("yi", "vi", mods="~ g", data=frame)
