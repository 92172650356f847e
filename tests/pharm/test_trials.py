"""Virtual trials: simulated power against the noncentral t, and published sample sizes."""

from __future__ import annotations

import numpy as np
import pytest

from raad.pharm import PharmInputError, analytic_power, sample_size, simulate_trials
from raad.pharm.trials import effect_from_evidence


@pytest.mark.parametrize(
    ("design", "n", "rho"),
    [
        ("parallel", 20, None),
        ("parallel", 40, None),
        ("crossover", 15, 0.5),
        ("crossover", 12, 0.2),
    ],
)
def test_simulated_power_matches_the_noncentral_t(design, n, rho):
    r = simulate_trials(design, n, -0.65, trials=20_000, correlation=rho, seed=7)
    assert abs(r.power - r.analytic_power()) < 4 * r.power_se


def test_type_one_error_is_alpha_under_the_null():
    r = simulate_trials("parallel", 15, 0.0, trials=20_000, seed=2)
    assert abs(np.mean(r.p_values < 0.05) - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 20_000)
    assert abs(r.power - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 20_000)
    x = simulate_trials("crossover", 12, 0.0, trials=20_000, correlation=0.5, seed=3)
    assert abs(x.power - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 20_000)


@pytest.mark.parametrize(
    ("d", "power", "table"),
    [
        (0.2, 0.8, 393),
        (0.5, 0.8, 64),
        (0.8, 0.8, 26),
        (0.2, 0.9, 525),
        (0.5, 0.9, 85),
        (0.8, 0.9, 34),
    ],
)
def test_sample_size_matches_the_published_table(d, power, table):
    """MRC CBU statswiki 'Sample sizes for testing differences in an unpaired t-test'
    (https://imaging.mrc-cbu.cam.ac.uk/statswiki/FAQ/dunp), two-tailed alpha 0.05, per group,
    after Cohen 1988. The table rounds; the exact noncentral t may differ by 1-2."""
    assert abs(sample_size("parallel", d, power) - table) <= max(2, 0.01 * table)


def test_crossover_needs_fewer_patients_when_correlation_is_high():
    a = sample_size("crossover", 0.5, correlation=0.2)
    b = sample_size("crossover", 0.5, correlation=0.8)
    assert b < a < 2 * sample_size("parallel", 0.5)
    assert analytic_power("parallel", sample_size("parallel", 0.5), 0.5) >= 0.8


def test_effect_from_the_evidence_base():
    e = effect_from_evidence("qiu2023-24h")  # SMD -0.65 (95% CI -1.01 to -0.29)
    assert e.smd == -0.65 and e.se == pytest.approx(0.72 / (2 * 1.959964), rel=1e-6)
    with pytest.raises(PharmInputError) as err:
        effect_from_evidence("gill2025-24h")  # an MD needs an SD
    assert err.value.field == "outcome_sd"
    md = effect_from_evidence("gill2025-24h", outcome_sd=6.0)
    assert md.smd == pytest.approx(-3.32 / 6.0)


def test_assurance_is_below_fixed_power_and_estimates_are_unbiased():
    e = effect_from_evidence("qiu2023-24h")
    n = sample_size("parallel", e.smd)
    fixed = simulate_trials("parallel", n, e.smd, trials=20_000, seed=3)
    unc = simulate_trials("parallel", n, e.smd, trials=20_000, effect_se=e.se, seed=3)
    assert unc.power < fixed.power
    assert abs(np.mean(fixed.estimates) - e.smd) < 0.02  # Hedges' g is unbiased


def test_progress_is_reported():
    seen = []
    simulate_trials(
        "parallel", 10, 0.5, trials=5000, chunk=1000, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (5000, 5000) and len(seen) == 5


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"design": "factorial"}, "design"),
        ({"n": 1}, "n"),
        ({"alpha": 1.5}, "alpha"),
        ({"design": "crossover"}, "correlation"),
        ({"design": "crossover", "correlation": 1.0}, "correlation"),
        ({"trials": 0}, "trials"),
    ],
)
def test_bad_input(kw, field):
    args = {"design": "parallel", "n": 10, "effect_smd": 0.5} | kw
    with pytest.raises(PharmInputError) as e:
        simulate_trials(**args)
    assert e.value.field == field


@pytest.mark.parametrize("n", [2, 5, 20, 300])
def test_hedges_g_is_the_evidence_engines_smd(n):
    from raad.evidence import escalc
    from raad.pharm.trials import hedges_c

    rng = np.random.default_rng(n)
    m1, m2 = rng.normal(0, 1, 50), rng.normal(0.5, 1, 50)
    s1, s2 = rng.uniform(0.5, 2, 50), rng.uniform(0.5, 2, 50)
    ours = hedges_c(2 * n - 2) * (m1 - m2) / np.sqrt((s1**2 + s2**2) / 2)
    ref = escalc("SMD", m1i=m1, m2i=m2, sd1i=s1, sd2i=s2, n1i=n, n2i=n).yi
    np.testing.assert_allclose(ours, np.asarray(ref), rtol=1e-12)
