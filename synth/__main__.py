"""Command line: python -m synth --out DIR [--scale 1.0] [--seed 7] ..."""
from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from synth.extracts import FORMATS, extracts_folder, write_extracts
from synth.generate import DEFAULT_EXTRACT_TIME, generate

app = typer.Typer(add_completion=False)


def _parse_urls(values: list[str]) -> dict[str, str]:
    urls = {}
    for value in values:
        partner, sep, url = value.partition("=")
        if not sep or not partner or not url:
            raise typer.BadParameter(f"--url expects PARTNER_ID=SQLALCHEMY_URL, got {value!r}")
        urls[partner] = url
    return urls


@app.command()
def main(
    out: Annotated[Path, typer.Option(help="Directory for the partner databases, manifest and truth.")],
    scale: Annotated[float, typer.Option(help="Population size relative to an average region (~80k young people).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; same seed and scale give identical files.")] = 7,
    gemeenten: Annotated[int, typer.Option(help="Number of municipalities (2-10); the first is the largest.")] = 5,
    own_wi: Annotated[bool, typer.Option("--own-wi/--no-own-wi", help="The largest gemeente runs its own W&I "
                                         "department and node (else every gemeente shares the regional one).")] = True,
    url: Annotated[list[str], typer.Option(help="PARTNER_ID=SQLALCHEMY_URL: load that partner there instead.")] = [],  # noqa: B006
    extract_time: Annotated[dt.datetime, typer.Option(help="Data-as-of time of every extract.")] = DEFAULT_EXTRACT_TIME,
    quiet: Annotated[bool, typer.Option(help="No progress on stderr.")] = False,
    format: Annotated[str, typer.Option(help="sqlite, or also write each partner's tables as extract files: "
                                             "csv, parquet or xlsx, in OUT/FORMAT/PARTNER_ID/.")] = "sqlite",
) -> None:
    """Generate the synthetic region."""
    started = time.monotonic()
    if format not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}, not {format!r}.", err=True)
        raise typer.Exit(2)
    try:
        manifest = generate(out, scale=scale, seed=seed, gemeenten=gemeenten, own_wi=own_wi, urls=_parse_urls(url),
                            extract_time=extract_time, progress=not quiet)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"seed {manifest.seed}, scale {manifest.scale}: {manifest.persons} persons simulated "
               f"in {time.monotonic() - started:.1f}s, written to {out}")
    if format != "sqlite":
        for p in manifest.partners:
            # checked against FORMATS above; typer hands the option over as a str
            write_extracts(p.url(out), p.kind, extracts_folder(out, format, p.id), format)  # type: ignore[arg-type]
        typer.echo(f"extracts as {format} in {out / format}/PARTNER_ID/")
    for p in manifest.partners:
        tables = ", ".join(f"{t} {n}" for t, n in p.tables.items())
        bad = manifest.deliberately_invalid_bsns.get(p.id, 0)
        typer.echo(f"  {p.id:<16} {tables}; invalid BSNs {bad}")


if __name__ == "__main__":
    sys.exit(app())
