"""``raad pharm``: concentration and receptor curves, each with a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err = Console(stderr=True)
pharm_app = typer.Typer(
    help="Pharmacology simulation: curves, N2O courses, naltrexone blockade, virtual trials.",
    no_args_is_help=True,
)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code=2)


@pharm_app.command("ketamine")
def ketamine(
    dose_mg_per_kg: Annotated[float, typer.Option(help="Dose in mg/kg.")] = 0.5,
    minutes: Annotated[float, typer.Option(help="Infusion duration, minutes.")] = 40,
    weight_kg: Annotated[float, typer.Option(help="Body weight, kg.")] = 70,
    model: Annotated[
        str | None, typer.Option(help="clements250 (default), domino, hijazi or otto2021 (S).")
    ] = None,
    patients: Annotated[
        int, typer.Option(help="Virtual patients (log-normal variability).")
    ] = 1000,
    hours: Annotated[float, typer.Option(help="Hours to simulate.")] = 4,
    out: Annotated[Path | None, typer.Option(help="Write the curve (.svg/.png).")] = None,
) -> None:
    """Plasma ketamine over time: median and 5-95% of virtual patients, every model beside it."""
    import numpy as np

    from raad.pharm import simulate_ketamine_iv
    from raad.pharm.errors import PharmInputError
    from raad.pharm.params import pharmacology

    k = pharmacology().ketamine_iv
    t = np.linspace(0, hours * 60, 241)
    try:
        pop = simulate_ketamine_iv(
            dose_mg_per_kg, minutes, t, weight_kg=weight_kg, model=model, patients=patients
        )
        typical = {  # racemic models only: otto2021 is an S-ketamine model
            n: simulate_ketamine_iv(dose_mg_per_kg, minutes, t, weight_kg=weight_kg, model=n)
            for n, m in k.models.items()
            if getattr(m, "enantiomer", "racemic") == "racemic" or n == pop.model
        }
    except PharmInputError as exc:
        _fail(str(exc))
    i_end = int(np.argmin(np.abs(t - minutes)))
    p5, p50, p95 = pop.percentiles()
    console.print(
        f"Ketamine {dose_mg_per_kg:g} mg/kg over {minutes:g} min, {weight_kg:g} kg; model {pop.model}",
        markup=False,
    )
    console.print(
        f"end of infusion: median {p50[i_end]:.0f} ng/mL (5-95%: {p5[i_end]:.0f}-{p95[i_end]:.0f}) in {patients} virtual patients",
        markup=False,
    )
    for n, r in typical.items():
        console.print(
            f"  {n:<12} typical patient: {r.conc_ng_ml[0, i_end]:.0f} ng/mL  [{', '.join(c.source for c in k.models[n].cite)}]",
            markup=False,
        )
    obs = k.observed
    console.print(
        f"measured (0.5 mg/kg over 40 min): {obs.end_of_infusion_ng_ml:g} ng/mL; with dissociation {obs.dissociation_range_ng_ml[0]:g}-{obs.dissociation_range_ng_ml[1]:g} [{', '.join(c.source for c in obs.cite)}]",
        markup=False,
    )
    console.print(f"variability: {k.variability.note.strip()}", markup=False)
    if out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        ax.fill_between(t, p5, p95, alpha=0.25, label=f"{pop.model}: 5-95% of {patients} patients")
        ax.plot(t, p50, lw=2, label=f"{pop.model}: median")
        for n, r in typical.items():
            if n != pop.model:
                ax.plot(t, r.conc_ng_ml[0], ls="--", lw=1, label=f"{n}: typical patient")
        ax.axhspan(
            *obs.dissociation_range_ng_ml,
            color="grey",
            alpha=0.1,
            label="measured range with dissociation",
        )
        ax.axhline(
            obs.end_of_infusion_ng_ml,
            color="k",
            ls=":",
            lw=1,
            label="measured at end of 0.5 mg/kg/40 min",
        )
        ax.set_xlabel("minutes from start of infusion")
        ax.set_ylabel("plasma ketamine (ng/mL)")
        ax.legend(fontsize=7, frameon=False)
        fig.tight_layout()
        fig.savefig(out)
        plt.close(fig)
        console.print(f"plot written to {out}", markup=False)


@pharm_app.command("mu-blockade")
def mu_blockade_cmd(
    dose_mg: Annotated[float, typer.Option(help="Oral naltrexone dose, mg.")] = 50,
    below: Annotated[
        float | None,
        typer.Option(help="Report when blockade falls below this fraction (your threshold)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the curve (.svg/.png).")] = None,
) -> None:
    """Mu-opioid blockade after one oral naltrexone dose (the interaction with ketamine made visible)."""
    import numpy as np

    from raad.pharm import mu_blockade, mu_blockade_after
    from raad.pharm.errors import PharmInputError
    from raad.pharm.naltrexone import hours_until_below
    from raad.pharm.params import pharmacology

    nb = pharmacology().naltrexone_mu_blockade
    h = np.linspace(0, 240, 241)
    try:
        b0 = float(mu_blockade(dose_mg))
        curves = mu_blockade_after(dose_mg, h)
        until = hours_until_below(dose_mg, below) if below is not None else None
    except PharmInputError as exc:
        _fail(str(exc))
    src = ", ".join(c.source for c in nb.cite)
    console.print(
        f"{dose_mg:g} mg oral naltrexone: {100 * b0:.0f}% mu-opioid blockade within {nb.valid_hours_after_dose:g} h [{src}]",
        markup=False,
    )
    for at in (24, 48, 72, 120):
        console.print(
            f"  {at:>3} h: {100 * curves['fast'][at]:.0f}% (half-time {nb.blockade_half_time_h[0]:g} h) to {100 * curves['slow'][at]:.0f}% ({nb.blockade_half_time_h[1]:g} h)",
            markup=False,
        )
    if until is not None:
        console.print(
            f"below {100 * below:.0f}% after {until[0]:.0f}-{until[1]:.0f} h. No source gives the blockade below which ketamine's antidepressant effect is no longer attenuated: the threshold is yours.",
            markup=False,
        )
    if out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        ax.fill_between(
            h, 100 * curves["fast"], 100 * curves["slow"], alpha=0.3, label="half-time 72-108 h"
        )
        ax.set_xlabel("hours after the dose")
        ax.set_ylabel("mu-opioid receptors blocked (%)")
        ax.set_ylim(0, 100)
        if below is not None:
            ax.axhline(100 * below, ls=":", color="k", label="your threshold")
        ax.set_title(f"{dose_mg:g} mg oral naltrexone", fontsize=10)
        ax.legend(fontsize=8, frameon=False)
        fig.tight_layout()
        fig.savefig(out)
        plt.close(fig)
        console.print(f"plot written to {out}", markup=False)


def _save(fig, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    console.print(f"plot written to {out}", markup=False)


def _figure(size: tuple[float, float] = (7, 4)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size)


def _cites(cite) -> str:
    return ", ".join(c.source for c in cite)


@pharm_app.command("curve")
def curve(
    regimen: Annotated[str, typer.Argument(help="A regimen id from regimens.yaml.")],
    hours: Annotated[float, typer.Option(help="Hours to simulate from the first dose.")] = 24,
    patients: Annotated[int, typer.Option(help="Virtual patients.")] = 500,
    weight_kg: Annotated[float, typer.Option(help="Body weight, kg.")] = 70,
    age_years: Annotated[float, typer.Option(help="Age, years.")] = 45,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Write the curves (.svg/.png).")] = None,
) -> None:
    """Concentration, receptor and enzyme curves for a regimen (median and 5-95%)."""
    import numpy as np

    from raad.pharm import Patient, PharmInputError, simulate

    try:
        if not 0 < hours <= 24 * 60:
            raise PharmInputError("hours", hours, "more than 0 and at most 1440")
        t = np.linspace(0, hours * 60, 481)
        sim = simulate(regimen, Patient(weight_kg, age_years), t, patients=patients, seed=seed)
    except PharmInputError as exc:
        _fail(str(exc))
    console.print(f"{regimen} ({sim.agent}), {patients} virtual patients", markup=False)
    for name, _arr in sim.curves.items():
        p5, p50, p95 = sim.percentiles(name)
        i = int(np.argmax(p50))
        console.print(
            f"  {name}: median peak {p50[i]:.3g} {sim.units[name]} at {t[i] / 60:.2f} h"
            f" (5-95%: {p5[i]:.3g}-{p95[i]:.3g})",
            markup=False,
        )
    for n in sim.notes:
        console.print(f"  note: {n}", markup=False)
    if out is not None:
        fig, _axes = _figure((7, 2.2 * len(sim.curves)))
        fig.clf()
        for j, (name, _arr) in enumerate(sim.curves.items()):
            ax = fig.add_subplot(len(sim.curves), 1, j + 1)
            p5, p50, p95 = sim.percentiles(name)
            ax.fill_between(t / 60, p5, p95, alpha=0.25)
            ax.plot(t / 60, p50, lw=1.5)
            ax.set_ylabel(f"{name}\n({sim.units[name]})", fontsize=8)
        ax.set_xlabel("hours from first dose")
        _save(fig, out)


@pharm_app.command("n2o-course")
def n2o_course(
    regimen: Annotated[str, typer.Argument(help="An N2O regimen id (e.g. n2o-50-twice-weekly).")],
    compare_fraction: Annotated[
        float | None,
        typer.Option(help="Also run the same schedule at this N2O fraction (e.g. 0.25)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the activity curves (.svg/.png).")] = None,
) -> None:
    """Methionine-synthase activity over an N2O course (assumption-labelled) and the course's
    exposure against the cited Entonox/Kalinox limits."""
    from raad.pharm import PharmInputError, pharmacology, simulate_course

    ms = pharmacology().methionine_synthase
    try:
        runs = [simulate_course(regimen)]
        if compare_fraction is not None:
            runs.append(simulate_course(regimen, n2o_fraction=compare_fraction))
    except PharmInputError as exc:
        _fail(str(exc))
    console.print(
        "Methionine-synthase rates are an ASSUMPTION: no human rate was found; they are read from"
        f" rat liver data [{_cites(ms.cite)}] and varied x{ms.inactivation_factor_range[0]:g}-"
        f"{ms.inactivation_factor_range[1]:g} (inactivation) and x{ms.resynthesis_factor_range[0]:g}-"
        f"{ms.resynthesis_factor_range[1]:g} (resynthesis).",
        markup=False,
    )
    for r in runs:
        c, lo, hi = r.nadir_range()
        console.print(
            f"{r.label}: {len(r.sessions)} sessions; lowest activity {c:.0%} (range {lo:.0%}-{hi:.0%})",
            markup=False,
        )
        for ch in r.checks:
            flag = "within" if ch["ok"] else "BEYOND"
            console.print(
                f"  {ch['check']}: {ch['value']:g} ({flag} limit {ch['limit']:g}) [{ch['source']}]",
                markup=False,
            )
    if out is not None:
        fig, ax = _figure()
        for r in runs:
            days = r.times_min / 1440
            line = ax.plot(days, 100 * r.activity[0], lw=1.5, label=f"{r.label} (central)")
            ax.fill_between(
                days,
                100 * r.activity.min(0),
                100 * r.activity.max(0),
                color=line[0].get_color(),
                alpha=0.15,
                label=f"{r.label}: assumption range",
            )
        ax.set_xlabel("days from first session")
        ax.set_ylabel("methionine synthase activity (% of baseline)")
        ax.set_ylim(0, 105)
        ax.set_title("ASSUMPTION: rates from rat liver data", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
        _save(fig, out)


def _history(dose_mg: float, days: int, per_day: int, last_dose_h: float):
    from raad.pharm.naltrexone import daily_history

    return daily_history(dose_mg, days, per_day, last_dose_h)


@pharm_app.command("mu-occupancy")
def mu_occupancy(
    dose_mg: Annotated[float, typer.Option(help="Oral naltrexone dose, mg.")] = 50,
    days: Annotated[int, typer.Option(help="Days of dosing.")] = 1,
    per_day: Annotated[int, typer.Option(help="Doses a day.")] = 1,
    session_h: Annotated[
        float, typer.Option(help="Ketamine session, hours after the last naltrexone dose.")
    ] = 0.75,
    out: Annotated[Path | None, typer.Option(help="Write the curve (.svg/.png).")] = None,
) -> None:
    """Mu-opioid blockade over a naltrexone dose history, and at a ketamine session."""
    import numpy as np

    from raad.pharm import PharmInputError, mu_blockade_history, pharmacology

    nb = pharmacology().naltrexone_mu_blockade
    try:
        if not -1e4 < session_h < 1e4:
            raise PharmInputError("session_h", session_h, "hours after the last dose, |h| < 10000")
        hist = _history(dose_mg, days, per_day, 0.0)
        first = hist[0][0]
        h = np.linspace(first, max(session_h, 0) + 240, 2000)
        curves = mu_blockade_history(hist, h)
        at = mu_blockade_history(hist, [session_h])
    except PharmInputError as exc:
        _fail(str(exc))
    console.print(
        f"{dose_mg:g} mg x{per_day}/day for {days} day(s): blockade at a ketamine session {session_h:g} h"
        f" after the last dose: {at['fast'][0]:.0%} (half-time {nb.blockade_half_time_h[0]:g} h) to"
        f" {at['slow'][0]:.0%} ({nb.blockade_half_time_h[1]:g} h) [{_cites(nb.cite)}]",
        markup=False,
    )
    console.print(
        "Doses combine as equivalent doses through the PET hyperbola (raad's assumption).",
        markup=False,
    )
    if out is not None:
        fig, ax = _figure()
        ax.fill_between(
            h, 100 * curves["fast"], 100 * curves["slow"], alpha=0.3, label="half-time 72-108 h"
        )
        ax.axvline(session_h, color="k", ls=":", label="ketamine session")
        ax.set_xlabel("hours (0 = last naltrexone dose)")
        ax.set_ylabel("mu-opioid receptors blocked (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8, frameon=False)
        _save(fig, out)


@pharm_app.command("ketamine-start")
def ketamine_start_cmd(
    below: Annotated[
        float,
        typer.Option(help="Blockade fraction you accept at the ketamine session (your threshold)."),
    ],
    dose_mg: Annotated[float, typer.Option(help="Oral naltrexone dose, mg.")] = 50,
    days: Annotated[int, typer.Option(help="Days of dosing before stopping.")] = 1,
    per_day: Annotated[int, typer.Option(help="Doses a day.")] = 1,
) -> None:
    """When a patient stopping naltrexone could start ketamine: hours after the last dose until
    mu blockade falls below your threshold."""
    from raad.pharm import PharmInputError, ketamine_start

    try:
        res = ketamine_start(_history(dose_mg, days, per_day, 0.0), below)
    except PharmInputError as exc:
        _fail(str(exc))
    f, s = res["fast_h_after_last_dose"], res["slow_h_after_last_dose"]

    def fmt(x):
        return "beyond 60 days" if x is None else f"{x:.0f} h ({x / 24:.1f} days)"

    console.print(
        f"blockade below {below:.0%}: {fmt(f)} (72 h half-time) to {fmt(s)} (108 h) after the last dose",
        markup=False,
    )
    console.print(
        "No source gives the blockade below which ketamine's antidepressant effect is no longer"
        " attenuated: the threshold is yours.",
        markup=False,
    )


@pharm_app.command("trial")
def trial(
    design: Annotated[str, typer.Option(help="parallel or crossover.")] = "parallel",
    effect: Annotated[
        str, typer.Option(help="A published effect id from trials.yaml.")
    ] = "qiu2023-24h",
    outcome_sd: Annotated[
        float | None, typer.Option(help="SD to standardise an MD effect.")
    ] = None,
    n: Annotated[
        int | None, typer.Option(help="Per arm (parallel) or patients (crossover).")
    ] = None,
    power: Annotated[float, typer.Option(help="Target power for the sample size.")] = 0.8,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    correlation: Annotated[
        float | None, typer.Option(help="Within-patient correlation (crossover; your choice).")
    ] = None,
    trials: Annotated[int, typer.Option(help="Simulated trials.")] = 10_000,
    uncertain: Annotated[
        bool, typer.Option(help="Draw each trial's true effect from its CI.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Write the estimate histogram (.svg/.png).")
    ] = None,
) -> None:
    """Virtual trials with an effect from the evidence base: power and sample size."""
    from rich.progress import Progress

    from raad.pharm import PharmInputError, sample_size, simulate_trials
    from raad.pharm.trials import effect_from_evidence

    try:
        eff = effect_from_evidence(effect, outcome_sd)
        need = sample_size(design, eff.smd, power, alpha, correlation)
        n_run = need if n is None else n
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("simulating trials", total=trials)
            res = simulate_trials(
                design,
                n_run,
                eff.smd,
                trials=trials,
                alpha=alpha,
                correlation=correlation,
                effect_se=eff.se if uncertain else 0.0,
                seed=seed,
                progress=lambda done, total: bar.update(task, completed=done),
            )
    except PharmInputError as exc:
        _fail(str(exc))
    console.print(
        f"effect: {eff.label}: SMD {eff.smd:g} (se {eff.se:.3f}) [{eff.source}]", markup=False
    )
    unit = "per arm" if design == "parallel" else "patients"
    console.print(f"sample size for {power:.0%} power (analytic): {need} {unit}", markup=False)
    console.print(str(res), markup=False)
    if out is not None:
        fig, ax = _figure()
        ax.hist(res.estimates, bins=60, alpha=0.7)
        ax.axvline(eff.smd, color="k", ls=":", label="true effect")
        ax.set_xlabel(
            "estimated effect (Hedges' g)" if design == "parallel" else "mean difference (SD units)"
        )
        ax.set_ylabel("simulated trials")
        ax.legend(fontsize=8, frameon=False)
        _save(fig, out)


def _numbers(name: str, text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        _fail(f"{name}: got {text!r}; allowed: numbers separated by commas")
        raise


@pharm_app.command("design")
def design(
    arms: Annotated[
        str, typer.Option(help="N2O fractions, placebo first, e.g. 0,0.25,0.5.")
    ] = "0,0.25,0.5",
    effect_source: Annotated[
        str,
        typer.Option(
            help="'evidence' (the knowledge base's pooled SMD per dose, with sources), one SMD "
            "for every dose (e.g. -0.5; 0 gives the type I error), or one per dose."
        ),
    ] = "evidence",
    design_kind: Annotated[
        str, typer.Option("--design", help="parallel, or crossover (each patient gets every arm).")
    ] = "parallel",
    n_per_arm: Annotated[int, typer.Option(help="Patients randomised per arm (parallel).")] = 30,
    patients: Annotated[int | None, typer.Option(help="Patients randomised (crossover).")] = None,
    carryover: Annotated[
        float,
        typer.Option(help="Crossover: share of the previous period's effect still present (0-1)."),
    ] = 0.0,
    trials: Annotated[int, typer.Option(help="Simulated trials.")] = 10_000,
    visits: Annotated[int, typer.Option(help="Weekly visits after baseline.")] = 4,
    rho: Annotated[
        float, typer.Option(help="Correlation between visits (an assumption; vary it).")
    ] = 0.5,
    dropout: Annotated[
        float, typer.Option(help="Chance of leaving before each visit (an assumption).")
    ] = 0.05,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    multiplicity: Annotated[str, typer.Option(help="holm, bonferroni or none.")] = "holm",
    assurance: Annotated[
        bool, typer.Option(help="Draw each trial's true effects from their uncertainty.")
    ] = False,
    ni_margin: Annotated[
        float | None,
        typer.Option(help="Non-inferiority margin (SD units) of the lowest dose vs the highest."),
    ] = None,
    placebo_nausea: Annotated[
        float | None,
        typer.Option(help="Nausea rate on placebo, to test less nausea on the lowest dose."),
    ] = None,
    from_clinic: Annotated[
        bool,
        typer.Option(
            help="Take the correlation between visits and the dropout from this clinic's own "
            "courses of the agent (--url), instead of the assumed values."
        ),
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(help="Database URL for --from-clinic (default: RAAD_DATABASE_URL)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    protocol: Annotated[
        Path | None, typer.Option(help="Write a sample-size justification (markdown).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write power against patients per arm (.svg/.png).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Dose-response trial design: power, type I error and assurance by simulation, each
    input with its source."""
    import json
    import sys

    from rich.progress import Progress

    from raad.pharm import PharmInputError
    from raad.pharm.design import (
        Input,
        evidence_effects,
        evidence_nausea,
        simulate_crossover,
        simulate_design,
    )

    doses = _numbers("arms", arms)
    try:
        inputs: list[Input] = []
        if effect_source == "evidence":
            effects, ses, inputs = evidence_effects(doses)
        else:
            given = _numbers("effect-source", effect_source)
            if len(given) == 1:
                given = given * (len(doses) - 1)
            if len(given) != len(doses) - 1:
                _fail(f"effect-source: got {len(given)} values; allowed: 1 or {len(doses) - 1}")
            effects, ses = [0.0, *given], [0.0] * len(doses)
            inputs = [
                Input(f"effect at {d:.0%} (SMD vs placebo)", e, "given")
                for d, e in zip(doses[1:], given, strict=True)
            ]
        if assurance and not any(ses):
            _fail("assurance: needs --effect-source evidence (effects with their uncertainty)")
        nausea = None
        if placebo_nausea is not None:
            nausea, more = evidence_nausea(doses, placebo_nausea)
            inputs += more
        rho_source = dropout_source = "assumed (no source read gives it)"
        if from_clinic:
            clinic = _clinic_inputs(url)
            rho, rho_source = (
                clinic["rho"],
                (
                    f"this clinic: {clinic['courses']} n2o courses on {clinic['instrument']}, "
                    f"visits {', '.join(clinic['visits'])} (Pearson r, Fisher-z average)"
                ),
            )
            if clinic["dropout"] is not None:
                dropout = round(clinic["dropout"], 4)
                dropout_source = "this clinic: share of courses not rated at the next visit"
        inputs += [
            Input("patients per arm", n_per_arm, "given"),
            Input("visits (weekly)", visits, "given"),
            Input("correlation between visits", round(rho, 4), rho_source),
            Input("dropout before each visit", dropout, dropout_source),
            Input("alpha (two-sided)", alpha, "given"),
            Input("multiplicity", multiplicity, "Holm 1979" if multiplicity == "holm" else "given"),
        ]
        if ni_margin is not None:
            inputs.append(Input("non-inferiority margin (SD)", ni_margin, "assumed (a choice)"))
        common = dict(
            visits=visits, rho=rho, dropout=dropout, alpha=alpha, multiplicity=multiplicity
        )
        if design_kind not in ("parallel", "crossover"):
            _fail(f"design: got {design_kind!r}; allowed: parallel, crossover")
        if design_kind == "crossover":
            if patients is None:
                _fail("patients: a crossover needs --patients (patients randomised)")
            if assurance or ni_margin is not None or placebo_nausea is not None:
                _fail(
                    "design: --assurance, --ni-margin and --placebo-nausea are for parallel "
                    "designs only"
                )
            inputs = [
                Input("correlation between periods", i.value, i.source)
                if i.name == "correlation between visits"
                else Input("dropout before each later period", i.value, i.source)
                if i.name == "dropout before each visit"
                else i
                for i in inputs
                if i.name not in ("patients per arm", "visits (weekly)")
            ]
            inputs += [
                Input("patients (crossover)", patients, "given"),
                Input("carry-over (share of the previous period's effect)", carryover, "assumed"),
            ]
            simulate = simulate_crossover
            size = patients
            shared = dict(rho=rho, dropout=dropout, alpha=alpha, multiplicity=multiplicity)
            only_design = dict(carryover=carryover)
            plot = None  # the power-by-n plot is for parallel designs
        else:
            simulate, size, shared = simulate_design, n_per_arm, common
            only_design = dict(
                effect_se=ses if assurance else None, ni_margin=ni_margin, nausea=nausea
            )
        with Progress(console=err, transient=True, disable=as_json) as bar:
            task = bar.add_task("simulating trials", total=2 * trials)
            res = simulate(
                doses,
                effects,
                size,
                trials=trials,
                seed=seed,
                inputs=inputs,
                progress=lambda done, total: bar.update(task, completed=done),
                **only_design,
                **shared,
            )
            null = simulate(  # the same design with no effect: the type I error
                doses,
                [0.0] * len(doses),
                size,
                trials=trials,
                seed=seed + 1,
                progress=lambda done, total: bar.update(task, completed=trials + done),
                **shared,
            )
    except PharmInputError as exc:
        _fail(str(exc))
    out = res.to_dict()
    out["type1_error"] = null.rejection_rate
    out["assurance"] = assurance
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2, allow_nan=False) + "\n")
    else:
        what = "assurance" if assurance else "power"
        console.print(
            f"{what}: {res.power:.3f} (MC se {res.mc_se:.3f}) that at least one dose is shown "
            f"better than placebo; type I error {null.rejection_rate:.4f} (alpha {alpha:g}, "
            f"{multiplicity}); {trials} simulated trials each",
            markup=False,
            soft_wrap=True,
        )
        for a in out["arms"]:
            console.print(
                f"  {a['dose']:.0%}: SMD {a['effect_smd']:g}, {what} {a['power']:.3f}", markup=False
            )
        if "non_inferiority_power" in out:
            console.print(
                f"  non-inferiority of the lowest dose: {out['non_inferiority_power']:.3f}",
                markup=False,
            )
        if "nausea_superiority_power" in out:
            console.print(
                f"  less nausea on the lowest dose: {out['nausea_superiority_power']:.3f}",
                markup=False,
            )
        console.print("inputs:", markup=False)
        for i in inputs:
            console.print(f"  {i.name}: {i.value}  [{i.source}]", markup=False, soft_wrap=True)
    if protocol is not None:
        protocol.write_text(_protocol_text(res, null.rejection_rate, assurance), encoding="utf-8")
        err.print(f"protocol text written to {protocol}", markup=False)
    if plot is not None:
        ns = sorted({max(2, round(n_per_arm * f)) for f in (0.5, 0.75, 1, 1.25, 1.5, 2)})
        powers = [
            simulate_design(doses, effects, k, trials=min(trials, 4000), seed=seed, **common).power
            for k in ns
        ]
        fig, ax = _figure()
        ax.plot(ns, powers, marker="o")
        ax.axhline(0.8, color="k", ls=":", lw=1)
        ax.set_xlabel("patients per arm")
        ax.set_ylabel("power (at least one dose better than placebo)")
        ax.set_ylim(0, 1)
        _save(fig, plot)


def _clinic_inputs(url: str | None) -> dict:
    from raad.services.cohort_evidence import design_inputs_from_clinic
    from raad.store import Database
    from raad.store.migrate import current_revision, head_revision

    db = Database(url)
    if current_revision(db) != head_revision(db):
        _fail(f"from-clinic: database at schema {current_revision(db)}; run `raad db upgrade`")
    with db.transaction(write=False) as s:
        clinic = design_inputs_from_clinic(s, "n2o")
    if not clinic.get("available"):
        _fail(f"from-clinic: {clinic.get('reason', 'no n2o courses with ratings')}")
    return clinic


def _protocol_text(res, type1: float, assurance: bool) -> str:
    import raad

    what = "Assurance" if assurance else "Power"
    lines = [
        "# Sample size justification",
        "",
        f"Design: randomised, parallel, {len(res.doses)} arms (placebo and N2O "
        + ", ".join(f"{d:.0%}" for d in res.doses[1:])
        + f"), {res.n_per_arm} patients per arm.",
        "",
        "Analysis: each patient's mean depression score over the weekly visits attended "
        "(summary measures, Matthews et al. 1990, BMJ 300:230-235); each dose against placebo "
        f"by Student's t-test, two-sided alpha {res.alpha:g}, "
        f"{res.multiplicity} adjustment for the {len(res.doses) - 1} comparisons.",
        "",
        f"{what} that at least one dose is shown better than placebo: **{res.power:.3f}** "
        f"(Monte Carlo SE {res.mc_se:.3f}, {res.trials} simulated trials); family-wise type I "
        f"error under no effect: {type1:.4f}.",
        "",
        "| input | value | source |",
        "|---|---|---|",
    ]
    lines += [f"| {i.name} | {i.value} | {i.source} |" for i in res.inputs]
    lines += ["", f"Computed by raad {getattr(raad, '__version__', '')} (raad pharm design)."]
    return "\n".join(lines) + "\n"


def register(app: typer.Typer) -> None:
    app.add_typer(pharm_app, name="pharm")
