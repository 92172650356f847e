"""The ``raad pharm`` commands, registered on a fresh Typer app, print cited numbers and
write their plots."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from raad.cli_pharm import register


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    a = typer.Typer()

    @a.callback()
    def _root() -> None:
        """test root"""

    register(a)
    return a


def run(app, *args):
    return CliRunner().invoke(app, ["pharm", *args])


def test_ketamine_curve(app, tmp_path):
    out = tmp_path / "k.svg"
    r = run(app, "ketamine", "--patients", "200", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "clements250" in r.output and "185 ng/mL" in r.output and "zanos2018-table1" in r.output
    assert out.read_text().lstrip().startswith("<?xml")


def test_curve_for_a_regimen(app, tmp_path):
    out = tmp_path / "c.png"
    r = run(app, "curve", "esketamine-label", "--patients", "50", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "esketamine: median peak" in r.output and "noresketamine" in r.output
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_n2o_course_compares_and_labels_the_assumption(app, tmp_path):
    out = tmp_path / "n.svg"
    r = run(
        app, "n2o-course", "n2o-50-twice-weekly", "--compare-fraction", "0.25", "--out", str(out)
    )
    assert r.exit_code == 0, r.output
    assert "ASSUMPTION" in r.output and "at 25%" in r.output and "entonox-spc" in r.output
    assert "BEYOND limit 4" in r.output  # twice weekly: sessions 3 days apart
    assert out.exists()


def test_mu_occupancy_and_ketamine_start(app, tmp_path):
    out = tmp_path / "m.svg"
    r = run(app, "mu-occupancy", "--days", "7", "--session-h", "0.75", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "blockade at a ketamine session" in r.output and out.exists()
    r = run(app, "ketamine-start", "--below", "0.5", "--days", "14")
    assert r.exit_code == 0, r.output
    assert "the threshold is yours" in r.output and "after the last dose" in r.output


def test_mu_blockade_single_dose(app, tmp_path):
    out = tmp_path / "b.png"
    r = run(app, "mu-blockade", "--dose-mg", "50", "--below", "0.5", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "90% mu-opioid blockade" in r.output and out.read_bytes()[:4] == b"\x89PNG"


def test_trial_power_and_sample_size(app, tmp_path):
    out = tmp_path / "t.svg"
    r = run(app, "trial", "--design", "parallel", "--trials", "2000", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "qiu2023" in r.output and "sample size for 80% power" in r.output and "power" in r.output


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["ketamine", "--dose-mg-per-kg", "-1"], "dose_mg_per_kg"),
        (["curve", "nope"], "regimen"),
        (["n2o-course", "n2o-50-single", "--compare-fraction", "0.9"], "n2o_fraction"),
        (["trial", "--design", "crossover"], "correlation"),
        (["ketamine-start", "--below", "2"], "below"),
        (["mu-occupancy", "--days", "0"], "days"),
    ],
)
def test_bad_input_names_the_field(app, args, field):
    r = run(app, *args)
    assert r.exit_code == 2 and field in r.output, r.output
