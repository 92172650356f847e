"""NMDA occupancy from the Ebert 1997 Ki (knowledge/pharmacology.yaml, nmda_occupancy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raad.pharm import Patient, PharmInputError, nmda_occupancy, pharmacology, simulate
from raad.pharm.nmda import occupancy_inputs, to_micromolar

P = pharmacology().nmda_occupancy


def test_185_ng_ml_is_the_published_0_78_micromolar():
    # Zanos 2018 Table 1 gives 185 ng/mL as 0.78 uM; the cited molar mass must agree.
    assert to_micromolar(185.0, "ketamine") == pytest.approx(0.78, abs=0.005)


def test_one_ligand_at_its_ki_occupies_half():
    # Ebert 1997: (S)-ketamine Ki 0.3 uM -> half the sites at 0.3 uM of S-ketamine alone.
    s_at_ki = P.ki_um["s_ketamine"] * P.molar_mass_g_mol["ketamine"]
    assert nmda_occupancy(s_at_ki, form="S") == pytest.approx(0.5, abs=1e-12)
    # a racemate at twice the S Ki holds 0.3 uM S and 0.3 uM R: more than half, R adds a little
    both = nmda_occupancy(2 * s_at_ki)
    r_term = P.ki_um["s_ketamine"] / P.ki_um["r_ketamine"]
    assert both == pytest.approx((1 + r_term) / (2 + r_term), abs=1e-12)


def test_s_enantiomer_occupies_more_than_the_racemate_at_equal_mass():
    c = np.array([50.0, 185.0, 500.0])
    assert np.all(nmda_occupancy(c, form="S") > nmda_occupancy(c))


def test_sources_disagree_and_both_are_shown():
    enant, racemic = nmda_occupancy(185.0), nmda_occupancy(185.0, ki_set="racemic")
    assert racemic > enant + 0.1  # Salat's racemic Ki is ~4x lower than Ebert's combined one


def test_norketamine_adds_occupancy():
    assert nmda_occupancy(100.0, 80.0) > nmda_occupancy(100.0, 0.0)


@given(
    st.floats(0, 1e5, allow_nan=False),
    st.floats(0, 1e5, allow_nan=False),
    st.floats(0, 1e5, allow_nan=False),
)
def test_occupancy_is_a_fraction_and_rises_with_concentration(k, n, extra):
    a = float(nmda_occupancy(k, n))
    b = float(nmda_occupancy(k + extra, n))
    assert 0.0 <= a < 1.0 or a == pytest.approx(1.0)
    assert b >= a - 1e-15


def test_simulate_carries_occupancy_for_ketamine_and_esketamine():
    t = np.linspace(0, 240, 49)
    k = simulate("ketamine-iv-single", Patient(70, 40), t, patients=50)
    assert k.units["nmda_occupancy"] == "fraction"
    assert np.all(k.curves["nmda_occupancy_racemic_ki"] >= k.curves["nmda_occupancy"])
    assert any("Ki" in n for n in k.notes)
    peak = int(np.argmax(np.median(k.curves["ketamine"], axis=0)))
    assert int(np.argmax(np.median(k.curves["nmda_occupancy"], axis=0))) == pytest.approx(
        peak, abs=2
    )
    e = simulate("esketamine-label", Patient(70, 40), t, patients=50)
    assert 0 < e.curves["nmda_occupancy"].max() < 1


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"form": "R"}, "form"),
        ({"ki_set": "human"}, "ki_set"),
        ({"form": "S", "ki_set": "racemic"}, "ki_set"),
    ],
)
def test_bad_choices_name_the_field(kw, field):
    with pytest.raises(PharmInputError) as e:
        nmda_occupancy(100.0, **kw)
    assert e.value.field == field


def test_negative_concentration_is_refused():
    with pytest.raises(PharmInputError) as e:
        occupancy_inputs(-1.0)
    assert e.value.field == "concentration"
