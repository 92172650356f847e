"""Forest and funnel plots render with labels, weights, diamond, PI and caption."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from raad.evidence import plots, rma

from .conftest import load


def bcg():
    frame = pd.DataFrame(load("rma.json")["bcg_frame"])
    return rma(frame.yi, frame.vi, slab=frame.author), frame


def svg_text(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    return buf.getvalue()


def test_forest_has_labels_weights_pi_and_caption():
    res, frame = bcg()
    fig = plots.forest(res)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert set(frame.author) <= set(labels)
    assert "RE model" in labels and "95% prediction interval" in labels
    right = [t.get_text() for t in ax.child_axes[0].get_yticklabels()]
    weights = res.weights()
    assert any(f"{weights[0]:5.1f}%" in t for t in right)
    text = svg_text(fig)
    assert "τ² = 0.3132" in text or "0.3132" in text
    assert "I² = 92.2%" in text


def test_forest_ratio_measure_uses_log_axis():
    res, _frame = bcg()
    from raad.evidence.inputs import ModelData
    from raad.evidence.rma import fit

    d = ModelData(res.yi, res.vi, res.data.X, res.data.coef_names, True, res.data.slab, "RR")
    rr = fit(d, "REML", "z", 95, res.control)
    ax = plots.forest(rr).axes[0]
    assert ax.get_xscale() == "log"
    assert "RR (log scale)" in ax.get_xlabel()


def test_funnel_shows_filled_studies():
    res, _ = bcg()
    tf = res.trimfill()
    fig = plots.funnel(tf)
    ax = fig.axes[0]
    assert ax.yaxis_inverted()
    pts = [c for c in ax.collections if hasattr(c, "get_offsets") and len(c.get_offsets())]
    n = sum(
        len(c.get_offsets())
        for c in pts
        if c.get_label() in ("studies",) or c.get_label().startswith("filled")
    )
    assert n == res.k + tf.k0
    png = io.BytesIO()
    fig.savefig(png, format="png")
    assert png.getvalue()[:4] == b"\x89PNG"


def test_forest_for_meta_regression_has_no_diamond():
    rng = np.random.default_rng(0)
    x = rng.normal(size=8)
    res = rma(0.3 * x + rng.normal(scale=0.1, size=8), np.full(8, 0.02), mods=x)
    labels = [t.get_text() for t in plots.forest(res).axes[0].get_yticklabels()]
    assert "RE model" not in labels and len(labels) == 8


def test_baujat_numbers_equal_metafors_and_the_plot_draws():
    """metafor 3.8.1's baujat() on dat.bcg (tests/fixtures/metafor/baujat.R)."""
    import json
    from pathlib import Path

    from raad.evidence import plots as evidence_plots
    from raad.evidence import rma
    from raad.evidence.influence import baujat

    ref = json.loads(
        (Path(__file__).parents[1] / "fixtures" / "metafor" / "baujat.json").read_text()
    )
    tight = {"threshold": 1e-12, "tol": 1e-12, "maxiter": 10000}
    for fit in ref["fits"]:
        res = rma(ref["yi"], ref["vi"], method=fit["method"], control=tight)
        d = baujat(res)
        np.testing.assert_allclose(d["x"], fit["x"], rtol=1e-6)
        np.testing.assert_allclose(d["y"], fit["y"], rtol=1e-5)
    fig = evidence_plots.baujat(res)
    assert len(fig.axes[0].texts) == res.k
