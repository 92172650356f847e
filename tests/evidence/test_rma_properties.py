"""Invariances any correct meta-analysis must have (hypothesis property tests)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from raad.evidence import METHODS, rma

finite = st.floats(min_value=-5, max_value=5, allow_nan=False, allow_infinity=False)
variance = st.floats(min_value=0.005, max_value=2.0, allow_nan=False)


@st.composite
def meta_data(draw, min_k: int = 3, max_k: int = 15):
    k = draw(st.integers(min_k, max_k))
    y = np.array(draw(st.lists(finite, min_size=k, max_size=k)))
    v = np.array(draw(st.lists(variance, min_size=k, max_size=k)))
    return y, v


def fit(y, v, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return rma(y, v, **kw)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(meta_data(), st.sampled_from(METHODS), st.randoms(use_true_random=False))
def test_permuting_studies_changes_nothing(data, method, rnd):
    y, v = data
    order = list(range(len(y)))
    rnd.shuffle(order)
    a, b = fit(y, v, method=method), fit(y[order], v[order], method=method)
    assert b.estimate == pytest.approx(a.estimate, rel=1e-7, abs=1e-9)
    assert b.se == pytest.approx(a.se, rel=1e-7)
    assert b.tau2 == pytest.approx(a.tau2, rel=1e-6, abs=1e-9)
    assert b.qe == pytest.approx(a.qe, rel=1e-9, abs=1e-9)


@SETTINGS
@given(meta_data(), st.sampled_from(METHODS), st.floats(0.1, 10), st.floats(-3, 3))
def test_affine_rescaling_is_equivariant(data, method, scale, shift):
    """y -> a y + b, v -> a² v: estimate -> a est + b, se -> a se, tau2 -> a² tau2, z/Q/I² fixed."""
    y, v = data
    a = fit(y, v, method=method)
    b = fit(scale * y + shift, scale**2 * v, method=method)
    assert b.estimate == pytest.approx(scale * a.estimate + shift, rel=1e-6, abs=1e-8)
    assert b.se == pytest.approx(scale * a.se, rel=1e-6)
    assert b.tau2 == pytest.approx(scale**2 * a.tau2, rel=1e-5, abs=1e-8 * scale**2)
    assert b.qe == pytest.approx(a.qe, rel=1e-8, abs=1e-9)
    assert b.i2 == pytest.approx(a.i2, rel=1e-5, abs=1e-6)


@SETTINGS
@given(
    st.lists(st.floats(-0.05, 0.05), min_size=3, max_size=12),
    st.sampled_from(["DL", "REML", "ML", "PM", "HE", "SJ", "EB", "HS"]),
)
def test_random_equals_fixed_when_tau2_is_zero(values, method):
    y = np.array(values)
    v = np.linspace(0.5, 2.0, len(y))
    r = fit(y, v, method=method)
    assume(r.tau2 == 0.0)
    f = fit(y, v, method="FE")
    assert r.estimate == pytest.approx(f.estimate, rel=1e-12, abs=1e-14)
    assert r.se == pytest.approx(f.se, rel=1e-12)


@SETTINGS
@given(st.integers(3, 12), st.floats(-2, 2), st.sampled_from(["DL", "REML", "ML", "PM", "EB"]))
def test_identical_effects_give_zero_tau2(k, value, method):
    r = fit(np.full(k, value), np.linspace(0.02, 0.3, k), method=method)
    assert r.tau2 == pytest.approx(0.0, abs=1e-12)
    assert r.qe == pytest.approx(0.0, abs=1e-12)
    assert r.estimate == pytest.approx(value, abs=1e-12)


@SETTINGS
@given(meta_data(min_k=4), st.sampled_from(METHODS))
def test_knha_ci_uses_t_and_ci_contains_estimate(data, method):
    y, v = data
    r = fit(y, v, method=method, test="knha")
    assert r.ddf == len(y) - 1
    assert r.ci_lb <= r.estimate <= r.ci_ub
    if not r.is_fixed:
        p = r.predict()
        assert p.pi_lb <= r.ci_lb + 1e-12 and p.pi_ub >= r.ci_ub - 1e-12


@SETTINGS
@given(meta_data(min_k=4, max_k=10))
def test_q_profile_interval_contains_qp_consistent_estimate(data):
    y, v = data
    r = fit(y, v, method="PM")
    ci = r.tau2_ci()
    # the PM estimate solves Q(tau2) = k - 1, which lies between the chi² quantiles used by QP
    assert ci.tau2[1] - 1e-9 <= r.tau2 <= ci.tau2[2] + 1e-9
