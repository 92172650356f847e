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
    help="Pharmacology simulation (ketamine IV, naltrexone blockade).", no_args_is_help=True
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
        str | None, typer.Option(help="clements250 (default), domino or hijazi.")
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
        typical = {
            n: simulate_ketamine_iv(dose_mg_per_kg, minutes, t, weight_kg=weight_kg, model=n)
            for n in k.models
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


def register(app: typer.Typer) -> None:
    app.add_typer(pharm_app, name="pharm")
