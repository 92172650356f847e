"""The ``raad pharm`` commands print cited numbers and write their plots."""

from __future__ import annotations

from typer.testing import CliRunner

from raad.cli import app


def test_ketamine_curve(tmp_path):
    out = tmp_path / "k.svg"
    r = CliRunner().invoke(app, ["pharm", "ketamine", "--patients", "200", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "clements250" in r.output and "185 ng/mL" in r.output and "zanos2018-table1" in r.output
    assert out.read_text().lstrip().startswith("<?xml")


def test_mu_blockade_curve(tmp_path):
    out = tmp_path / "n.png"
    r = CliRunner().invoke(app, ["pharm", "mu-blockade", "--dose-mg", "50", "--below", "0.5", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "90% mu-opioid blockade" in r.output and "the threshold is yours" in r.output
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_bad_input_names_the_field():
    r = CliRunner().invoke(app, ["pharm", "ketamine", "--dose-mg-per-kg", "-1"])
    assert r.exit_code == 2 and "dose_mg_per_kg" in r.output
