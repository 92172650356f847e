"""Dose-response trial design by simulation (raad.pharm.design): type I error, power against
a slow per-trial loop and against the noncentral t, multiplicity, inputs with sources."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from typer.testing import CliRunner

from raad.cli import app
from raad.pharm import PharmInputError
from raad.pharm.design import analyse, evidence_effects, generate, simulate_design
from raad.pharm.trials import analytic_power


def _mc_band(p: float, trials: int) -> float:
    return 4 * math.sqrt(p * (1 - p) / trials)


def test_type_one_error_equals_alpha():
    """One dose against placebo, no effect, dropout 10% per visit: two-sided rejections at
    alpha 0.05 happen 5% of the time (within 4 Monte Carlo SEs)."""
    res = simulate_design([0, 0.5], [0, 0], 20, trials=20_000, dropout=0.1, seed=11)
    assert abs(res.rejection_rate - 0.05) < _mc_band(0.05, 20_000)
    assert res.power == res.rejection_rate  # with no effect, power is the type I error


def test_holm_keeps_the_family_wise_error_at_alpha():
    none = simulate_design([0, 0.25, 0.5], [0, 0, 0], 20, trials=20_000, multiplicity="none")
    holm = simulate_design([0, 0.25, 0.5], [0, 0, 0], 20, trials=20_000, multiplicity="holm")
    band = _mc_band(0.05, 20_000)
    assert none.reject_any.mean(axis=0) == pytest.approx([0.05, 0.05], abs=band)
    assert none.rejection_rate > 0.05 + band  # two tests unadjusted: inflated
    assert holm.rejection_rate < 0.05 + band


def test_decisions_equal_a_slow_per_trial_loop_on_the_same_data():
    """The vectorised analysis gives, trial by trial, the decisions of scipy's t-test on the
    patients' means with statsmodels' Holm adjustment."""
    rng = np.random.default_rng(5)
    y, _ = generate(rng, 300, np.array([0.0, -0.4, -0.6]), 15, 4, 0.5, 0.15)
    better, rejected, p, *_ = analyse(y, 0.05, "holm")
    for i in range(y.shape[0]):
        means = [np.nanmean(y[i, a][~np.isnan(y[i, a]).all(-1)], axis=-1) for a in range(3)]
        ps, ds = [], []
        for a in (1, 2):
            t = stats.ttest_ind(means[a], means[0])
            ps.append(t.pvalue)
            ds.append(means[a].mean() - means[0].mean())
        assert p[i] == pytest.approx(ps, rel=1e-9)
        holm = multipletests(ps, alpha=0.05, method="holm")[0]
        assert list(rejected[i]) == list(holm)
        assert list(better[i]) == [h and d < 0 for h, d in zip(holm, ds, strict=True)]


def test_power_matches_the_noncentral_t():
    """No dropout, one dose: the patient mean over 4 visits has SD sqrt(rho + (1 - rho)/4),
    so the power is the two-sample t-test's at SMD / that SD (Cohen 1988)."""
    n, d, rho = 25, -0.5, 0.5
    res = simulate_design([0, 0.5], [0, d], n, trials=20_000, rho=rho, seed=3)
    sd = math.sqrt(rho + (1 - rho) / 4)
    want = analytic_power("parallel", n, d / sd, 0.05)
    assert res.power == pytest.approx(want, abs=_mc_band(want, 20_000))


def test_assurance_is_below_power_for_an_uncertain_effect():
    fixed = simulate_design([0, 0.5], [0, -0.65], 30, trials=10_000, seed=1)
    drawn = simulate_design([0, 0.5], [0, -0.65], 30, trials=10_000, effect_se=[0, 0.3], seed=1)
    assert drawn.power < fixed.power


def test_evidence_effects_carry_their_sources():
    effects, ses, inputs = evidence_effects([0, 0.25, 0.5])
    assert effects == [0.0, -0.65, -0.65]  # Qiu 2023 24 h SMD; 25% taken as 50% (P = 0.58)
    assert ses[2] == pytest.approx((-0.29 - -1.01) / (2 * stats.norm.isf(0.025)))
    assert all(i.source for i in inputs)
    assert any("qiu2023" in i.source for i in inputs)
    assert any("nagele2021" in i.source for i in inputs)
    with pytest.raises(PharmInputError, match="arms"):
        evidence_effects([0, 0.7])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"doses": [0.5, 0], "effects": [0, 0]}, "arms"),
        ({"doses": [0, 0.5], "effects": [0.1, 0]}, "effects"),
        ({"doses": [0, 0.5], "effects": [0, 0], "multiplicity": "sidak"}, "multiplicity"),
        ({"doses": [0, 0.5], "effects": [0, 0], "dropout": 0.95}, "dropout"),
        ({"doses": [0, 0.5], "effects": [0, 0], "nausea": [0.1]}, "nausea"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    args = {"n_per_arm": 10, "trials": 10, **kwargs}
    with pytest.raises(PharmInputError, match=field):
        simulate_design(args.pop("doses"), args.pop("effects"), args.pop("n_per_arm"), **args)


def test_cli_design_json_interface():
    runner = CliRunner()
    out = runner.invoke(
        app,
        [
            "pharm",
            "design",
            "--arms",
            "0,0.25,0.5",
            "--effect-source",
            "evidence",
            "--n-per-arm",
            "20",
            "--trials",
            "2000",
            "--seed",
            "4",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    assert {"power", "type1_error", "arms", "inputs"} <= set(d)
    assert [a["dose"] for a in d["arms"]] == [0.25, 0.5]
    assert all(i["source"] for i in d["inputs"])
    null = json.loads(
        runner.invoke(
            app,
            [
                "pharm",
                "design",
                "--effect-source",
                "0",
                "--n-per-arm",
                "20",
                "--trials",
                "4000",
                "--json",
            ],
        ).output
    )
    assert null["power"] == pytest.approx(0.05, abs=_mc_band(0.05, 4000))
    bad = runner.invoke(app, ["pharm", "design", "--arms", "0,x"])
    assert bad.exit_code == 2 and "arms" in bad.output


def test_crossover_type_one_error_power_and_carry_over_bias():
    """Two arms, each patient gets both: no effect -> alpha; SMD -0.5 -> the paired t-test's
    power (noncentral t with ncp d sqrt(n / (2 (1 - rho))), Cohen 1988); a carry-over of 40%
    of the previous period's effect biases the within-patient difference to d (1 - 0.4 / 2)
    with the AB and BA orders used equally (AB: d - 0.4 d; BA: d)."""
    from raad.pharm.design import simulate_crossover

    null = simulate_crossover([0, 0.5], [0, 0], 20, trials=20_000, seed=2)
    assert abs(null.rejection_rate - 0.05) < _mc_band(0.05, 20_000)
    res = simulate_crossover([0, 0.5], [0, -0.5], 20, trials=20_000, rho=0.5, seed=1)
    want = analytic_power("crossover", 20, -0.5, 0.05, 0.5)
    assert res.power == pytest.approx(want, abs=_mc_band(want, 20_000))
    biased = simulate_crossover([0, 0.5], [0, -0.5], 20, trials=20_000, carryover=0.4, seed=3)
    assert biased.estimates.mean() == pytest.approx(-0.5 * (1 - 0.2), abs=0.01)
    assert res.to_dict()["design"] == "crossover" and res.to_dict()["patients"] == 20


def test_cli_crossover_design():
    out = CliRunner().invoke(
        app,
        [
            "pharm",
            "design",
            "--design",
            "crossover",
            "--patients",
            "24",
            "--carryover",
            "0.2",
            "--trials",
            "1000",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    names = {i["name"] for i in d["inputs"]}
    assert (
        d["design"] == "crossover" and "carry-over (share of the previous period's effect)" in names
    )
    assert "correlation between periods" in names
    bad = CliRunner().invoke(app, ["pharm", "design", "--design", "crossover"])
    assert bad.exit_code == 2 and "patients" in bad.output
