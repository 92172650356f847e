"""escalc against metafor 3.8-1 (tests/fixtures/metafor/escalc.R writes escalc.json) and checks."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from raad.evidence import EscalcResult, EvidenceInputError, EvidenceWarning, escalc, rma
from raad.evidence.escalc import MEASURES, hedges_c

from .conftest import arr, load

DATA = load("escalc.json")
CASES: list[dict[str, Any]] = DATA["cases"]
RTOL, ATOL = 1e-10, 1e-14


def name(case: dict[str, Any]) -> str:
    return case["name"][0]


def options(case: dict[str, Any]) -> dict[str, Any]:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in (case["options"] or {}).items()}


def run(case: dict[str, Any], **extra: Any) -> EscalcResult:
    return escalc(case["measure"][0], **case["args"], **options(case), **extra)


def scaled_errors(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``|ours - ref| / max(|ref|, ATOL/RTOL)``: <= RTOL means relative error <= RTOL or, near
    zero, absolute error <= ATOL (NaN where metafor has NA must match, checked elsewhere)."""
    ok = ~np.isnan(ref)
    return np.abs(ours[ok] - ref[ok]) / np.maximum(np.abs(ref[ok]), ATOL / RTOL)


# --- agreement with metafor -------------------------------------------------------------------


def test_fixture_provenance() -> None:
    assert DATA["metafor_version"] == ["3.8.1"]
    assert DATA["r_version"][0].startswith("R version")
    more = {c["measure"] for c in load("escalc_more.json")["cases"]}
    assert {c["measure"][0] for c in CASES} | more == set(MEASURES)
    assert len({name(c) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=name)
def test_matches_metafor(case: dict[str, Any]) -> None:
    slab = case.get("slab_in")
    res = run(case, slab=slab) if slab is not None else run(case)
    assert res.measure == case["measure"][0]
    for what in ("yi", "vi"):
        ours, ref = getattr(res, what), arr(case[what])
        assert ours.shape == ref.shape, what
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{what}: NA pattern")
        ok = ~np.isnan(ref)
        np.testing.assert_allclose(ours[ok], ref[ok], rtol=RTOL, atol=ATOL, err_msg=what)
    if "slab" in case:
        assert res.slab == case["slab"]


def test_every_value_within_tolerance() -> None:
    """All yi and vi of the fixture together: count and worst relative error."""
    errors = [scaled_errors(getattr(run(c), w), arr(c[w])) for c in CASES for w in ("yi", "vi")]
    flat = np.concatenate(errors)
    assert flat.size > 700
    assert flat.max() <= RTOL


@pytest.mark.parametrize("case", CASES, ids=name)
def test_dataframe_columns_equal_arrays(case: dict[str, Any]) -> None:
    frame = pd.DataFrame({k: arr(v) for k, v in case["args"].items()})
    frame["label"] = [f"s{i}" for i in range(len(frame))]
    a = escalc(
        case["measure"][0],
        data=frame,
        slab="label",
        **{k: k for k in case["args"]},
        **options(case),
    )
    b = run(case, slab=list(frame["label"]))
    np.testing.assert_array_equal(a.yi, b.yi)
    np.testing.assert_array_equal(a.vi, b.vi)
    assert a.slab == b.slab == list(frame["label"])


def test_mixed_inputs_and_scalars() -> None:
    ref = escalc("ZCOR", ri=[0.1, 0.5, -0.3], ni=[50, 50, 50])
    frame = pd.DataFrame({"r": [0.1, 0.5, -0.3]})
    for res in (
        escalc("ZCOR", ri=np.array([0.1, 0.5, -0.3]), ni=50),
        escalc("ZCOR", ri=pd.Series([0.1, 0.5, -0.3]), ni=np.int64(50)),
        escalc("ZCOR", ri="r", ni=50, data=frame),
    ):
        np.testing.assert_array_equal(res.yi, ref.yi)
        np.testing.assert_array_equal(res.vi, ref.vi)
    one = escalc("COR", ri=0.4, ni=30)
    assert one.k == 1 and one.slab == ["Study 1"]


def test_unused_arguments_are_ignored_as_in_metafor() -> None:
    base = dict(m1i=[5.0, 6.0], m2i=[4.0, 4.5], sd1i=[2.0, 2.5], ni=[20, 30], ri=[0.5, 0.6])
    a = escalc("SMCR", **base)
    b = escalc("SMCR", **base, sd2i=[1.0, np.nan], xi=[1, 2, 3])  # not read by SMCR
    np.testing.assert_array_equal(a.yi, b.yi)
    np.testing.assert_array_equal(a.vi, b.vi)


def test_zcor_of_a_tiny_r_is_exact() -> None:
    """metafor's 0.5 log((1+r)/(1-r)) cancels for tiny r (1.00009e-12 at r = 1e-12); arctanh
    is exact. The difference (9e-17) is inside the fixture's absolute tolerance."""
    case = next(c for c in CASES if name(c) == "extreme_ZCOR_2")
    assert arr(case["yi"])[2] == pytest.approx(1.0000889e-12, rel=1e-7)
    assert escalc("ZCOR", ri=[1e-12], ni=[100]).yi[0] == pytest.approx(1e-12, rel=1e-15)


def test_lower_case_measure() -> None:
    assert escalc("smd", m1i=1.0, m2i=0.0, sd1i=1.0, sd2i=1.0, n1i=10, n2i=10).measure == "SMD"


def test_hedges_c_exact_and_overflow_free() -> None:
    from math import gamma, sqrt

    for m in (2.0, 5.0, 38.0, 150.0):
        assert hedges_c(m) == pytest.approx(
            gamma(m / 2) / (sqrt(m / 2) * gamma((m - 1) / 2)), rel=1e-13
        )
    big = hedges_c(np.array([400.0, 1e6]))  # Gamma overflows from m ~ 344 on
    np.testing.assert_allclose(big, 1 - 3 / (4 * np.array([400.0, 1e6]) - 1), rtol=1e-5)
    assert np.isnan(hedges_c(1.0))


# --- zero cells and dropped studies ---------------------------------------------------------


def test_double_zero_tables_are_reported_not_silently_dropped() -> None:
    es = escalc("OR", ai=[0, 3, 2], bi=[10, 7, 8], ci=[0, 1, 4], di=[12, 9, 6], drop00=True)
    assert es.dropped.tolist() == [True, False, False]
    with pytest.raises(EvidenceInputError, match="yi"):
        rma(es, na_action="fail")
    with pytest.warns(EvidenceWarning, match="Studies with NAs omitted from model fitting"):
        omitted = rma(es, method="FE")  # metafor's default: omitted, listed, warned
    assert omitted.k == 2 and omitted.k_all == 3 and omitted.omitted == ("Study 1",)
    kept = es.drop_missing()
    assert kept.slab == ["Study 2", "Study 3"]
    assert rma(kept, method="FE").k == 2


def test_rd_and_pr_get_the_continuity_correction_like_rr() -> None:
    """metafor 3.8 adds 1/2 to zero-cell tables for RD and PR too (not only RR/OR/PLO)."""
    rd = escalc("RD", ai=[0], bi=[20], ci=[2], di=[18])
    assert rd.yi[0] == pytest.approx(0.5 / 21 - 2.5 / 21)
    assert escalc("RD", ai=[0], bi=[20], ci=[2], di=[18], to="none").yi[0] == pytest.approx(-0.1)
    assert escalc("PR", xi=[0], ni=[10]).yi[0] == pytest.approx(0.5 / 11)


# --- result object --------------------------------------------------------------------------


def test_result_object() -> None:
    es = escalc(
        "RR",
        ai=[4, 6, 0],
        bi=[119, 300, 228],
        ci=[11, 29, 0],
        di=[128, 274, 209],
        drop00=True,
        slab=["Aronson", "Ferguson & Simes", "Nil"],
    )
    assert len(es) == es.k == 3
    np.testing.assert_array_equal(es.sei[:2], np.sqrt(es.vi[:2]))
    frame = es.to_frame()
    assert list(frame.columns) == ["slab", "yi", "vi", "sei"]
    assert frame["slab"].tolist() == es.slab
    d = es.to_dict()
    assert d["measure"] == "RR" and d["yi"][2] is None and d["vi"][0] == pytest.approx(es.vi[0])
    text = str(es)
    assert "RR" in text.splitlines()[0]
    assert f"{es.yi[0]:.4f}" in text and f"{es.vi[1]:.4f}" in text and "NA" in text
    rows = text.splitlines()[2:]
    assert len({len(r) for r in rows}) == 1  # aligned columns
    with pytest.raises(dataclasses.FrozenInstanceError):
        es.measure = "OR"  # type: ignore[misc]


def test_result_feeds_rma_with_measure_and_labels() -> None:
    es = escalc(
        "RR",
        ai=[4, 6, 3],
        bi=[119, 300, 228],
        ci=[11, 29, 11],
        di=[128, 274, 209],
        slab=["a", "b", "c"],
    )
    res = rma(es, method="DL")
    assert res.data.measure == "RR" and tuple(res.data.slab) == ("a", "b", "c")
    assert res.k == 3


# --- study labels ---------------------------------------------------------------------------

TABLE = dict(ai=[1, 2, 3], bi=[9, 8, 7], ci=[2, 2, 2], di=[8, 8, 8])


@pytest.mark.parametrize(
    ("slab", "expected"),
    [
        (None, ["Study 1", "Study 2", "Study 3"]),
        (["x", "y", "z"], ["x", "y", "z"]),
        (("x", "y", "z"), ["x", "y", "z"]),
        (pd.Series(["x", "y", "z"]), ["x", "y", "z"]),
        (np.array([2001, 2005, 2010]), ["2001", "2005", "2010"]),
        (["A", "A", "B"], ["A.1", "A.2", "B"]),  # metafor's .make.unique
    ],
)
def test_slab(slab: Any, expected: list[str]) -> None:
    assert escalc("OR", **TABLE, slab=slab).slab == expected


def test_slab_column() -> None:
    frame = pd.DataFrame({**TABLE, "study": ["Pro 1999", "Con 2001", "Pro 1999"]})
    es = escalc("OR", ai="ai", bi="bi", ci="ci", di="di", data=frame, slab="study")
    assert es.slab == ["Pro 1999.1", "Con 2001", "Pro 1999.2"]


@pytest.mark.parametrize(
    ("slab", "data"),
    [
        (["x", "y"], None),
        ("study", None),
        ("nope", pd.DataFrame(TABLE)),
        (["x", None, "z"], None),
        (["x", np.nan, "z"], None),
    ],
)
def test_bad_slab(slab: Any, data: pd.DataFrame | None) -> None:
    with pytest.raises(EvidenceInputError) as exc:
        escalc("OR", **TABLE, slab=slab, data=data)
    assert exc.value.field == "slab" and "slab" in str(exc.value)


# --- input errors ---------------------------------------------------------------------------

SMD = dict(m1i=[1.0], sd1i=[1.0], n1i=[10], m2i=[0.0], sd2i=[1.0], n2i=[10])
CHANGE = dict(m1i=[1.0], m2i=[0.0], sd1i=[1.0], sd2i=[1.0], ni=[10], ri=[0.5])
TWO = dict(ai=[1], bi=[3], ci=[1], di=[10])


def without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


@pytest.mark.parametrize(
    ("measure", "kwargs", "field", "fragment"),
    [
        ("XYZ", {}, "measure", "SMD"),
        (3, {}, "measure", "one of"),
        # missing required arguments
        ("SMD", without(SMD, "n2i"), "n2i", "required for measure='SMD'"),
        ("MD", without(SMD, "sd1i"), "sd1i", "required for measure='MD'"),
        ("SMCC", without(CHANGE, "ri"), "ri", "required for measure='SMCC'"),
        ("SMCR", without(CHANGE, "sd1i"), "sd1i", "required for measure='SMCR'"),
        ("RR", without(TWO, "ai"), "ai", "required for measure='RR'"),
        ("OR", without(TWO, "bi"), "bi", "required for measure='OR'"),
        ("RD", without(TWO, "di"), "di", "required for measure='RD'"),
        ("PLO", {"xi": [3]}, "mi", "required for measure='PLO'"),
        ("PR", {"ni": [3]}, "xi", "required for measure='PR'"),
        ("ZCOR", {"ri": [0.3]}, "ni", "required for measure='ZCOR'"),
        # sizes and SDs
        ("SMD", {**SMD, "n1i": [-5]}, "n1i", "> 0"),
        ("SMD", {**SMD, "n2i": [0]}, "n2i", "> 0"),
        ("SMD", {**SMD, "sd1i": [-1.0]}, "sd1i", ">= 0"),
        ("SMD", {**SMD, "sd1i": [0.0], "sd2i": [0.0]}, "sd1i", "pooled SD"),
        ("SMD", {**SMD, "n1i": [2], "n2i": [1]}, "n1i", "n1i + n2i > 3"),
        ("MD", {**SMD, "sd1i": [0.0], "sd2i": [0.0]}, "sd1i", "variance 0"),
        ("MD", {**SMD, "sd2i": [-2.0]}, "sd2i", ">= 0"),
        ("SMCR", {**CHANGE, "sd1i": [0.0]}, "sd1i", "sd1i > 0"),
        ("SMCR", {**CHANGE, "ni": [2]}, "ni", "ni > 2"),
        ("SMCC", {**CHANGE, "ri": [1.0]}, "sd1i", "change-score variance"),
        ("SMCC", {**CHANGE, "ri": [1.5]}, "ri", "[-1, 1]"),
        ("MC", {**CHANGE, "ni": [0]}, "ni", "> 0"),
        # lengths
        ("SMD", {**SMD, "m1i": [1.0, 2.0]}, "m1i", "equal length"),
        ("RR", {**TWO, "di": [10, 11]}, "di", "equal length"),
        ("SMD", {k: [] for k in SMD}, "m1i", "at least one study"),
        # counts
        ("RR", {"ai": [5], "n1i": [3], "ci": [1], "n2i": [10]}, "ai", "ai <= n1i"),
        ("RR", {"ai": [1], "n1i": [3], "ci": [11], "n2i": [10]}, "ci", "ci <= n2i"),
        ("RR", {**TWO, "ai": [-1]}, "ai", ">= 0"),
        ("OR", {**TWO, "bi": [-3]}, "bi", ">= 0"),
        ("OR", {**TWO, "n1i": [5]}, "n1i", "n1i = ai + bi"),
        ("PLO", {"xi": [12], "ni": [10]}, "xi", "xi <= ni"),
        ("PR", {"xi": [2], "mi": [3], "ni": [6]}, "ni", "ni = xi + mi"),
        ("PR", {"xi": [0], "ni": [0]}, "ni", "group sizes > 0"),
        ("PR", {"xi": [-1], "ni": [10]}, "xi", ">= 0"),
        # correlations
        ("COR", {"ri": [1.2], "ni": [30]}, "ri", "[-1, 1]"),
        ("COR", {"ri": [1.0], "ni": [30]}, "ri", "|ri| < 1"),
        ("COR", {"ri": [0.3], "ni": [3]}, "ni", "ni > 3"),
        ("ZCOR", {"ri": [0.3], "ni": [3]}, "ni", "ni > 3"),
        ("ZCOR", {"ri": [-1.0], "ni": [30]}, "ri", "|ri| < 1"),
        # non-finite and non-numeric input
        ("PR", {"xi": [np.inf], "ni": [10]}, "xi", "finite"),
        ("SMD", {**SMD, "m2i": [np.inf]}, "m2i", "finite"),
        ("SMD", {**SMD, "sd2i": ["a"]}, "sd2i", "numbers"),
        ("SMD", {**SMD, "n1i": [[10, 11]]}, "n1i", "1-D"),
        ("SMD", {**SMD, "m1i": "m1"}, "m1i", "data="),
        # options
        ("RR", {**TWO, "to": "some"}, "to", "only0"),
        ("RR", {**TWO, "vtype": "UB"}, "vtype", "LS"),
        ("SMD", {**SMD, "vtype": "HO"}, "vtype", "UB"),
        ("RR", {**TWO, "add": -1}, "add", ">= 0"),
        ("RR", {**TWO, "add": float("nan")}, "add", ">= 0"),
        ("RR", {**TWO, "add": True}, "add", "number"),
        ("RR", {**TWO, "drop00": "yes"}, "drop00", "True or False"),
        ("PR", {"xi": [3], "ni": [10], "pi": [0.3]}, "pi", "metafor"),
        ("RR", {**TWO, "data": {"ai": [1]}}, "data", "DataFrame"),
        ("RR", {**TWO, "ai": "events", "data": pd.DataFrame({"a": [1]})}, "ai", "column"),
    ],
)
def test_bad_input_names_the_argument(
    measure: Any, kwargs: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(EvidenceInputError) as exc:
        escalc(measure, **kwargs)
    assert exc.value.field == field
    assert str(exc.value).startswith(f"{field}:")
    assert fragment in exc.value.allowed


def test_a_missing_count_gives_a_missing_effect_as_in_metafor() -> None:
    """metafor's escalc returns NA for a study with a missing input (the issue's real data:
    7 of 21 metadat datasets have one); rma then omits it with metafor's warning."""
    es = escalc("PR", xi=[3, np.nan, 5, None], ni=[10, 10, 12, 9])
    assert np.isnan(es.yi[1]) and np.isnan(es.yi[3]) and not np.isnan(es.yi[0])
    with pytest.warns(EvidenceWarning):
        res = rma(es, method="FE")
    assert res.k == 2 and res.omitted == ("Study 2", "Study 4")
    import json

    out = res.to_dict()
    json.dumps(out, allow_nan=False)  # strict JSON
    assert out["k_all"] == 4 and out["omitted"] == ["Study 2", "Study 4"]
    assert out["warnings"] == ["Studies with NAs omitted from model fitting."]


MORE = load("escalc_more.json")


@pytest.mark.parametrize("case", MORE["cases"], ids=lambda c: f"{c['measure']}-{c['vtype']}")
def test_more_measures_against_metafor(case) -> None:
    """ROM, MN, MNLN, PAS, PFT, SMDH and IRR, and the vtype options that change variances,
    against metafor 3.8.1 (tests/fixtures/metafor/escalc_more.R)."""
    m, vt = case["measure"], case["vtype"]
    if m in ("ROM", "SMDH", "SMD"):
        es = escalc(m, **MORE["two"], vtype=vt)
    elif m == "RD":
        es = escalc(m, **MORE["tbl"], vtype=vt)
    elif m in ("PR", "PLO"):
        es = escalc(m, **MORE["prop"], vtype=vt)
    elif m == "IRR":
        es = escalc(m, **MORE["rate"])
    elif m in ("MN", "MNLN"):
        es = escalc(m, **MORE["one"])
    else:
        es = escalc(m, **MORE["prop"])
    np.testing.assert_allclose(es.yi, case["yi"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(es.vi, case["vi"], rtol=1e-12)
