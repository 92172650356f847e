"""Bad input is refused with an error naming the argument; nothing is silently dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raad.evidence import Control, ConvergenceError, EvidenceInputError, rma


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2]}, "yi"),
        ({"yi": [0.1, np.nan, 0.3], "vi": [0.1, 0.2, 0.3], "na_action": "fail"}, "yi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "na_action": "drop"}, "na_action"),
        ({"yi": [np.nan, np.nan], "vi": [0.1, 0.2]}, "yi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, -0.2, 0.3]}, "vi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.0, 0.3]}, "vi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, np.inf, 0.3]}, "vi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "method": "BAYES"}, "method"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "test": "wald"}, "test"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "level": 120}, "level"),
        ({"yi": [0.1], "vi": [0.1], "method": "REML"}, "yi"),
        ({"yi": [0.1, 0.2], "vi": [0.1, 0.2], "mods": [1.0, 2.0], "method": "DL"}, "yi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "mods": [1.0, 2.0]}, "mods"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "mods": [[1, 2], [2, 4], [3, 6]]}, "mods"),
        ({"yi": ["a", "b"], "vi": [0.1, 0.2]}, "yi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": None}, "vi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "slab": ["a", "b"]}, "slab"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "control": {"treshold": 1}}, "control"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.2, 0.3], "mods": "~ x"}, "mods"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(EvidenceInputError) as exc:
        rma(**kwargs)
    assert exc.value.field == field
    assert field in str(exc.value) and "allowed" in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_fixed_effect_with_one_study_is_allowed():
    r = rma([0.4], [0.04], method="FE")
    assert r.estimate == pytest.approx(0.4) and r.se == pytest.approx(0.2)


def test_non_convergence_is_reported():
    # tau2 at an interior point a Fisher-scoring step cannot reach in one iteration
    y = [0.707, 0.284, 0.984, 0.385, 0.616, 0.358, -0.075, 0.961]
    v = [0.12, 0.012, 0.194, 0.144, 0.345, 0.156, 0.19, 0.365]
    with pytest.raises(ConvergenceError) as exc:
        rma(y, v, method="REML", control=Control(maxiter=1, fallback=False))
    assert exc.value.method == "REML" and "did not converge" in str(exc.value)


def test_cycling_fisher_scoring_falls_back_and_says_so():
    """A data set where Fisher scoring cycles near tau2 = 0; Brent's root is the REML maximum."""
    rng = np.random.default_rng(1)
    G = 300
    ks = rng.integers(2, 30, G)
    g = np.repeat(np.arange(G), ks)
    v = rng.uniform(0.01, 0.5, len(g))
    tau = rng.choice([0, 0.05, 0.3, 2], G)[g]
    y = rng.normal(0.3, np.sqrt(v + tau))
    sel = g == 90
    r = rma(y[sel], v[sel], method="REML")
    assert r.algorithm.startswith("Brent")
    assert "Brent" in str(r)
    from scipy.optimize import minimize_scalar

    from raad.evidence.tau2 import loglik

    X = np.ones((int(sel.sum()), 1))
    best = minimize_scalar(
        lambda t: -loglik(y[sel], v[sel], X, t, True),
        bounds=(0, 1),
        method="bounded",
        options={"xatol": 1e-12},
    )
    assert r.tau2 == pytest.approx(best.x, abs=1e-8)
    with pytest.raises(ConvergenceError):
        rma(y[sel], v[sel], method="REML", control=Control(fallback=False))


def test_metafor_default_control_is_looser_but_close():
    y = [0.1, 0.5, 0.3, 0.9, -0.2]
    v = [0.04, 0.05, 0.02, 0.1, 0.03]
    tight = rma(y, v)
    loose = rma(y, v, control=Control.metafor_default())
    assert loose.iterations <= tight.iterations
    assert loose.tau2 == pytest.approx(tight.tau2, abs=1e-4)


def test_sei_and_vi_agree_and_dataframe_columns_work():
    frame = pd.DataFrame(
        {"y": [0.1, 0.5, 0.3, 0.9], "v": [0.04, 0.05, 0.02, 0.1], "study": list("abcd")}
    )
    a = rma("y", "v", data=frame, slab="study")
    b = rma(frame.y, sei=np.sqrt(frame.v))
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)
    assert a.data.slab == ("a", "b", "c", "d")


def test_formula_moderators_match_matrix(metafor_rma):
    bcg = pd.DataFrame(metafor_rma["bcg_frame"])
    by_formula = rma("yi", "vi", mods="~ ablat + year", data=bcg)
    by_matrix = rma(bcg.yi, bcg.vi, mods=bcg[["ablat", "year"]])
    np.testing.assert_allclose(by_formula.beta, by_matrix.beta, rtol=1e-10)
    assert by_formula.data.coef_names == ("intercept", "ablat", "year")
    ref = next(
        c
        for c in metafor_rma["cases"]
        if c["name"] == "bcg_mods_ablat_year" and c["method"] == "REML" and c["test"] == "z"
    )
    np.testing.assert_allclose(by_formula.beta, ref["result"]["beta"], rtol=1e-6)
    # a factor through the formula interface: metafor's alloc contrasts
    alloc = rma("yi", "vi", mods="~ C(alloc)", data=bcg)
    ref = next(
        c
        for c in metafor_rma["cases"]
        if c["name"] == "bcg_mods_alloc" and c["method"] == "REML" and c["test"] == "z"
    )
    np.testing.assert_allclose(alloc.beta, ref["result"]["beta"], rtol=1e-6)
    np.testing.assert_allclose(alloc.qm, ref["result"]["qm"], rtol=1e-6)


def test_btt_selects_coefficients():
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = 0.2 + 0.5 * x + rng.normal(scale=0.2, size=12)
    v = np.full(12, 0.04)
    full = rma(y, v, mods=x)
    just_intercept = rma(y, v, mods=x, btt=[0])
    assert full.btt == (1,) and just_intercept.btt == (0,)
    assert just_intercept.qm == pytest.approx((full.beta[0] / full.se_beta[0]) ** 2)
    with pytest.raises(EvidenceInputError, match="btt"):
        rma(y, v, mods=x, btt=[5])


def test_to_dict_and_str_carry_inputs_and_results():
    r = rma(
        [0.1, 0.5, 0.3, 0.9],
        [0.04, 0.05, 0.02, 0.1],
        method="DL",
        test="knha",
        slab=["A", "B", "C", "D"],
    )
    d = r.to_dict()
    assert d["method"] == "DL" and d["test"] == "knha" and d["k"] == 4
    assert d["inputs"]["slab"] == ["A", "B", "C", "D"]
    assert d["coefficients"]["intercept"]["estimate"] == pytest.approx(r.estimate)
    import json

    json.dumps(d)  # serialisable
    text = str(r)
    assert "DerSimonian-Laird" in text and "Knapp-Hartung t(3)" in text
    assert f"{r.estimate:.4f}" in text and f"{r.tau2:.4f}" in text


def test_predict_newmods_validation_and_transform():
    r = rma([0.1, 0.5, 0.3, 0.9, 0.4], [0.04, 0.05, 0.02, 0.1, 0.03], mods=[1, 2, 3, 4, 5])
    with pytest.raises(EvidenceInputError, match="newmods"):
        r.predict(newmods=[[1, 2]])
    p = r.predict(newmods=[2.5], transf=np.exp)
    base = r.predict(newmods=[2.5])
    assert p.pred == pytest.approx(np.exp(base.pred)) and p.se is None
    with pytest.raises(EvidenceInputError, match="newmods"):
        rma([0.1, 0.5, 0.3], [0.04, 0.05, 0.02]).predict(newmods=[1.0])


def test_follow_ups_refuse_models_with_moderators():
    r = rma([0.1, 0.5, 0.3, 0.9, 0.4], [0.04, 0.05, 0.02, 0.1, 0.03], mods=[1, 2, 3, 4, 5])
    for call in (r.egger, r.trimfill, r.leave1out):
        with pytest.raises(EvidenceInputError, match="mods"):
            call()
    with pytest.raises(EvidenceInputError, match="method"):
        rma([0.1, 0.5, 0.3], [0.04, 0.05, 0.02], method="FE").tau2_ci()


def test_bimodal_reml_likelihood_takes_the_global_maximum():
    """Here the REML estimating equation has an interior local maximum, but the likelihood is
    highest at tau2 = 0; raad must return 0 (as metafor's ll(0) check does)."""
    y = [
        -0.617638,
        0.4079,
        0.44424,
        0.093935,
        -0.3526,
        0.542594,
        0.232755,
        0.277515,
        -0.805773,
        0.247631,
    ]
    v = [
        0.118564,
        0.037556,
        0.041932,
        0.046937,
        0.467171,
        0.132981,
        0.025347,
        0.21788,
        0.158963,
        0.010226,
    ]
    from raad.evidence.tau2 import loglik

    X = np.ones((10, 1))
    grid = np.linspace(0, 0.5, 5001)
    best = grid[np.argmax([loglik(np.array(y), np.array(v), X, t, True) for t in grid])]
    r = rma(y, v, method="REML")
    assert best == 0.0 and r.tau2 == 0.0


@pytest.mark.parametrize("method", ["ML", "REML", "EB"])
def test_vectorised_score_equals_the_matrix_form(method):
    from raad.evidence.tau2 import _score_on_grid, _score_parts

    rng = np.random.default_rng(5)
    y, v = rng.normal(size=9), rng.uniform(0.05, 0.5, 9)
    grid = np.array([0.0, 0.01, 0.3, 2.0, 40.0])
    X = np.ones((9, 1))
    expected = [_score_parts(method, y, v, X, t)[0] for t in grid]
    np.testing.assert_allclose(_score_on_grid(method, y, v, grid), expected, rtol=1e-10, atol=1e-12)
