"""Mantel-Haenszel and Peto pooling against metafor 3.8.1's rma.mh and rma.peto
(tests/fixtures/metafor/mh.R) on dat.bcg, dat.nielweise2007 (zero cells) and dat.collins1985a
(missing counts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from raad.evidence import EvidenceInputError
from raad.evidence.mh import rma_mh, rma_peto

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "metafor" / "mh.json").read_text())


def _na(values):
    return [np.nan if x is None else x for x in values]


def _table(name):
    s = REF["sets"][name]
    return [_na(s[x]) for x in ("ai", "bi", "ci", "di")]


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: c["name"])
def test_against_metafor(case):
    tables = _table(case["data"])
    if case["fn"] == "mh":
        res = rma_mh(*tables, measure=case["measure"], correct=case["correct"])
    else:
        res = rma_peto(*tables)
    assert res.k == case["k"] and res.k_yi == case["k_yi"]
    assert res.beta == pytest.approx(case["beta"], rel=1e-6)
    assert res.se == pytest.approx(case["se"], rel=1e-6)
    assert res.zval == pytest.approx(case["zval"], rel=1e-6)
    lo, hi = res.ci
    assert (lo, hi) == pytest.approx((case["ci_lb"], case["ci_ub"]), rel=1e-6)
    assert res.qe == pytest.approx(case["QE"], rel=1e-6)
    assert res.i2 == pytest.approx(case["I2"], rel=1e-6, abs=1e-9)
    assert res.h2 == pytest.approx(case["H2"], rel=1e-6)
    for name in ("CO", "MH", "BD", "TA"):
        if case.get(name) is not None:
            stat, p = res.tests[name]
            assert stat == pytest.approx(case[name], rel=1e-6), name
            assert p == pytest.approx(case[name + "p"], rel=1e-5, abs=1e-12), name
    json.dumps(res.to_dict(), allow_nan=False)


def test_bad_tables_name_the_field():
    with pytest.raises(EvidenceInputError, match="measure"):
        rma_mh([1], [2], [3], [4], measure="SMD")
    with pytest.raises(EvidenceInputError, match="ai"):
        rma_mh([-1, 2], [2, 3], [3, 4], [4, 5])
    with pytest.raises(EvidenceInputError, match="ai"):
        rma_mh([1, 2], [2, 3], [3, 4], [4])
