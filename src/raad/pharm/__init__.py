"""Pharmacology simulation: ketamine IV with norketamine, esketamine nasal, naltrexone
blockade and plasma curves, NMDA occupancy from binding constants, N2O uptake with methionine-synthase inactivation (assumption),
and virtual trials. Parameters live in knowledge/pharmacology.yaml with their sources."""

from .errors import PharmInputError
from .esketamine import simulate_esketamine
from .ketamine import KetamineResult, simulate_ketamine_iv
from .n2o import simulate_course
from .naltrexone import ketamine_start, mu_blockade, mu_blockade_after, mu_blockade_history
from .nmda import nmda_occupancy
from .params import pharmacology
from .simulate import Patient, simulate
from .trials import analytic_power, sample_size, simulate_trials

__all__ = [
    "KetamineResult",
    "Patient",
    "PharmInputError",
    "analytic_power",
    "ketamine_start",
    "mu_blockade",
    "mu_blockade_after",
    "mu_blockade_history",
    "nmda_occupancy",
    "pharmacology",
    "sample_size",
    "simulate",
    "simulate_course",
    "simulate_esketamine",
    "simulate_ketamine_iv",
    "simulate_trials",
]
