"""The raad command line, run in-process."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from raad.cli import app
from raad.evidence import rma

from .evidence.conftest import load

runner = CliRunner()


@pytest.fixture
def bcg_csv(tmp_path):
    frame = pd.DataFrame(load("rma.json")["bcg_frame"])
    path = tmp_path / "bcg.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_help_and_version():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "meta" in result.output and "batch" in result.output
    assert "never replaces" in result.output
    assert runner.invoke(app, ["--version"]).output.startswith("raad ")


def test_meta_prints_the_model_table(bcg_csv):
    path, frame = bcg_csv
    result = runner.invoke(app, ["meta", str(path), "--method", "REML"])
    assert result.exit_code == 0, result.output
    expected = rma(frame.yi, frame.vi)
    assert f"{expected.estimate:.4f}" in result.output
    assert "prediction" in result.output.lower() and "Q-profile" in result.output
    assert "Aronson" in result.output  # the study table, labelled from the 'author' column
    assert f"{expected.weights()[0]:.2f}" in result.output


def test_meta_json_and_plots(bcg_csv, tmp_path):
    path, frame = bcg_csv
    forest, funnel = tmp_path / "f.svg", tmp_path / "u.png"
    result = runner.invoke(
        app,
        [
            "meta",
            str(path),
            "--method",
            "DL",
            "--test",
            "knha",
            "--json",
            "--forest",
            str(forest),
            "--funnel",
            str(funnel),
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    expected = rma(frame.yi, frame.vi, method="DL", test="knha")
    assert out["coefficients"]["intercept"]["estimate"] == pytest.approx(
        expected.estimate, rel=1e-12
    )
    assert out["prediction"]["pi_lb"] == pytest.approx(expected.predict().pi_lb, rel=1e-12)
    svg = forest.read_text()
    assert svg.startswith("<?xml") and "Aronson" in svg
    assert funnel.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_meta_with_moderators(bcg_csv):
    path, _ = bcg_csv
    result = runner.invoke(app, ["meta", str(path), "--mods", "~ ablat"])
    assert result.exit_code == 0, result.output
    assert "ablat" in result.output and "QM(df = 1)" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--method", "XYZ"], "method"),
        (["--yi", "nope"], "--yi"),
        (["--slab", "nope"], "--slab"),
        (["--level", "150"], "level"),
    ],
)
def test_meta_bad_options_exit_2_with_the_field(bcg_csv, args, words):
    path, _ = bcg_csv
    result = runner.invoke(app, ["meta", str(path), *args])
    assert result.exit_code == 2
    assert words in result.output


def test_meta_missing_file(tmp_path):
    result = runner.invoke(app, ["meta", str(tmp_path / "none.csv")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_batch_writes_one_row_per_group(tmp_path):
    rng = np.random.default_rng(0)
    g = np.repeat([f"m{i}" for i in range(30)], 6)
    v = rng.uniform(0.02, 0.3, len(g))
    frame = pd.DataFrame({"analysis": g, "yi": rng.normal(0.2, np.sqrt(v + 0.05)), "vi": v})
    src, out = tmp_path / "many.csv", tmp_path / "out.csv"
    frame.to_csv(src, index=False)
    result = runner.invoke(
        app, ["batch", str(src), "--group", "analysis", "--out", str(out), "--chunk", "7"]
    )
    assert result.exit_code == 0, result.output
    res = pd.read_csv(out, index_col="group")
    assert len(res) == 30
    first = frame[frame.analysis == "m0"]
    assert res.loc["m0", "estimate"] == pytest.approx(rma(first.yi, first.vi).estimate, rel=1e-9)


def test_batch_fits_what_it_can_and_says_what_it_could_not(tmp_path):
    """The issue: one group with k = 1 aborted `raad batch`. Now it exits 0 with a summary and
    a status column."""
    frame = pd.DataFrame(
        {
            "analysis": ["a", "a", "a", "b", "c", "c"],
            "yi": [0.1, 0.3, 0.2, 0.5, 0.4, None],
            "vi": [0.05, 0.04, 0.06, 0.05, 0.03, 0.02],
        }
    )
    src, out = tmp_path / "mixed.csv", tmp_path / "out.csv"
    frame.to_csv(src, index=False)
    result = runner.invoke(app, ["batch", str(src), "--group", "analysis", "--out", str(out)])
    assert result.exit_code == 0, result.output
    res = pd.read_csv(out, index_col="group")
    assert res.loc["a", "status"] == "ok"
    assert res.loc["b", "status"].startswith("too few studies")
    assert res.loc["c", "status"].startswith("too few studies") and res.loc["c", "k_omitted"] == 1
    assert "1 of 3 meta-analyses fitted" in result.output
    assert "2 not fitted" in result.output and "1 study with a missing" in result.output


def test_scale_list_names_every_instrument():
    from raad import scales

    result = runner.invoke(app, ["scale", "list"], terminal_width=200)
    assert result.exit_code == 0
    for name in scales.names():
        assert name in result.output


def test_scale_score_positional_with_baseline():
    result = runner.invoke(
        app,
        [
            "scale",
            "score",
            "MADRS",
            "3",
            "2",
            "4",
            "1",
            "2",
            "3",
            "2",
            "2",
            "1",
            "1",
            "--baseline",
            "32",
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "MADRS total 21" in result.output and "moderate" in result.output
    assert "SUICIDE ITEM ALERT" in result.output
    assert "response: no" in result.output and "transform3-2021" in result.output


def test_scale_score_json_file_and_fhir(tmp_path):
    path = tmp_path / "phq.json"
    path.write_text(json.dumps({str(i): 1 for i in range(1, 10)}))
    args = ["scale", "score", "PHQ-9", "--json", str(path), "--fhir"]
    result = runner.invoke(app, [*args, "--subject", "Patient/p-7"])
    assert result.exit_code == 0, result.output
    bundle = json.loads(result.output)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["QuestionnaireResponse", "Observation"]
    assert bundle["entry"][1]["resource"]["valueQuantity"]["value"] == 9
    qr, obs = bundle["entry"]
    assert qr["fullUrl"].startswith("urn:uuid:") and obs["fullUrl"].startswith("urn:uuid:")
    assert obs["resource"]["derivedFrom"] == [{"reference": qr["fullUrl"]}]
    assert {e["resource"]["subject"]["reference"] for e in bundle["entry"]} == {"Patient/p-7"}
    # without a subject the resources would say nothing of whose record they are: refused
    for extra in ([], ["--subject", "not a reference"]):
        result = runner.invoke(app, [*args, *extra])
        assert result.exit_code == 2 and "--subject" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["MADRS", "1", "2"], "10 values in item order"),
        (["MADRS", "7", "0", "0", "0", "0", "0", "0", "0", "0", "0"], "MADRS item 1"),
        (["HAMD-17", *["1"] * 17], "--variant"),
        (["NOPE", "1"], "instrument"),
    ],
)
def test_scale_score_bad_input(args, words):
    result = runner.invoke(app, ["scale", "score", *args], terminal_width=200)
    assert result.exit_code == 2
    assert words in result.output


def test_meta_computes_effect_sizes_from_raw_columns():
    """The README's first command: raw 2x2 counts in, RR pooled and shown on both scales."""
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "bcg.csv"
    result = runner.invoke(
        app, ["meta", str(example), "--measure", "RR", "--slab", "author"], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "-0.7145" in result.output  # metafor: rma(yi, vi) on dat.bcg log RR, REML
    assert "On the ratio scale: RR 0.4894" in result.output
    assert "Aronson" in result.output


def test_plan_lists_and_plans():
    listed = runner.invoke(app, ["plan"], terminal_width=200)
    assert listed.exit_code == 0 and "n2o-50-twice-weekly" in listed.output
    result = runner.invoke(app, ["plan", "n2o-50-twice-weekly", "--start", "2026-12-01", "--json"])
    assert result.exit_code == 0, result.output
    course = json.loads(result.output)
    assert [s["date"] for s in course["sessions"]][:2] == ["2026-12-01", "2026-12-04"]
    assert len(course["sessions"]) == 8 and course["notes"][0]["sources"] == ["entonox-spc"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ketamine-iv-single", "--start", "2026-12-01"], "weight_kg"),
        (["n2o-50-twice-weekly", "--start", "1/12/2026"], "--start"),
        (["nope"], "regimen"),
    ],
)
def test_plan_bad_input(args, words):
    result = runner.invoke(app, ["plan", *args], terminal_width=200)
    assert result.exit_code == 2 and words in result.output


def test_bracketed_text_is_printed_verbatim():
    """Sources and column lists are in square brackets; the console must not eat them."""
    result = runner.invoke(
        app, ["plan", "n2o-50-twice-weekly", "--start", "2026-12-01"], terminal_width=200
    )
    assert "[sources: guimaraes2021]" in result.output
    assert "[entonox-spc]" in result.output


def test_screen_table_and_json():
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "patient.json"
    table = runner.invoke(app, ["screen", str(example)], terminal_width=200)
    assert table.exit_code == 0, table.output
    # Eustachian tube obstruction is a label precaution for N2O (Kalinox 4.4), not a contraindication
    assert "CAUTION" in table.output and "kalinox-it" in table.output
    out = json.loads(runner.invoke(app, ["screen", str(example), "--json"]).output)
    assert set(out["agents"]) == {"n2o", "ketamine", "esketamine", "naltrexone"}
    assert out["agents"]["n2o"]["status"] == "caution"
    assert out["agents"]["ketamine"]["status"] == "caution"  # naltrexone on the list


def test_screen_bad_file(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text('{"systolic_mmhg": 400, "diastolic_mmhg": 20}')
    result = runner.invoke(app, ["screen", str(bad)], terminal_width=200)
    assert result.exit_code == 2 and "blood_pressure.systolic" in result.output
    bad.write_text("{not json")
    assert runner.invoke(app, ["screen", str(bad)]).exit_code == 2


def test_evidence_pool_json_and_table():
    out = json.loads(
        runner.invoke(
            app,
            ["evidence", "pool", "--dose", "50", "--outcome", "hdrs", "--time", "24h", "--json"],
        ).output
    )
    assert [r["study"] for r in out["rows"]] == ["Nagele 2015", "Nagele 2021"]
    assert any(e["study"] == "Yan 2022" for e in out["excluded"])
    assert out["result"]["k"] == 2 and out["published"][0]["value"] == -3.32
    assert out["knowledge_version"]
    table = runner.invoke(
        app, ["evidence", "pool", "--dose", "50", "--time", "24h"], terminal_width=200
    )
    assert "Gill 2025" in table.output and "Excluded:" in table.output


def test_evidence_adverse_lists_counts_and_published_ratios():
    out = json.loads(runner.invoke(app, ["evidence", "adverse", "--agent", "n2o", "--json"]).output)
    assert {
        "trial": "Nagele 2015",
        "arm": "n2o-50",
        "dose": 0.5,
        "event": "nausea or vomiting",
        "events": 3,
        "n": 20,
        "source": "seed001-jiang2025",
    } in out["counts"]
    assert any("RR 12.69" in r["text"] for r in out["reported"])
    # no trial in the base reports control-arm counts: nothing pooled here, and it says why
    assert out["pooled_here"] == []
    assert "no control-arm count found" in out["not_pooled"][0]["reason"]
    assert "only the published pooled values" in out["note"]
    assert all(r["k_trials"] is None for r in out["reported"] if "RR" in r["text"])


def test_screen_accepts_a_fhir_bundle():
    from pathlib import Path

    bundle = Path(__file__).resolve().parents[1] / "examples" / "patient-bundle.json"
    out = json.loads(
        runner.invoke(app, ["screen", str(bundle), "--as-of", "2026-11-22", "--json"]).output
    )
    assert out["agents"]["n2o"]["status"] == "contraindicated"
    assert out["record"]["problems"] == []
    assert any("Observation/b12" in u for u in out["record"]["used"])


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (
            b'\xef\xbb\xbf{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "birthDate": "1981"}}]}',
            "CAUTION",
        ),
        ("{}".encode("utf-16"), "not UTF-8"),
        (b'{"resourceType": "Bundle", "entry": []}', "exactly one Patient"),
        (b"[" * 100000, "not valid JSON"),
    ],
)
def test_screen_reads_real_world_files_or_says_why(tmp_path, content, words):
    """UTF-8 with a byte-order mark is read, a year-only birthDate is an age (no traceback);
    other encodings, Bundles without a Patient and runaway nesting get a clear error."""
    f = tmp_path / "in.json"
    f.write_bytes(content)
    r = runner.invoke(app, ["screen", str(f)])
    assert words in r.output, r.output
    assert "Traceback" not in r.output


def test_scale_read_scores_a_us_core_phq9_and_a_bundle(tmp_path):
    from tests.interop.test_fhir_scales_foreign import us_bh_cssrs, us_core_phq9

    one = tmp_path / "phq9.json"
    one.write_text(json.dumps(us_core_phq9()), encoding="utf-8-sig")  # with a BOM
    result = runner.invoke(app, ["scale", "read", str(one), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["score"]["total"] == 12 and out["matched_by"] == "loinc"
    bundle = tmp_path / "bundle.json"
    bad = {"resourceType": "QuestionnaireResponse", "status": "entered-in-error", "item": []}
    bundle.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": us_core_phq9(total=9)},
                    {"resource": us_bh_cssrs()},
                    {"resource": bad},
                ],
            }
        )
    )
    result = runner.invoke(app, ["scale", "read", str(bundle)], terminal_width=200)
    assert result.exit_code == 2  # one response could not be scored; the others still are
    assert "total 12" in result.output and "states a total of 9;" in result.output
    assert "risk negative" in result.output and "entry[2]: not scored: status" in result.output
    assert "Traceback" not in result.output


def test_scale_read_refuses_what_is_not_a_response(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"resourceType": "Patient"}))
    result = runner.invoke(app, ["scale", "read", str(path)])
    assert result.exit_code == 2 and "QuestionnaireResponse or a Bundle" in result.output
    path.write_text("{not json")
    result = runner.invoke(app, ["scale", "read", str(path)])
    assert result.exit_code == 2 and "cannot read it as JSON" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["MADRS", "1", "2", "3", "-", "-", "-", "-", "-", "-", "-", "--allow-incomplete"],
            "missing items 4, 5",
        ),
        (["C-SSRS", "1=0", "2=0", "6=0"], "risk level: negative"),
        (["C-SSRS", "0", "0", "-", "-", "-", "1", "1"], "risk level: high"),
        (["PHQ-9", *["1"] * 9, "2"], "total 9"),  # item 10 as an optional 10th value
        (["HAMD-17", *["1"] * 15, "3", "1", "--variant", "16=A"], "3 = not assessed"),
    ],
)
def test_scale_score_in_order_by_key_and_with_gaps(args, words):
    result = runner.invoke(app, ["scale", "score", *args], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert words in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["PHQ-9", "1", "1", "x", *["1"] * 6], "an integer, or - for unanswered"),
        (["HAMD-17", "1=1", "1=2"], "given twice"),
        (["C-SSRS", "1=0", "0"], "all KEY=VALUE"),
        (["C-SSRS", "1=0", "2=0", "5=1", "6=0"], "asked only when item 2"),
    ],
)
def test_scale_score_errors_in_cli_words(args, words):
    result = runner.invoke(app, ["scale", "score", *args], terminal_width=200)
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output


def test_evidence_pool_every_dose_with_the_assumed_correlation_varied():
    result = runner.invoke(app, ["evidence", "pool", "--all-doses", "--time", "24h", "--json"])
    assert result.exit_code == 0, result.output
    import json

    out = json.loads(result.output)
    assert [f["rho"] for f in out["fits"]] == [0.3, 0.5, 0.7]
    assert {(r["trial"], r["dose"]) for r in out["rows"]} == {
        ("nagele2015", "n2o-50"),
        ("nagele2021", "n2o-50"),
        ("nagele2021", "n2o-25"),
    }
    estimates = [f["coefficients"]["intercept"]["estimate"] for f in out["fits"]]
    assert estimates == sorted(estimates, reverse=True) and len(set(estimates)) == 3


def test_evidence_pool_response_uses_both_arms_counts():
    """Nagele 2015 (abstract): response 4/20 vs 1/20 at 24 h; one table, so the MH risk ratio
    is the table's own, 4.0 with log-scale SE sqrt(1/4 - 1/20 + 1/1 - 1/20)."""
    import math

    from scipy import stats

    out = json.loads(
        runner.invoke(
            app, ["evidence", "pool", "--outcome", "response", "--time", "24h", "--json"]
        ).output
    )
    (row,) = out["pooled"]
    assert row["trials"] == ["Nagele 2015"] and row["dose"] == 0.5
    se = math.sqrt(1 / 4 - 1 / 20 + 1 - 1 / 20)
    assert row["estimate"] == pytest.approx(4.0, rel=1e-12)
    assert row["ci_lb"] == pytest.approx(math.exp(math.log(4) - stats.norm.isf(0.025) * se))
    assert any("Yan 2022" in e["study"] for e in out["not_pooled"])
    assert any(p["id"] == "qiu2023-response" for p in out["published"])
    text = runner.invoke(app, ["evidence", "pool", "--outcome", "remission", "--time", "24h"])
    assert text.exit_code == 0 and "not estimable" in text.output
