"""The ``raad`` command line: a thin shell over the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from raad import __version__

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
    "pi",
)
SLAB_GUESSES = ("slab", "study", "author", "trial")


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
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
        sys.stdout.write(json.dumps(out, indent=2, default=_json_default) + "\n")
        return
    console.print(report.format_studies(res) + "\n", highlight=False, soft_wrap=True)
    console.print(str(res), highlight=False, soft_wrap=True)
    if pred is not None:
        console.print("\nPooled effect with prediction interval:", highlight=False)
        console.print(str(pred), highlight=False, soft_wrap=True)
    if het is not None:
        console.print("\n" + str(het), highlight=False, soft_wrap=True)
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
    from raad.evidence import EvidenceInputError
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
    if out is not None:
        result.to_csv(out)
        console.print(f"wrote {len(result)} meta-analyses to {out}")
    else:
        sys.stdout.write(result.to_csv())


def _json_default(obj: object) -> object:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


if __name__ == "__main__":  # pragma: no cover
    app()
