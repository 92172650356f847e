"""anova() of nested models against metafor 3.8.1 (tests/fixtures/metafor/anova.R)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raad.evidence import EvidenceInputError, rma
from raad.evidence.anova import anova

REF = json.loads((Path(__file__).parents[1] / "fixtures" / "metafor" / "anova.json").read_text())
TIGHT = {"threshold": 1e-12, "tol": 1e-12, "maxiter": 10000}


def test_likelihood_ratio_test_equals_metafors():
    full = rma(REF["yi"], REF["vi"], mods=REF["ablat"], method="ML", control=TIGHT)
    reduced = rma(REF["yi"], REF["vi"], method="ML", control=TIGHT)
    a = anova(full, reduced)
    assert a.lrt == pytest.approx(REF["lrt"], rel=1e-7)
    assert a.pval == pytest.approx(REF["pval"], rel=1e-6)
    assert a.df == REF["parms_full"] - REF["parms_reduced"]
    for mine, theirs in ((a.full, REF["full"]), (a.reduced, REF["reduced"])):
        for key in ("ll", "AIC", "BIC", "AICc"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-7), key
    assert a.full["QE"] == pytest.approx(REF["qe_full"], rel=1e-9)
    assert a.reduced["tau2"] == pytest.approx(REF["tau2_reduced"], rel=1e-6)
    assert a.r2 == pytest.approx(REF["r2"], rel=1e-6)
    assert "LRT" in str(a) and json.dumps(a.to_dict(), allow_nan=False)


def test_reml_models_with_different_moderators_are_refused():
    full = rma(REF["yi"], REF["vi"], mods=REF["ablat"], method="REML")
    reduced = rma(REF["yi"], REF["vi"], method="REML")
    with pytest.raises(EvidenceInputError, match="ML fits"):
        anova(full, reduced)
