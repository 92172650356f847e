"""Pharmacology simulation: ketamine IV compartment models over virtual patients, and
naltrexone's mu-opioid blockade. Parameters live in knowledge/pharmacology.yaml with sources."""

from .ketamine import KetamineResult, simulate_ketamine_iv
from .naltrexone import mu_blockade, mu_blockade_after
from .params import pharmacology

__all__ = [
    "KetamineResult",
    "mu_blockade",
    "mu_blockade_after",
    "pharmacology",
    "simulate_ketamine_iv",
]
