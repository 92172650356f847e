"""escalc against metafor 3.8-1 (tests/fixtures/metafor/escalc.R) and its input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raad.evidence import EvidenceInputError, escalc, rma

from .conftest import arr, load

DATA = load("escalc.json")
CASES = DATA["cases"]


def options(case) -> dict:
    opts = {}
    for key, value in (case["options"] or {}).items():
        v = value[0] if isinstance(value, list) else value
        opts[key] = v
    return opts


def test_fixture_provenance():
    assert DATA["metafor_version"] == ["3.8.1"]
    assert {c["measure"][0] for c in CASES} == {"SMD", "MD", "SMCC", "SMCR", "MC", "RR", "OR",
                                                "RD", "PLO", "PR", "ZCOR", "COR"}


@pytest.mark.parametrize("case", CASES, ids=[c["name"][0] for c in CASES])
def test_matches_metafor(case):
    res = escalc(case["measure"][0], **{k: v for k, v in case["args"].items()}, **options(case))
    for name in ("yi", "vi"):
        ours, ref = getattr(res, name), arr(case[name])
        assert ours.shape == ref.shape
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{name} NA pattern")
        ok = ~np.isnan(ref)
        np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-10, atol=1e-14, err_msg=name)


def test_dataframe_columns_equal_arrays():
    bcg = pd.DataFrame(load("rma.json")["bcg_frame"])
    frame = pd.DataFrame({"m1": [10.0, 12.0], "s1": [2.0, 3.0], "n1": [20, 25],
                          "m2": [8.0, 11.0], "s2": [2.5, 2.0], "n2": [22, 24],
                          "study": ["A", "B"]})
    a = escalc("SMD", m1i="m1", sd1i="s1", n1i="n1", m2i="m2", sd2i="s2", n2i="n2",
               data=frame, slab="study")
    b = escalc("SMD", m1i=frame.m1, sd1i=frame.s1, n1i=frame.n1, m2i=frame.m2, sd2i=frame.s2,
               n2i=frame.n2)
    np.testing.assert_array_equal(a.yi, b.yi)
    assert a.slab == ("A", "B") and b.slab == ("Study 1", "Study 2")
    assert "SMD" in str(a) and list(a.to_frame().columns) == ["slab", "yi", "vi", "sei"]
    assert len(bcg) == 13


def test_result_feeds_rma_with_measure_and_labels():
    es = escalc("RR", ai=[4, 6, 3], bi=[119, 300, 228], ci=[11, 29, 11], di=[128, 274, 209],
                slab=["a", "b", "c"])
    res = rma(es, method="DL")
    assert res.data.measure == "RR" and res.data.slab == ("a", "b", "c")
    assert res.k == 3


def test_double_zero_tables_are_reported_not_silently_dropped():
    es = escalc("OR", ai=[0, 3, 2], bi=[10, 7, 8], ci=[0, 1, 4], di=[12, 9, 6], drop00=True)
    assert es.dropped.tolist() == [True, False, False]
    with pytest.raises(EvidenceInputError, match="yi"):
        rma(es)
    assert rma(es.drop_missing(), method="FE").k == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"measure": "XYZ"}, "measure"),
        ({"measure": "SMD", "m1i": [1.0], "sd1i": [1.0], "n1i": [10], "m2i": [0.0], "sd2i": [1.0]}, "n2i"),
        ({"measure": "SMD", "m1i": [1.0], "sd1i": [-1.0], "n1i": [10], "m2i": [0.0], "sd2i": [1.0], "n2i": [10]}, "sd1i"),
        ({"measure": "SMD", "m1i": [1.0, 2.0], "sd1i": [1.0], "n1i": [10], "m2i": [0.0], "sd2i": [1.0], "n2i": [10]}, "m1i"),
        ({"measure": "SMD", "m1i": [1.0], "sd1i": [1.0], "n1i": [0], "m2i": [0.0], "sd2i": [1.0], "n2i": [10]}, "n1i"),
        ({"measure": "RR", "ai": [5], "n1i": [3], "ci": [1], "n2i": [10]}, "ai"),
        ({"measure": "RR", "ai": [-1], "bi": [3], "ci": [1], "di": [10]}, "ai"),
        ({"measure": "OR", "ai": [1], "ci": [1], "di": [3]}, "bi"),
        ({"measure": "SMCC", "m1i": [1.0], "m2i": [0.0], "sd1i": [1.0], "sd2i": [1.0], "ni": [10], "ri": [1.5]}, "ri"),
        ({"measure": "ZCOR", "ri": [0.3], "ni": [3]}, "ni"),
        ({"measure": "COR", "ri": [1.2], "ni": [30]}, "ri"),
        ({"measure": "PLO", "xi": [12], "ni": [10]}, "xi"),
        ({"measure": "PR", "xi": [np.nan], "ni": [10]}, "xi"),
        ({"measure": "RR", "ai": [1], "bi": [3], "ci": [1], "di": [10], "to": "some"}, "to"),
        ({"measure": "RR", "ai": [1], "bi": [3], "ci": [1], "di": [10], "vtype": "UB"}, "vtype"),
        ({"measure": "RR", "ai": [1], "bi": [3], "ci": [1], "di": [10], "add": -1}, "add"),
    ],
)
def test_bad_input_names_the_argument(kwargs, field):
    with pytest.raises(EvidenceInputError) as exc:
        escalc(**kwargs)
    assert exc.value.field == field
    assert field in str(exc.value)
