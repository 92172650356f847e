"""The ``raad`` command line: a thin shell over the library."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from raad import __version__
from raad.evidence.errors import strict_json

app = typer.Typer(
    help="raad: rapid-acting antidepressant decision support and evidence engine. "
    "raad supports clinical judgement and never replaces it.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)

ESCALC_ARGS = (
    "ai",
    "bi",
    "ci",
    "di",
    "n1i",
    "n2i",
    "m1i",
    "m2i",
    "sd1i",
    "sd2i",
    "xi",
    "mi",
    "ni",
    "ri",
    "sdi",
    "x1i",
    "x2i",
    "t1i",
    "t2i",
)
SLAB_GUESSES = ("slab", "study", "author", "trial")


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code=2)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        _fail(f"FILE: {path} does not exist")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        _fail(f"FILE: {path} is not a readable CSV ({exc})")
    raise AssertionError  # unreachable


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"raad {__version__}")
        raise typer.Exit()


@app.command()
def meta(
    file: Annotated[
        Path, typer.Argument(help="CSV with yi/vi columns or raw data (escalc names).")
    ],
    measure: Annotated[
        str | None,
        typer.Option(
            help="Effect size to compute from raw columns "
            "(SMD, MD, SMCC, SMCR, MC, RR, OR, RD, PLO, "
            "PR, ZCOR, COR)."
        ),
    ] = None,
    yi: Annotated[str, typer.Option(help="Column of effect sizes.")] = "yi",
    vi: Annotated[str, typer.Option(help="Column of sampling variances.")] = "vi",
    method: Annotated[
        str, typer.Option(help="tau² estimator: FE DL REML ML PM HE SJ EB HS.")
    ] = "REML",
    test: Annotated[str, typer.Option(help="z or knha (Knapp-Hartung).")] = "z",
    level: Annotated[float, typer.Option(help="Confidence level in %.")] = 95,
    mods: Annotated[
        str | None, typer.Option(help="Moderator formula, e.g. '~ ablat + year'.")
    ] = None,
    slab: Annotated[str | None, typer.Option(help="Column of study labels.")] = None,
    forest: Annotated[Path | None, typer.Option(help="Write a forest plot (.svg or .png).")] = None,
    funnel: Annotated[Path | None, typer.Option(help="Write a funnel plot (.svg or .png).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Meta-analysis of a CSV file: prints the model table, prediction and heterogeneity CI."""
    from raad.evidence import EvidenceInputError, report, rma

    frame = _read_csv(file)
    label_col = slab or next((c for c in SLAB_GUESSES if c in frame.columns), None)
    if slab is not None and slab not in frame.columns:
        _fail(f"--slab: column {slab!r} not in {list(frame.columns)}")
    labels = frame[label_col].astype(str).tolist() if label_col else None
    try:
        if measure is not None:
            from raad.evidence.escalc import escalc

            kwargs = {a: a for a in ESCALC_ARGS if a in frame.columns}
            es = escalc(measure, data=frame, slab=labels, **kwargs)
            frame = frame.assign(yi=es.yi, vi=es.vi)
            y, v = es, None
        else:
            for opt, col in (("--yi", yi), ("--vi", vi)):
                if col not in frame.columns:
                    _fail(
                        f"{opt}: column {col!r} not in {list(frame.columns)}; "
                        "give --measure to compute effect sizes from raw columns"
                    )
            y, v = frame[yi].to_numpy(), frame[vi].to_numpy()
        res = rma(y, v, method=method, test=test, level=level, mods=mods, data=frame, slab=labels)
        pred = res.predict() if res.int_only else None
        het = res.tau2_ci() if not res.is_fixed else None
    except EvidenceInputError as exc:
        _fail(str(exc))
        return
    if forest is not None or funnel is not None:
        from raad.evidence import plots

        if forest is not None:
            plots.forest(res).savefig(forest)
        if funnel is not None:
            plots.funnel(res).savefig(funnel)
    if as_json:
        out = res.to_dict()
        out["prediction"] = pred.to_dict() if pred else None
        out["heterogeneity_ci"] = het.to_dict() if het else None
        sys.stdout.write(
            json.dumps(strict_json(out), indent=2, default=_json_default, allow_nan=False) + "\n"
        )
        return
    console.print(report.format_studies(res) + "\n", highlight=False, soft_wrap=True, markup=False)
    console.print(str(res), highlight=False, soft_wrap=True, markup=False)
    if pred is not None:
        console.print("\nPooled effect with prediction interval:", highlight=False, markup=False)
        console.print(str(pred), highlight=False, soft_wrap=True, markup=False)
        if res.data.measure in ("RR", "OR"):
            ex = res.predict(transf=np.exp)
            line = f"On the ratio scale: {res.data.measure} {ex.pred:.4f} [{ex.ci_lb:.4f}, {ex.ci_ub:.4f}]"
            if ex.pi_lb is not None:
                line += f", {res.level:g}% prediction interval [{ex.pi_lb:.4f}, {ex.pi_ub:.4f}]"
            console.print(line, highlight=False, soft_wrap=True, markup=False)
    if het is not None:
        console.print("\n" + str(het), highlight=False, soft_wrap=True, markup=False)
    for path in (forest, funnel):
        if path is not None:
            console.print(f"\nwrote {path}")


@app.command()
def batch(
    file: Annotated[Path, typer.Argument(help="CSV with one row per study.")],
    group: Annotated[
        str, typer.Option(help="Column naming the meta-analysis each row belongs to.")
    ],
    yi: Annotated[str, typer.Option(help="Column of effect sizes.")] = "yi",
    vi: Annotated[str, typer.Option(help="Column of sampling variances.")] = "vi",
    method: Annotated[str, typer.Option(help="tau² estimator.")] = "REML",
    test: Annotated[str, typer.Option(help="z or knha.")] = "z",
    level: Annotated[float, typer.Option(help="Confidence level in %.")] = 95,
    out: Annotated[Path | None, typer.Option(help="Write the results as CSV here.")] = None,
    chunk: Annotated[int, typer.Option(min=1, help="Groups per vectorised chunk.")] = 5000,
) -> None:
    """Fit one meta-analysis per group, vectorised; prints or writes one row per group."""
    import warnings

    from raad.evidence import EvidenceInputError, EvidenceWarning
    from raad.evidence.batch import rma_batch

    frame = _read_csv(file)
    for opt, col in (("--group", group), ("--yi", yi), ("--vi", vi)):
        if col not in frame.columns:
            _fail(f"{opt}: column {col!r} not in {list(frame.columns)}")
    keys = pd.unique(frame[group])
    parts = []
    with Progress(
        TextColumn("[bold]meta-analyses"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=not err.is_terminal,
    ) as bar:
        task = bar.add_task("fit", total=len(keys))
        for start in range(0, len(keys), chunk):
            sel = frame[frame[group].isin(keys[start : start + chunk])]
            try:
                with warnings.catch_warnings():  # summarised below, not one per chunk
                    warnings.simplefilter("ignore", EvidenceWarning)
                    parts.append(
                        rma_batch(
                            sel[yi].to_numpy(),
                            sel[vi].to_numpy(),
                            sel[group].to_numpy(),
                            method=method,
                            test=test,
                            level=level,
                        )
                    )
            except EvidenceInputError as exc:
                _fail(str(exc))
            bar.advance(task, min(chunk, len(keys) - start))
    result = pd.concat(parts)
    bad = result[result["status"] != "ok"]
    omitted = int(result["k_omitted"].sum())
    err.print(
        f"{len(result) - len(bad)} of {len(result)} meta-analyses fitted"
        + (
            f"; {omitted} stud{'y' if omitted == 1 else 'ies'} with a missing yi or vi left out"
            if omitted
            else ""
        ),
        markup=False,
    )
    if len(bad):
        reasons = bad["status"].str.split(":").str[0].value_counts()
        err.print(
            f"{len(bad)} not fitted (see the status column): "
            + ", ".join(f"{why} {n}" for why, n in reasons.items()),
            markup=False,
        )
    if out is not None:
        result.to_csv(out)
        console.print(f"wrote {len(result)} meta-analyses to {out}")
    else:
        sys.stdout.write(result.to_csv())


@app.command()
def screen(
    file: Annotated[
        Path,
        typer.Argument(
            help="Patient facts as raad JSON, a FHIR R4 Bundle, or a list of resources."
        ),
    ],
    as_of: Annotated[
        str | None,
        typer.Option(help="Date the screen is for: ages and windows (YYYY-MM-DD; default today)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the screening as JSON.")] = False,
) -> None:
    """Screen a patient for N2O, ketamine, esketamine and naltrexone: status, reasons, sources."""
    from datetime import UTC, date, datetime

    from raad.clinical.errors import ClinicalInputError
    from raad.clinical.screening import screen as run_screen

    try:
        raw = file.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        _fail(f"FILE: {file} cannot be read ({exc.strerror})")
        return
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        _fail(f"FILE: {file} is not UTF-8 text (FHIR JSON is UTF-8; a byte-order mark is fine)")
        return
    except (json.JSONDecodeError, RecursionError) as exc:
        _fail(f"FILE: {file} is not valid JSON ({exc})")
        return
    try:
        when = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    except ValueError:
        _fail(f"--as-of: got {as_of!r}; allowed: a date as YYYY-MM-DD")
        return
    read = None
    try:
        if (isinstance(data, dict) and data.get("resourceType") == "Bundle") or isinstance(
            data, list
        ):  # a Bundle, or a list of FHIR resources (an NDJSON file read as a list)
            from raad.interop.fhir_read import read_bundle

            read = read_bundle(data, as_of=when)
            data = read.facts
        result = run_screen(data, as_of=when)
    except ClinicalInputError as exc:
        _fail(str(exc))
        return
    if as_json:
        out = result.to_dict()
        if read is not None:
            out["record"] = read.to_dict()
        sys.stdout.write(json.dumps(strict_json(out), indent=2, allow_nan=False) + "\n")
        return
    console.print(str(result), highlight=False, soft_wrap=True, markup=False)
    if read is not None:
        for title, items in (
            ("Read from the record", read.used),
            ("Not used", read.unused),
            ("Problems (element path: why)", read.problems),
        ):
            if items:
                console.print(f"\n{title}:\n  " + "\n  ".join(items), markup=False, soft_wrap=True)


@app.command()
def rules(
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Print the table as Markdown (docs/screening-rules.md)."),
    ] = False,
    agent: Annotated[str | None, typer.Option(help="Only this agent's rules.")] = None,
    codes: Annotated[
        bool,
        typer.Option("--codes", help="Print the code tables as Markdown (docs/clinical-codes.md)."),
    ] = False,
) -> None:
    """The screening rules per agent: what each fires on, its level, reason and sources."""
    from raad.knowledge.rule_table import codes_markdown, rule_table_markdown
    from raad.knowledge.treatment import contraindications

    if markdown:
        sys.stdout.write(rule_table_markdown())
        return
    if codes:
        sys.stdout.write(codes_markdown())
        return
    ci = contraindications()
    if agent is not None and agent not in ci.rules:
        _fail(f"--agent: got {agent!r}; allowed: {', '.join(ci.rules)}")
        return
    for agent_id, rs in ci.rules.items():
        if agent is not None and agent_id != agent:
            continue
        console.print(f"{agent_id}  (needs: {', '.join(rs.needs)})", markup=False)
        for r in rs.items:
            cites = ", ".join(c.source + (f" {c.where}" if c.where else "") for c in r.cite)
            console.print(
                f"  [{r.level}] {r.trigger}: {r.reason}  [{cites}]",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


@app.command()
def plan(
    regimen: Annotated[
        str | None, typer.Argument(help="Regimen id, e.g. n2o-50-twice-weekly.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First session date, YYYY-MM-DD.")] = None,
    weight_kg: Annotated[float | None, typer.Option(help="Weight (per-kg doses).")] = None,
    age_years: Annotated[int | None, typer.Option(help="Age (age-specific regimens).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the course as JSON.")] = False,
) -> None:
    """Plan a course: dated sessions with doses and pre-session checks (no REGIMEN: list them)."""
    from datetime import date

    from raad.clinical.errors import ClinicalInputError
    from raad.clinical.protocols import plan_course
    from raad.knowledge.treatment import regimens

    if regimen is None:
        for r in regimens().values():
            console.print(f"{r.id:<24} {r.label}", highlight=False, soft_wrap=True, markup=False)
        return
    try:
        first = date.fromisoformat(start) if start else date.today()
    except ValueError:
        _fail(f"--start: got {start!r}; allowed: a date as YYYY-MM-DD")
        return
    try:
        course = plan_course(regimen, first, weight_kg=weight_kg, age_years=age_years)
    except ClinicalInputError as exc:
        _fail(str(exc))
        return
    if as_json:
        sys.stdout.write(
            json.dumps(strict_json(course.to_dict()), indent=2, allow_nan=False) + "\n"
        )
    else:
        console.print(str(course), highlight=False, soft_wrap=True, markup=False)


evidence_app = typer.Typer(help="Pool the cited trial base.", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")
OUTCOME_ALIASES = {"hdrs": "depression", "hamd": "depression", "madrs": "depression"}


def _pool_all_doses(agent: str, outcome: str, time: str, as_json: bool) -> None:
    """Every dose contrast at ``time`` in one two-level model, for three assumed rho."""
    from raad.evidence import EvidenceInputError
    from raad.evidence.pooling import dose_rows, multilevel
    from raad.knowledge.trials import trial_base

    rows, excluded = dose_rows(
        [t.model_dump() for t in trial_base().trials], agent=agent, outcome=outcome, time=time
    )
    try:
        fits = multilevel(rows)
    except EvidenceInputError as exc:
        _fail(f"{exc} (rows: {len(rows)})")
        return
    if as_json:
        out = {
            "rows": [{**r.row.to_dict(), "trial": r.trial, "dose": r.dose} for r in rows],
            "excluded": [e.to_dict() for e in excluded],
            "fits": [{"rho": rho, **res.to_dict()} for rho, res in fits],
        }
        sys.stdout.write(json.dumps(strict_json(out), indent=2, allow_nan=False) + "\n")
        return
    lines = [f"{agent}, every dose vs control, {outcome} at {time} (two-level model):", ""]
    lines += [
        f"  {r.row.study:<28} {r.row.yi:8.3f}  SE {r.row.vi**0.5:.3f}  [{r.row.derivation}]"
        for r in rows
    ]
    lines += ["", "  rho  estimate      95% CI            sigma2 trial  sigma2 dose"]
    for rho, res in fits:
        lo, hi = res.ci()
        lines.append(
            f"  {rho:.1f}  {res.beta[0]:8.3f}  [{lo[0]:8.3f}, {hi[0]:8.3f}]  "
            f"{res.sigma2[0]:10.4f}  {res.sigma2[1]:10.4f}"
        )
    lines.append(
        "\n  rho is the assumed correlation of two contrasts of one trial (they share the "
        "control); the estimates across rho show how much the answer rests on it."
    )
    console.print("\n".join(lines), highlight=False, soft_wrap=True, markup=False)


def _dose_text(dose: float | None) -> str:
    return "arms combined" if dose is None else f"{dose:.0%}"


def _pool_binary(
    agent: str, outcome: str, time: str, fraction: float | None, as_json: bool
) -> None:
    """Response or remission at ``time``: Mantel-Haenszel risk ratios by dose from trials
    with both arms' counts, beside the published pooled ratios (any time point, labelled)."""
    from raad.evidence.pooling import harm_tables, pool_harms
    from raad.knowledge.trials import trial_base

    base = trial_base()
    tables, unpaired = harm_tables(
        [t.model_dump(mode="json") for t in base.trials], agent, outcome=outcome, time=time
    )
    if fraction is not None:
        tables = [tb for tb in tables if tb.dose == fraction]
    pooled = pool_harms(tables)
    published = [
        p
        for p in base.published
        if p.outcome == outcome and (fraction is None or p.n2o_fraction == fraction)
    ]
    if as_json:
        out = {
            "outcome": outcome,
            "time": time,
            "tables": [dataclasses.asdict(tb) for tb in tables],
            "pooled": pooled,
            "not_pooled": [e.to_dict() for e in unpaired],
            "published": [p.model_dump() for p in published],
        }
        sys.stdout.write(json.dumps(strict_json(out), indent=2, allow_nan=False) + "\n")
        return
    lines = [
        f"{agent} vs control, {outcome} at {time} (risk ratio):",
        "",
        "Trials with both arms' counts:",
    ]
    lines += [
        f"  {tb.study:<16} {tb.ai}/{tb.n1} vs {tb.ci}/{tb.n2}"
        f"  dose {_dose_text(tb.dose)}  [{', '.join(tb.sources)}]"
        for tb in tables
    ] or ["  none"]
    lines += ["", "Pooled here (Mantel-Haenszel RR):"]
    for r in pooled:
        dose_txt = _dose_text(r["dose"])
        if r.get("estimate") is None:
            lines.append(
                f"  {dose_txt}: not estimable from {r['k_trials']} trial(s) ({r['reason']})"
            )
        else:
            lines.append(
                f"  {dose_txt}: RR {r['estimate']:.2f} [{r['ci_lb']:.2f}, {r['ci_ub']:.2f}]"
                f" from {r['k_trials']} trial(s): {', '.join(r['trials'])}"
            )
    if not pooled:
        lines.append("  none")
    lines += [f"  not pooled: {e.study}: {e.reason}" for e in unpaired]
    if any(tb.design == "crossover" for tb in tables):
        lines.append(
            "  note: a crossover trial's counts are taken as two independent arms (its paired "
            "table is not reported), which ignores the pairing in the CI."
        )
    if published:
        lines += ["", "Published pooled results (not recomputed here):"]
        lines += [
            f"  {p.label}: {p.measure} {p.value:g} [{p.ci[0]:g}, {p.ci[1]:g}]"
            f" ({p.k_trials if p.k_trials is not None else p.k_note})  [{p.cite.source}]"
            for p in published
        ]
    console.print("\n".join(lines), highlight=False, soft_wrap=True, markup=False)


@evidence_app.command("pool")
def evidence_pool(
    agent: Annotated[
        str, typer.Option(help="Agent: n2o, ketamine, esketamine, naltrexone.")
    ] = "n2o",
    dose: Annotated[float | None, typer.Option(help="N2O concentration in %, e.g. 50.")] = None,
    outcome: Annotated[
        str, typer.Option(help="Outcome: depression (alias hdrs), response or remission.")
    ] = "depression",
    time: Annotated[
        str, typer.Option(help="Time point as in the trial base: 2h, 24h, 1w, 2w, 4w.")
    ] = "24h",
    method: Annotated[str, typer.Option(help="tau² estimator.")] = "REML",
    test: Annotated[str, typer.Option(help="knha (default) or z.")] = "knha",
    forest: Annotated[Path | None, typer.Option(help="Write a forest plot (.svg/.png).")] = None,
    sensitivity_plot: Annotated[
        Path | None, typer.Option(help="Write the sensitivity plot (.svg/.png).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Rows used, rows excluded and the result as JSON.")
    ] = False,
    all_doses: Annotated[
        bool,
        typer.Option(
            "--all-doses",
            help="Pool every dose of every trial with a two-level model (doses within "
            "trials, shared controls' covariance assumed at rho 0.3, 0.5 and 0.7).",
        ),
    ] = False,
) -> None:
    """Pool mean differences from the trial base, beside the published pooled results,
    with sensitivity analyses (estimators, fixed effect, TRD-only, leave-one-out)."""
    if all_doses:
        _pool_all_doses(agent, OUTCOME_ALIASES.get(outcome.lower(), outcome.lower()), time, as_json)
        return
    if outcome.lower() in ("response", "remission"):
        _pool_binary(agent, outcome.lower(), time, None if dose is None else dose / 100, as_json)
        return
    from raad.evidence import EvidenceInputError, plots, rma
    from raad.evidence.pooling import CROSSOVER_NOTE, as_arrays, md_rows, scales_differ, sensitivity
    from raad.knowledge.treatment import knowledge_version
    from raad.knowledge.trials import trial_base

    base = trial_base()
    fraction = None if dose is None else dose / 100
    out_name = OUTCOME_ALIASES.get(outcome.lower(), outcome.lower())
    rows, excluded = md_rows(
        [t.model_dump() for t in base.trials],
        agent=agent,
        fraction=fraction,
        outcome=out_name,
        time=time,
    )
    published = [
        p
        for p in base.published
        if p.outcome == out_name
        and p.time == time
        and (fraction is None or p.n2o_fraction == fraction)
    ]
    res = None
    if len(rows) >= 2:
        yi, vi, labels = as_arrays(rows)
        try:
            res = rma(yi, vi, method=method, test=test, slab=labels)
        except EvidenceInputError as exc:
            _fail(str(exc))
    version = knowledge_version()
    populations = {t.label: t.population for t in base.trials}
    sens = sensitivity(rows, populations, method=method, test=test) if rows else []
    if sensitivity_plot is not None and sens:
        plots.sensitivity(sens, title=f"{agent} {dose or ''}% vs control, {time}").savefig(
            sensitivity_plot
        )
    if as_json:
        out = {
            "knowledge_version": version,
            "rows": [r.to_dict() for r in rows],
            "excluded": [e.to_dict() for e in excluded],
            "result": res.to_dict() if res else None,
            "sensitivity": [x.to_dict() for x in sens],
            "crossover_note": CROSSOVER_NOTE,
            "published": [p.model_dump() for p in published],
        }
        sys.stdout.write(
            json.dumps(strict_json(out), indent=2, default=_json_default, allow_nan=False) + "\n"
        )
        return
    lines = [
        f"Trial base {version}: {agent}"
        + (f" {dose:g}%" if dose else "")
        + f" vs control, {out_name} at {time} (mean difference, scale points)",
        "",
        "Rows used:",
    ]
    for r in rows:
        lines.append(
            f"  {r.study:<16} {r.yi:8.3f}  SE {r.vi**0.5:.3f}  {r.design:<9} {r.scale or '':<8}"
            f" [{r.flag}: {r.derivation}; {', '.join(r.sources)}]"
        )
    if scales_differ(rows):
        lines.append(
            "  note: the rows use different HAM-D versions; raw-point differences are not on one scale."
        )
    lines += ["", "Excluded:"] + [f"  {e.study:<16} {e.reason}" for e in excluded]
    console.print("\n".join(lines), highlight=False, soft_wrap=True, markup=False)
    if res is None:
        console.print(f"\nFewer than 2 rows ({len(rows)}): nothing to pool.", markup=False)
    else:
        console.print("\n" + str(res), highlight=False, soft_wrap=True, markup=False)
        if forest is not None:
            plots.forest(res, title=f"{agent} {dose or ''}% vs control, {time}").savefig(forest)
            console.print(f"wrote {forest}", markup=False)
    if sens:
        console.print("\nSensitivity analyses:", markup=False)
        for x in sens:
            if x.estimate is None:
                console.print(f"  {x.analysis:<40} k={x.k}  {x.note}", markup=False, soft_wrap=True)
            else:
                tau = "" if x.tau2 is None else f"  tau² {x.tau2:.4f}"
                console.print(
                    f"  {x.analysis:<40} k={x.k}  {x.estimate:8.3f} [{x.ci_lb:.3f}, {x.ci_ub:.3f}]{tau}",
                    markup=False,
                    soft_wrap=True,
                )
        console.print("  " + CROSSOVER_NOTE, markup=False, soft_wrap=True)
        if sensitivity_plot is not None:
            console.print(f"  wrote {sensitivity_plot}", markup=False)
    if published:
        console.print("\nPublished pooled results (not recomputed here):", markup=False)
        for p in published:
            i2 = f", I² {p.i2:g}%" if p.i2 is not None else ""
            console.print(
                f"  {p.label}: {p.measure} {p.value:g} [{p.ci[0]:g}, {p.ci[1]:g}]{i2}"
                f"  [{p.cite.source}]",
                markup=False,
                soft_wrap=True,
            )
        if res is not None:
            console.print(
                f"  raad pooled {len(rows)} trial(s) with an effect estimate in the trial base; the "
                "published analyses used trials whose per-study rows are not in it (excluded above "
                "with the reason), so the estimates differ by design, not by computation.",
                markup=False,
                soft_wrap=True,
            )


@evidence_app.command("cohort")
def evidence_cohort(
    agent: Annotated[
        str, typer.Option(help="Agent: n2o, ketamine, esketamine, naltrexone.")
    ] = "n2o",
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")
    ] = None,
    sensitivity: Annotated[
        bool,
        typer.Option(
            help="Also pool trials and clinic together (a labelled sensitivity analysis)."
        ),
    ] = False,
    forest: Annotated[Path | None, typer.Option(help="Write a forest plot (.svg/.png).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The clinic's own response and remission by regimen and time point (missing follow-up
    counted, small cells withheld) beside the trials' arms and their pooled proportion."""
    from raad.services.cohort_evidence import cohort_evidence
    from raad.store import Database
    from raad.store.migrate import current_revision, head_revision

    db = Database(url)
    if current_revision(db) != head_revision(db):
        _fail(
            f"database at {db.url}: schema revision {current_revision(db)}, this version needs "
            f"{head_revision(db)}; run `raad db upgrade` (or `raad serve`) first"
        )
    with db.transaction(write=False, replica=True) as s:
        data = cohort_evidence(s, None, agent, sensitivity=sensitivity)
    if forest is not None:
        _cohort_forest(data, forest)
    if as_json:
        sys.stdout.write(json.dumps(strict_json(data), indent=2, allow_nan=False) + "\n")
        return
    lines = [f"{agent}: the clinic's courses beside the trials (proportions of patients)", ""]
    for st in data["strata"]:
        lines.append(f"{st['outcome']} at {st['time']}:")
        for r in st["trials"]:
            lines.append(
                f"  trial   {r['study']:<16} {r['events']}/{r['n']} = {r['proportion']:.2f}"
                f"  [{r['flag']}; {r['source']}]"
            )
        p = st["trials_pooled"]
        if p:
            lines.append(
                f"  trials pooled (k={p['k']}): {p['proportion']:.2f} "
                f"[{p['ci_lb']:.2f}, {p['ci_ub']:.2f}]"
            )
        for c in st["clinic"]:
            rate = "withheld" if c["rate"] is None else f"{c['rate']:.2f}"
            lines.append(
                f"  clinic  {c['regimen']} ({c['instrument']}): {c['events']}/{c['followed']} "
                f"= {rate}; {c['courses']} courses, missing follow-up {c['missing_follow_up']}"
            )
        if not st["clinic"]:
            lines.append(f"  clinic  none (or fewer than {data['min_cell_size']} courses)")
        if st.get("sensitivity"):
            q = st["sensitivity"]
            lines.append(
                f"  {q['label']}: {q['proportion']:.2f} [{q['ci_lb']:.2f}, {q['ci_ub']:.2f}]"
                f" (k={q['k']})"
            )
    lines += ["", data["note"], f"Time points: {data['time_points']['note']}."]
    console.print("\n".join(lines), highlight=False, soft_wrap=True, markup=False)
    if forest is not None:
        console.print(f"wrote {forest}", markup=False)


def _cohort_forest(data: dict, out: Path) -> None:
    """Proportions with 95% CIs (logit, 1/2 added to empty or full cells as metafor's PLO):
    trial arms (circles), their pooled value (diamond), the clinic (squares, another colour)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from raad.evidence import escalc

    def ci(events: int, n: int) -> tuple[float, float, float]:
        es = escalc("PLO", xi=[events], ni=[n])
        y, v = float(es.yi[0]), float(es.vi[0])
        f = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
        return events / n, f(y - 1.96 * v**0.5), f(y + 1.96 * v**0.5)

    rows: list[tuple[str, float, float, float, str]] = []
    for st in data["strata"]:
        head = f"{st['outcome']} {st['time']}"
        for r in st["trials"]:
            rows.append((f"{head}: {r['study']}", *ci(r["events"], r["n"]), "trial"))
        if st["trials_pooled"]:
            p = st["trials_pooled"]
            rows.append(
                (f"{head}: trials pooled", p["proportion"], p["ci_lb"], p["ci_ub"], "pooled")
            )
        for c in st["clinic"]:
            if isinstance(c["events"], int) and isinstance(c["followed"], int) and c["followed"]:
                rows.append(
                    (f"{head}: clinic {c['regimen']}", *ci(c["events"], c["followed"]), "clinic")
                )
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(rows), 4) + 1))
    style = {"trial": ("o", "black"), "pooled": ("D", "black"), "clinic": ("s", "tab:blue")}
    for i, (_, p, lo, hi, kind) in enumerate(rows):
        marker, colour = style[kind]
        ax.plot([lo, hi], [-i, -i], color=colour, lw=1)
        ax.plot([p], [-i], marker=marker, color=colour)
    ax.set_yticks([-i for i in range(len(rows))], [r[0] for r in rows], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("proportion of patients (95% CI); clinic = observational, not pooled")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


@evidence_app.command("living")
def evidence_living(
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Write the cumulative meta-analysis by publication year (.svg/.png)."),
    ] = None,
    agent: Annotated[str, typer.Option(help="Agent for the cumulative plot.")] = "n2o",
    time: Annotated[str, typer.Option(help="Time point for the cumulative plot.")] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Record the trial base if it changed (re-running every pooled answer) and show the
    update log: which estimate moved, by how much, and whether its CI now excludes no effect."""
    from raad.services import living
    from raad.store import Database
    from raad.store.migrate import current_revision, head_revision

    db = Database(url)
    if current_revision(db) != head_revision(db):
        _fail(
            f"database at {db.url}: schema revision {current_revision(db)}, this version needs "
            f"{head_revision(db)}; run `raad db upgrade` (or `raad serve`) first"
        )
    with db.transaction() as s:
        new = living.refresh(s)
        log = living.history(s)
    if plot is not None:
        _cumulative_plot(agent, time, plot)
    if as_json:
        out = {"recorded_now": new is not None, "log": log}
        sys.stdout.write(json.dumps(strict_json(out), indent=2, allow_nan=False) + "\n")
        return
    lines = [
        "new trial-base version recorded" if new else "trial base unchanged since last recorded",
        "",
    ]
    for entry in log:
        what = "first version recorded" if entry["first_version"] else "changes"
        lines.append(f"{entry['created_at'][:19]}  version {entry['trial_base_version']}: {what}")
        if entry["first_version"]:
            lines += [
                f"  {k}: {a['measure']} {a['estimate']:.2f} [{a['ci_lb']:.2f}, {a['ci_ub']:.2f}]"
                f" (k {a['k']})"
                for k, a in entry["answers"].items()
            ]
        else:
            lines += [f"  {living.summary(c)}" for c in entry["changes"]] or ["  none"]
    console.print("\n".join(lines), highlight=False, soft_wrap=True, markup=False)
    if plot is not None:
        console.print(f"wrote {plot}", markup=False)


def _cumulative_plot(agent: str, time: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from raad.evidence import EvidenceInputError
    from raad.evidence.living import cumulative_by_year
    from raad.knowledge.trials import trial_base

    try:
        table = cumulative_by_year(
            [t.model_dump(mode="json") for t in trial_base().trials], agent, time
        )
    except EvidenceInputError as exc:
        _fail(str(exc))
        return
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(table) + 1.5))
    for i, r in enumerate(table.itertuples()):
        ax.plot([r.ci_lb, r.ci_ub], [-i, -i], color="black", lw=1)
        ax.plot([r.estimate], [-i], marker="s", color="black")
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    ax.set_yticks(
        [-i for i in range(len(table))],
        [f"{r.year} + {r.added} (k={r.k})" for r in table.itertuples()],
        fontsize=8,
    )
    ax.set_xlabel(f"{agent} vs control at {time}: pooled mean difference (95% CI), cumulative")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


@evidence_app.command("adverse")
def evidence_adverse(
    agent: Annotated[
        str, typer.Option(help="Agent: n2o, ketamine, esketamine, naltrexone.")
    ] = "n2o",
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Adverse events by dose: counts in the trial base and published pooled risk ratios."""
    from raad.knowledge.treatment import adverse_events, regimens
    from raad.knowledge.trials import trial_base

    counts = []
    for t in trial_base().trials:
        for n in t.numbers:
            if n.kind == "count" and n.outcome not in ("response", "remission"):
                arm = t.arm(n.arm)
                if arm.agent == agent or (arm.control and any(a.agent == agent for a in t.arms)):
                    counts.append(
                        {
                            "trial": t.label,
                            "arm": n.arm,
                            "dose": arm.n2o_fraction,
                            "event": n.outcome,
                            "events": n.events,
                            "n": n.n,
                            "source": n.cite.source,
                        }
                    )
    regs = regimens()
    pooled = [
        e
        for e in adverse_events()
        if e.agent == agent or (e.regimen and regs[e.regimen].agent == agent)
    ]
    from raad.evidence.pooling import harm_tables, pool_harms

    tables, unpaired = harm_tables([t.model_dump(mode="json") for t in trial_base().trials], agent)
    ours = pool_harms(tables)
    reason = (
        "Mantel-Haenszel risk ratios by dose are computed from trials that report the event's "
        "count on both the agent's arm and the control arm"
        + (
            "; no trial in the base does (control-arm counts not found in the sources read), "
            "so only the published pooled values are shown."
            if not ours
            else "."
        )
    )
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "counts": counts,
                    "pooled_here": ours,
                    "not_pooled": [{"trial": x.study, "reason": x.reason} for x in unpaired],
                    "reported": [
                        {
                            "text": e.describe(),
                            "k_trials": e.k_trials,
                            "sources": [c.source for c in e.cite],
                        }
                        for e in pooled
                    ],
                    "note": reason,
                },
                indent=2,
                allow_nan=False,
            )
            + "\n"
        )
        return
    lines = [f"Adverse events, {agent}", "", "Counts in the trial base:"]
    lines += [
        f"  {c['trial']:<16} {c['arm']:<10} {c['event']}: {c['events']}/{c['n']}  [{c['source']}]"
        for c in counts
    ] or ["  none"]
    lines += ["", "Pooled here (Mantel-Haenszel RR by dose):"]
    lines += [
        (
            f"  {r['event']} at {_dose_text(r['dose'])}: RR {r['estimate']:.2f} "
            f"[{r['ci_lb']:.2f}, {r['ci_ub']:.2f}] from {r['k_trials']} trial(s)"
            if r.get("estimate") is not None
            else f"  {r['event']} at {_dose_text(r['dose'])}: not estimable ({r['reason']})"
        )
        for r in ours
    ] or ["  none"]
    lines += [f"  not pooled: {x.study}: {x.reason}" for x in unpaired]
    lines += ["", "Reported rates and pooled results:"]
    lines += [f"  {e.describe()}  [{', '.join(c.source for c in e.cite)}]" for e in pooled] or [
        "  none"
    ]
    lines += ["", reason]
    console.print("\n".join(lines), highlight=False, soft_wrap=True, markup=False)


scale_app = typer.Typer(
    help="Rating scales: list instruments, score an administration.", no_args_is_help=True
)
app.add_typer(scale_app, name="scale")


@scale_app.command("list")
def scale_list() -> None:
    """List the instruments with their items, total range and codes."""
    from rich.table import Column, Table

    from raad import scales

    table = Table("title", "rater", "items", "total", "LOINC total", "suicide items")
    table.columns.insert(0, Column("name", no_wrap=True))  # names are typed back: never wrapped
    for name in scales.names():
        i = scales.get(name)
        lo, hi = i.total_range
        table.add_row(
            name,
            i.title,
            i.rater,
            str(len(i.items)),
            f"{lo}-{hi}" if i.total.rule != "none" else "risk level",
            i.loinc.total or "none found",
            ", ".join(s.item for s in i.suicide_items),
        )
    console.print(table)


@scale_app.command("show")
def scale_show(name: Annotated[str, typer.Argument(help="Instrument, e.g. HAMD-21.")]) -> None:
    """Show an instrument's full definition: items, rules, bands and outcomes with sources."""
    from raad import scales
    from raad.knowledge import load_sources
    from raad.scales.compare import describe

    try:
        i = scales.get(name)
    except scales.ScaleInputError as exc:
        _fail(str(exc))
        return
    src = load_sources()

    def cites(cs) -> str:
        return "; ".join(src[c.source].citation + (f" [{c.where}]" if c.where else "") for c in cs)

    lo, hi = i.total_range
    out = [
        f"{i.name}: {i.title} ({i.rater}-rated"
        + (f", {i.recall_period}" if i.recall_period else "")
        + ")",
        f"Item text: {i.text_licence}",
        f"Sources: {cites(i.cite)}",
        "",
        "Items counted in the total:",
    ]
    for it in i.items:
        extra = (
            f"  variants: {', '.join(f'{it.id}{k} {v}' for k, v in it.variants.items())}"
            if it.variants
            else ""
        )
        code = f"  LOINC {it.loinc}" if it.loinc else ""
        out.append(f"  {it.id:>3}  {it.label} ({it.min}-{it.max}){code}{extra}")
    for ex in i.extra_items:
        out.append(f"  {ex.id:>3}  {ex.label} ({ex.min}-{ex.max}) - not counted: {ex.note}")
    out += [
        "",
        f"Total: {i.total.rule}, range {lo}-{hi}" + (f". {i.total.note}" if i.total.note else ""),
    ]
    out.append(f"Missing items: {i.missing.policy}. {i.missing.note}")
    if i.severity:
        for label, b in [("Severity (default)", i.severity.default)] + [
            ("Severity (alternative)", a) for a in i.severity.alternatives
        ]:
            bands = ", ".join(f"{x.label} {x.min}-{x.max}" for x in b.bands)
            out.append(f"{label}, {b.name}: {bands}  [{cites(b.cite)}]")
    for si in i.suicide_items:
        out.append(f"Suicide item {si.item}: flagged at >= {si.flag_at_or_above}. {si.basis}")
    loinc = ", ".join(
        x
        for x in (
            f"panel {i.loinc.panel}" if i.loinc.panel else "",
            f"total {i.loinc.total}" if i.loinc.total else "",
        )
        if x
    )
    out.append(f"LOINC: {loinc or i.loinc.note}")
    for key in ("response", "partial_response", "remission", "relapse", "mcid"):
        o = getattr(i.outcomes, key)
        if o is None:
            continue
        out.append(
            f"{key.replace('_', ' ').capitalize()}: {o.default.name} ({describe(o.default)})"
            f"  [{cites(o.default.cite)}]"
        )
        if o.default.note:
            out.append(f"    why this default: {o.default.note}")
        for a in o.alternatives:
            out.append(f"    alternative: {a.name} ({describe(a)})  [{cites(a.cite)}]")
    for note in i.notes:
        out.append(f"Note: {note}")
    console.print("\n".join(out), highlight=False, soft_wrap=True, markup=False)


@scale_app.command("score")
def scale_score(
    name: Annotated[str, typer.Argument(help="Instrument, e.g. MADRS, HAMD-17, PHQ-9.")],
    values: Annotated[
        list[str] | None,
        typer.Argument(help="Item values in item order, or KEY=VALUE pairs; - = unanswered."),
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="JSON object: item id -> value.")
    ] = None,
    variant: Annotated[
        list[str] | None, typer.Option(help="Item variant, e.g. 16=A (HAM-D item 16 by history).")
    ] = None,
    baseline: Annotated[
        float | None, typer.Option(help="Baseline total: adds change, response, remission.")
    ] = None,
    allow_incomplete: Annotated[
        bool, typer.Option(help="Keep an incomplete record (no total).")
    ] = False,
    fhir: Annotated[
        bool, typer.Option(help="Print a FHIR Bundle: QuestionnaireResponse + Observation.")
    ] = False,
    subject: Annotated[
        str | None,
        typer.Option(help="Whose record, as a FHIR reference (Patient/123); needed with --fhir."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--as-json", help="Print the score as JSON.")] = False,
) -> None:
    """Score one administration given as item values in order, or as a JSON object."""
    from raad import scales

    if fhir and not (subject and re.fullmatch(r"[A-Za-z]+/[A-Za-z0-9\-.]{1,64}", subject)):
        _fail(
            f"--subject: got {subject!r}; needed with --fhir, as a FHIR reference such as "
            "Patient/123, so the resources say whose record they are"
        )
    if json_file is not None and (values or variant):
        _fail("--json: give the items either in a JSON file or on the command line, not both")
    try:
        instr = scales.get(name)
        if json_file is not None:
            try:
                responses = json.loads(json_file.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                _fail(f"--json: cannot read {json_file} ({exc})")
        else:
            responses = _positional(instr, values or [], variant or [])
        sc = instr.score(responses, allow_incomplete=allow_incomplete)
        cmp = scales.compare(instr, baseline, sc) if baseline is not None else None
    except scales.ScaleInputError as exc:
        _fail(str(exc))
        return
    if fhir:
        from raad.interop.fhir_scales import questionnaire_response, total_observation

        qr_url, obs_url = (f"urn:uuid:{uuid.uuid4()}" for _ in range(2))
        qr = questionnaire_response(sc, subject=subject)
        obs = total_observation(sc, subject=subject, derived_from=qr_url)
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": qr_url, "resource": qr.model_dump(mode="json", exclude_none=True)},
                {"fullUrl": obs_url, "resource": obs.model_dump(mode="json", exclude_none=True)},
            ],
        }
        sys.stdout.write(json.dumps(strict_json(bundle), indent=2, allow_nan=False) + "\n")
        return
    if as_json:
        out = sc.to_dict() | ({"comparison": cmp.to_dict()} if cmp else {})
        sys.stdout.write(json.dumps(strict_json(out), indent=2, allow_nan=False) + "\n")
        return
    lo, hi = instr.total_range
    if sc.total is not None:
        console.print(
            f"{instr.name} total [bold]{sc.total:g}[/] of {lo}-{hi}"
            + (f": {sc.severity}" if sc.severity else " (no severity bands)")
            + (" (prorated)" if sc.prorated else "")
        )
    elif sc.risk is not None:
        console.print(f"{instr.name} risk level: [bold]{sc.risk}[/]")
    else:
        console.print(f"{instr.name}: incomplete, missing items {', '.join(sc.missing)}")
    if sc.domains:
        console.print("domains: " + ", ".join(f"{k} {v}" for k, v in sc.domains.items()))
    for item, code in sc.not_assessed.items():
        console.print(f"item {item}: {code} = not assessed (adds 0 to the total)")
    if sc.syndrome:
        console.print(f"questionnaire algorithm: {sc.syndrome} (not a diagnosis)")
    if sc.suicide_flag:
        console.print(
            f"[bold red]SUICIDE ITEM ALERT[/]: item(s) {', '.join(sc.suicide_items)} "
            "rated above 0 - assess suicide risk now."
        )
    if cmp is not None:
        pct = f" ({cmp.percent_change:+.1f}%)" if cmp.percent_change is not None else ""
        console.print(f"change from baseline {cmp.baseline:g}: {cmp.change:+g}{pct}")
        for call in cmp.calls.values():
            verdict = {True: "yes", False: "no", None: "not evaluable"}[call.met]
            line = f"  {call.outcome}: {verdict} [{call.rule}; {', '.join(call.sources)}]"
            if call.alternatives:
                line += "; other definitions: " + "; ".join(
                    f"{r} -> {({True: 'yes', False: 'no', None: 'n/a'})[m]}"
                    for r, m in call.alternatives
                )
            console.print(line, highlight=False, soft_wrap=True, markup=False)


@scale_app.command("read")
def scale_read(
    path: Annotated[
        Path, typer.Argument(help="A FHIR QuestionnaireResponse, or a Bundle holding some (JSON).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Score QuestionnaireResponses from raad or another system (US Core, LOINC-coded forms).

    Prints, per response: the instrument and how it was recognised, total and severity (or
    risk level), the suicide flag, what the response itself states where raad disagrees, and
    the answers raad did not use.
    """
    from pydantic import ValidationError

    from raad.interop.fhir_scales import read_response
    from raad.scales import ScaleInputError

    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"{path}: cannot read it as JSON ({exc})")
        return
    if not isinstance(data, dict) or data.get("resourceType") not in (
        "QuestionnaireResponse",
        "Bundle",
    ):
        _fail(f"{path}: expected a QuestionnaireResponse or a Bundle (resourceType)")
        return
    if data["resourceType"] == "Bundle":
        found = [
            (f"entry[{i}]", e.get("resource"))
            for i, e in enumerate(data.get("entry") or [])
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "QuestionnaireResponse"
        ]
        if not found:
            _fail(f"{path}: the Bundle holds no QuestionnaireResponse")
    else:
        found = [("", data)]
    results = []
    for where, resource in found:
        try:
            results.append((where, read_response(resource), None))
        except ScaleInputError as exc:
            results.append((where, None, str(exc)))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            results.append((where, None, f"{loc}: {first['msg']}"))
    if as_json:
        out = [{"where": w or None} | (r.to_dict() if r else {"error": e}) for w, r, e in results]
        sys.stdout.write(
            json.dumps(strict_json(out if len(out) > 1 else out[0]), indent=2, allow_nan=False)
            + "\n"
        )
    else:
        for where, read, error in results:
            label = f"{where}: " if where else ""
            if error:
                console.print(f"{label}[bold red]not scored[/]: {escape(error)}", soft_wrap=True)
                continue
            _print_read_score(
                f"{label}{read.score.instrument} (recognised by {read.matched_by})", read.score
            )
            for d in read.disagreements:
                console.print(f"  [yellow]disagreement[/]: {escape(d)}", soft_wrap=True)
            for link, why in read.unused:
                console.print(f"  not used: {escape(link)} ({escape(why)})", soft_wrap=True)
    if any(e for _, _, e in results):
        raise typer.Exit(code=2)


def _print_read_score(head: str, sc) -> None:
    """One scored record read from another system: total and band (or risk, or what is
    missing), the suicide alert and items rated "not assessed"."""
    if sc.total is not None:
        head += f": total [bold]{sc.total:g}[/]" + (f", {sc.severity}" if sc.severity else "")
    elif sc.risk is not None:
        head += f": risk [bold]{sc.risk}[/]"
    else:
        head += f": incomplete, missing {', '.join(sc.missing)}"
    console.print(head, soft_wrap=True)
    if sc.suicide_flag:
        console.print(
            f"  [bold red]SUICIDE ITEM ALERT[/]: item(s) {', '.join(sc.suicide_items)} "
            "positive - assess suicide risk now."
        )
    for item, code in sc.not_assessed.items():
        console.print(f"  item {item}: {code} = not assessed (adds 0)")


@scale_app.command("read-redcap")
def scale_read_redcap(
    path: Annotated[Path, typer.Argument(help="A REDCap CSV export with raw codes.")],
    map_: Annotated[
        str,
        typer.Option(
            "--map",
            help="A shipped field map (bridge2ai-phq9) or a YAML file of the same shape "
            "(docs/redcap.md).",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Score the records of a REDCap export through a documented field map.

    Each row with the mapped fields filled is scored (total and band, or what is missing, and
    the suicide flag); rows of other instruments are skipped and counted. A code the map does
    not list is reported for that record. Exit 2 if any record was not scored.
    """
    from raad.interop.redcap import load_map, read_csv
    from raad.scales import ScaleInputError

    try:
        fmap = load_map(map_)
        reads, skipped = read_csv(path, fmap)
    except ScaleInputError as exc:
        _fail(str(exc))
        return
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        _fail(f"{path}: cannot read it as a CSV export ({exc})")
        return
    if as_json:
        out = {
            "instrument": fmap.instrument,
            "records": [r.to_dict() for r in reads],
            "skipped_empty_rows": skipped,
        }
        sys.stdout.write(json.dumps(strict_json(out), indent=2, allow_nan=False) + "\n")
    else:
        for r in reads:
            label = f"record {r.record_id}" + (f" ({r.event})" if r.event else "")
            if r.error:
                console.print(
                    f"{escape(label)}: [bold red]not scored[/]: {escape(r.error)}", soft_wrap=True
                )
            if r.score is not None:  # what could be read, its suicide alert above all
                head = f"{label}: {fmap.instrument}" + (" (fields read)" if r.error else "")
                _print_read_score(escape(head), r.score)
        console.print(
            f"{len(reads)} record(s) read, {skipped} row(s) without these fields skipped."
        )
    if any(r.error for r in reads):
        raise typer.Exit(code=2)


def _positional(instr, values: list[str], variants: list[str]) -> dict[str, int | None]:
    """Item values from the command line: all in item order (then any extra items, e.g. PHQ-9
    item 10), or all as KEY=VALUE (keys as ``instrument.response_keys``: 16A, 6b, ...).
    "-" marks an unanswered or skipped item."""
    from raad.scales import ScaleInputError

    def number(token: str, where: str) -> int | None:
        if token == "-":
            return None
        try:
            return int(token)
        except ValueError:
            raise ScaleInputError(where, token, "an integer, or - for unanswered") from None

    usage = (
        f"{len(instr.items)} values in item order ({', '.join(instr.item_ids)})"
        + (
            f", then optionally {', '.join(e.id for e in instr.extra_items)}"
            if instr.extra_items
            else ""
        )
        + f"; or KEY=VALUE for each item ({', '.join(instr.response_keys)}); "
        "- marks an unanswered item"
    )
    if any("=" in v for v in values):
        if not all("=" in v for v in values):
            raise ScaleInputError(
                "values", " ".join(values), "either all in order or all KEY=VALUE"
            )
        out: dict[str, int | None] = {}
        for v in values:
            key, _, token = v.partition("=")
            if key in out:
                raise ScaleInputError("values", v, f"each key once ({key} is given twice)")
            out[key] = number(token, f"{instr.name} item {key}")
        return out
    chosen: dict[str, str] = {}
    for v in variants:
        item, _, var = v.partition("=")
        chosen[item] = var
    n, extra = len(instr.items), len(instr.extra_items)
    if not n <= len(values) <= n + extra:
        raise ScaleInputError("values", f"{len(values)} values", usage)
    out = {}
    for item, token in zip(instr.items, values[:n], strict=True):
        value = number(token, f"{instr.name} item {item.id}")
        if item.variants:
            var = chosen.get(item.id)
            if var not in item.variants:
                raise ScaleInputError(
                    "--variant",
                    f"{item.id}={var}",
                    f"{item.id}=" + " or ".join(item.variants) + " "
                    f"({'; '.join(f'{k} {d}' for k, d in item.variants.items())})",
                )
            out[item.id + var] = value
        else:
            out[item.id] = value
    for ex, token in zip(instr.extra_items, values[n:], strict=False):
        out[ex.id] = number(token, f"{instr.name} item {ex.id}")
    return out


def _json_default(obj: object) -> object:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


from raad.cli_service import register as _register_service  # noqa: E402

_register_service(app)
from raad.cli_pharm import register as _register_pharm  # noqa: E402

_register_pharm(app)

if __name__ == "__main__":  # pragma: no cover
    app()
