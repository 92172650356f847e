"""Shared fixtures: metafor reference values (tests/fixtures/metafor/*.json, made by *.R there)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "metafor"


def load(name: str) -> dict:
    with open(FIXTURES / name) as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def metafor_rma() -> dict:
    return load("rma.json")


def arr(x) -> np.ndarray:
    """JSON value (scalar, list, None) as a float array with NaN for R's NA."""
    if x is None:
        return np.array([np.nan])
    a = np.atleast_1d(np.array(x, dtype=object))
    return np.array([np.nan if v is None else v for v in a], dtype=float)


def assert_close(
    actual, expected, *, rtol: float = 1e-6, atol: float = 1e-10, what: str = ""
) -> None:
    """Relative agreement (the issue's criterion), with an absolute floor for values near 0."""
    a, e = np.atleast_1d(np.asarray(actual, dtype=float)), arr(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    mask = ~np.isnan(e)
    assert not np.any(np.isnan(a[mask])), f"{what}: NaN where metafor has a value"
    np.testing.assert_allclose(a[mask], e[mask], rtol=rtol, atol=atol, err_msg=what)
