"""Rows from the trial base: derivations recorded and recomputable, exclusions explained,
pooled result equal to metafor on the same rows (tests/fixtures/metafor/pool.R)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy import stats

from raad.evidence import rma
from raad.evidence.pooling import as_arrays, md_rows
from raad.knowledge.trials import trial_base

from .conftest import load

FIXTURES = Path(__file__).parents[1] / "fixtures" / "metafor"

TRIALS = [t.model_dump() for t in trial_base().trials]


def rows_24h():
    return md_rows(TRIALS, agent="n2o", fraction=0.5, outcome="depression", time="24h")


def test_rows_and_their_derivations_recompute():
    rows, _ = rows_24h()
    assert [r.study for r in rows] == ["Nagele 2015", "Nagele 2021"]
    # small crossover trials (20 and 24 patients): t with n - 1 df (Cochrane Handbook 6.5.2.3)
    t19 = stats.t.isf(0.025, 19)
    assert rows[0].yi == -5.5 and math.isclose(rows[0].vi, ((8.5 - 2.5) / (2 * t19)) ** 2)
    assert math.isclose(rows[1].vi, (1.93 / stats.t.isf(0.37 / 2, 23)) ** 2)
    assert all(r.flag == "derived" and r.derivation and r.sources for r in rows)
    assert "crossover" in rows[0].derivation and "t with 19 df" in rows[0].derivation
    assert "cochrane-handbook-6-5-2" in rows[0].sources


def test_every_other_trial_is_excluded_with_a_reason():
    rows, excluded = rows_24h()
    assert len(rows) + len(excluded) == len(TRIALS)
    reasons = {e.study: e.reason for e in excluded}
    assert reasons["Yan 2022"].startswith("only a p-value")
    assert "combined" in reasons["Myles 2025"]
    assert "4w" in reasons["Guimaraes 2021"]


def test_parallel_trial_row_from_arm_means():
    rows, _ = md_rows(TRIALS, agent="n2o", fraction=0.5, outcome="depression", time="4w")
    (g,) = [r for r in rows if r.study == "Guimaraes 2021"]
    assert g.yi == pytest.approx(5.92 - 12.89)
    assert g.vi == pytest.approx(4.08**2 / 12 + 5.39**2 / 9)


@pytest.mark.parametrize(
    "fit", load("pool.json")["fits"], ids=lambda f: f"{f['method']}-{f['test']}"
)
def test_pooled_equals_metafor(fit):
    rows, _ = rows_24h()
    yi, vi, labels = as_arrays(rows)
    res = rma(yi, vi, method=fit["method"], test=fit["test"], slab=labels)
    for ours, theirs in [
        (res.estimate, fit["estimate"]),
        (res.se, fit["se"]),
        (res.ci_lb, fit["ci_lb"]),
        (res.ci_ub, fit["ci_ub"]),
        (res.pval, fit["pval"]),
        (res.qe, fit["qe"]),
    ]:
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-10)
    assert res.tau2 == pytest.approx(fit["tau2"], rel=1e-6, abs=1e-10)


def test_every_number_cites_a_source_and_values_sit_in_their_ci():
    for t in trial_base().trials:
        for n in t.numbers:
            assert n.cite.source
            if n.ci is not None and n.value is not None:
                assert n.ci[0] <= n.value <= n.ci[1]


def test_sensitivity_table_and_plot():
    import io

    from raad.evidence import plots
    from raad.evidence.pooling import sensitivity

    rows, _ = rows_24h()
    pops = {t.label: t.population for t in trial_base().trials}
    sens = sensitivity(rows, pops)
    names = [s.analysis for s in sens]
    assert names[0] == "main: REML, knha" and "FE, z" in names
    assert any(n.startswith("without Nagele 2015") for n in names)
    fe = next(s for s in sens if s.analysis == "FE, z")
    w = [1 / r.vi for r in rows]
    assert fe.estimate == pytest.approx(
        sum(wi * r.yi for wi, r in zip(w, rows, strict=True)) / sum(w)
    )
    assert next(
        s for s in sens if s.analysis.startswith("without")
    ).note  # k=1 is reported, not pooled
    buf = io.BytesIO()
    plots.sensitivity(sens).savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_trimfill_says_when_se_k0_and_q0_are_undefined_and_keeps_measure_and_labels():
    """Break-test findings (metafor 3.8.1 run on the same numbers): L0 with a negative
    variance of Sr gives k0 = 0 and se.k0 = NaN in metafor (raad said 0); Q0 with
    2k^2 - 4Sr + 1/4 < 0 stops metafor with "missing value where TRUE/FALSE needed" (raad
    raised a bare "math domain error")."""
    import json
    import math

    from raad.evidence import EvidenceInputError, escalc, rma
    from raad.evidence.bias import trimfill

    y = [0.4125, 0.1997, 2.2815, 0.2513, 0.1359, 0.4555, 0.4024]
    v = [0.1642, 0.218, 0.4413, 0.27, 0.4953, 0.4006, 0.2602]
    tf = trimfill(rma(y, v, method="FE"), estimator="L0")
    assert tf.k0 == 0 and math.isnan(tf.se_k0) and tf.side == "left"
    out = tf.to_dict()
    assert out["se_k0"] is None
    json.dumps(out, allow_nan=False)
    with pytest.raises(EvidenceInputError, match="Q0 is undefined"):
        trimfill(
            rma([0.6225, 0.3934, 0.4502, 0.1563], [0.206, 0.4387, 0.3424, 0.4555], method="FE"),
            estimator="Q0",
        )
    # the filled model keeps the measure (the funnel's axis) and names the filled studies
    es = escalc(
        "RR",
        ai=[4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
        bi=[119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886],
        ci=[11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
        di=[128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825],
    )
    filled = trimfill(rma(es, method="FE"))
    assert filled.model.data.measure == "RR"
    assert filled.model.data.slab[-filled.k0 :] == tuple(
        f"Filled {i + 1}" for i in range(filled.k0)
    )


def test_every_dose_pooled_with_a_multilevel_model_as_metafor():
    """The issue: Nagele 2021 compares 25% and 50% with one placebo; both contrasts enter a
    two-level model with sampling covariances for the shared control (rho assumed and varied),
    equal to metafor's vcalc + rma.mv (tests/fixtures/metafor/pool.R)."""
    from raad.evidence.pooling import dose_rows, multilevel

    rows, _ = dose_rows(TRIALS, agent="n2o", outcome="depression", time="24h")
    assert [(r.trial, r.dose) for r in rows] == [
        ("nagele2015", "n2o-50"),
        ("nagele2021", "n2o-50"),
        ("nagele2021", "n2o-25"),
    ]
    ref = load("pool.json")["multilevel"]
    for (rho, res), want in zip(multilevel(rows), ref, strict=True):
        assert rho == want["rho"]
        assert res.beta[0] == pytest.approx(want["estimate"], rel=1e-5)
        assert res.se[0] == pytest.approx(want["se"], rel=1e-5)
        assert res.sigma2[0] == pytest.approx(want["sigma2"][0], rel=1e-4)
        assert res.sigma2[1] == pytest.approx(0, abs=1e-6)
        assert res.qe == pytest.approx(want["qe"], rel=1e-8)


def _harm_trial(i, a, n1, c, n2, dose=0.5, control_count=True):
    numbers = [
        {
            "kind": "count",
            "outcome": "nausea or vomiting",
            "arm": "n2o",
            "events": a,
            "n": n1,
            "cite": {"source": f"s{i}"},
        },
    ]
    if control_count:
        numbers.append(
            {
                "kind": "count",
                "outcome": "nausea or vomiting",
                "arm": "placebo",
                "events": c,
                "n": n2,
                "cite": {"source": f"s{i}"},
            }
        )
    return {
        "label": f"Trial {i}",
        "arms": [
            {"id": "n2o", "agent": "n2o", "n2o_fraction": dose},
            {"id": "placebo", "control": "air/oxygen"},
        ],
        "numbers": numbers,
    }


def test_harms_pool_with_mantel_haenszel_as_metafor():
    """Adverse-event tables pooled by dose equal metafor's rma.mh RR on the same tables
    (dat.bcg's counts used as event counts: tests/fixtures/metafor/mh.json)."""
    from raad.evidence.pooling import harm_tables, pool_harms

    ref = json.loads((FIXTURES / "mh.json").read_text())
    s = ref["sets"]["bcg"]
    want = next(c for c in ref["cases"] if c["name"] == "bcg/RR/correct")
    trials = [
        _harm_trial(i, a, a + b, c, c + d)
        for i, (a, b, c, d) in enumerate(zip(s["ai"], s["bi"], s["ci"], s["di"], strict=True))
    ]
    trials.append(_harm_trial(99, 4, 20, 0, 0, control_count=False))
    trials.append(_harm_trial(98, 1, 12, 0, 11, dose=0.25))
    tables, excluded = harm_tables(trials, "n2o")
    assert [x.study for x in excluded] == ["Trial 99"]
    assert "no control-arm count" in excluded[0].reason
    rows = pool_harms(tables)
    by_dose = {r["dose"]: r for r in rows}
    assert by_dose[0.5]["k_trials"] == 13
    assert math.log(by_dose[0.5]["estimate"]) == pytest.approx(want["beta"], rel=1e-9)
    assert math.log(by_dose[0.5]["ci_lb"]) == pytest.approx(want["ci_lb"], rel=1e-9)
    assert by_dose[0.25]["k_trials"] == 1
    assert by_dose[0.25]["estimate"] is None and "events" in by_dose[0.25]["reason"]
