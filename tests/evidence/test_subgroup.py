"""Subgroups and the test for subgroup differences against metafor 3.8.1
(tests/fixtures/metafor/subgroup.R: dat.bcg by allocation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raad.evidence import EvidenceInputError
from raad.evidence.subgroup import subgroups

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "metafor" / "subgroup.json").read_text())
TIGHT = {"threshold": 1e-12, "tol": 1e-12, "maxiter": 10000}


@pytest.mark.parametrize("fit", REF["fits"], ids=lambda f: f["method"])
def test_against_metafor(fit):
    res = subgroups(REF["yi"], REF["vi"], REF["alloc"], method=fit["method"], control=TIGHT)
    assert res.groups == tuple(fit["groups"])
    t = res.table()
    assert t["k"].tolist() == fit["k"]
    assert t["estimate"].tolist() == pytest.approx(fit["estimate"], rel=1e-6)
    assert t["se"].tolist() == pytest.approx(fit["se"], rel=1e-6)
    assert t["tau2"].tolist() == pytest.approx(fit["tau2"], rel=1e-6, abs=1e-10)
    assert res.qb == pytest.approx(fit["qb"], rel=1e-6)
    assert res.qbp == pytest.approx(fit["qbp"], rel=1e-6)
    assert res.df == fit["df"]
    json.dumps(res.to_dict(), allow_nan=False)
    assert "Test for subgroup differences" in str(res)


def test_one_subgroup_is_refused():
    with pytest.raises(EvidenceInputError, match="two subgroups"):
        subgroups([0.1, 0.2], [0.1, 0.1], ["a", "a"])
