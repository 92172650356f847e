"""TRD status from the antidepressant history."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raad.clinical.errors import ClinicalInputError
from raad.clinical.staging import trd_status

FAILED = {"weeks": 8, "adequate_dose": True, "outcome": "non-response", "current_episode": True}


def test_two_failed_trials_of_different_mechanisms_is_trd():
    r = trd_status(
        [FAILED | {"drug": "sertraline"}, FAILED | {"atc": "N06AA09", "drug": "amitriptyline"}]
    )
    assert r.status == "TRD" and r.mechanism_groups == ("N06AB", "N06AA")
    assert "gaynes2020-trd" in r.sources and "whocc-atc-n06a" in r.sources


def test_same_mechanism_twice_is_not_trd():
    r = trd_status([FAILED | {"drug": "sertraline"}, FAILED | {"drug": "escitalopram"}])
    assert r.status == "not TRD" and r.mechanism_groups == ("N06AB",)


def test_each_n06ax_substance_is_its_own_mechanism():
    r = trd_status([FAILED | {"atc": "N06AX16"}, FAILED | {"atc": "N06AX11"}])
    assert r.status == "TRD"


def test_short_trial_shows_the_alternative_definition():
    r = trd_status([FAILED | {"drug": "sertraline"}, FAILED | {"atc": "N06AX16", "weeks": 5}])
    assert r.status == "not TRD"
    assert r.alternatives == {"KIM / ATHF duration (at least four weeks)": "TRD"}


def test_unknown_facts_make_it_indeterminate_not_trd():
    r = trd_status(
        [FAILED | {"drug": "sertraline"}, FAILED | {"atc": "N06AX16", "adequate_dose": None}]
    )
    assert r.status == "indeterminate"
    assert any("adequate dose" in m for m in r.missing)
    r = trd_status([FAILED | {"drug": "sertraline"}, FAILED | {"drug": "moclobemide"}])
    assert r.status == "indeterminate" and any("ATC" in m for m in r.missing)


def test_named_antidepressants_resolve_to_their_atc_group():
    r = trd_status([FAILED | {"drug": "sertraline"}, FAILED | {"drug": "mirtazapine"}])
    assert r.status == "TRD" and r.mechanism_groups == ("N06AB", "N06AX11")
    r = trd_status([FAILED | {"drug": "sertraline"}, FAILED | {"drug": "citalopram"}])
    assert r.status != "TRD"  # both SSRIs (N06AB): one mechanism


def test_past_episode_intolerance_and_response_do_not_count():
    r = trd_status(
        [
            FAILED | {"drug": "sertraline"},
            FAILED | {"atc": "N06AA09", "current_episode": False},
            FAILED | {"atc": "N06AX16", "outcome": "intolerance"},
            FAILED | {"atc": "N06AX11", "outcome": None, "improvement_percent": 60},
        ]
    )
    assert r.status == "not TRD"


@pytest.mark.parametrize(
    ("trial", "field"),
    [
        ({"atc": "X99"}, "history.0.atc"),
        ({"weeks": -2}, "history.0.weeks"),
        ({"colour": "red"}, "history.0.colour"),
    ],
)
def test_bad_history_names_the_field(trial, field):
    with pytest.raises(ClinicalInputError) as exc:
        trd_status([trial])
    assert exc.value.field == field


trial = st.fixed_dictionaries(
    {
        "atc": st.sampled_from(["N06AB06", "N06AA09", "N06AX16", "N06AX11", "N06AF03"]),
        "weeks": st.one_of(st.none(), st.floats(0, 20)),
        "adequate_dose": st.one_of(st.none(), st.booleans()),
        "outcome": st.one_of(
            st.none(), st.sampled_from(["response", "non-response", "intolerance"])
        ),
        "current_episode": st.one_of(st.none(), st.booleans()),
    }
)


@settings(max_examples=200, deadline=None)
@given(st.lists(trial, max_size=6), trial)
def test_adding_a_trial_never_removes_trd(history, extra):
    rank = {"not TRD": 0, "indeterminate": 1, "TRD": 2}
    before, after = trd_status(history), trd_status([*history, extra])
    assert rank[after.status] >= rank[before.status] or before.status == "indeterminate"
    if before.status == "TRD":
        assert after.status == "TRD"


def test_no_history_recorded_is_not_read_as_not_trd():
    """Issue 18: "not TRD" was shown where no history was recorded; unknown is never normal."""
    r = trd_status([])
    assert r.status == "indeterminate"
    assert r.missing == ("no antidepressant trial recorded: take the treatment history",)
    assert set(r.alternatives.values()) == {"indeterminate"}
