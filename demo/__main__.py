"""`python -m demo` (or `regiozicht demo`): a whole synthetic region on this machine.

Generates the region, creates its CA, has every party make its key and
certificate request and the CA sign it, starts the coordinator and every
node as separate processes, asks the demo questions as an analyst and shows
each DP answer beside the truth. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from coordinator.client import AnalystClient, CountResult, Profile
from demo.questions import QUESTIONS, Question
from demo import synthregion
from demo.region import RunningRegion, build
from regiozicht.errors import RegiozichtError
from regiozicht.query import build_count

err = Console(stderr=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="regiozicht demo", description=__doc__)
    parser.add_argument("--scale", type=float, default=0.1, help="region size; 1.0 ≈ 80,000 young people")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--gemeenten", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="where to put the region (default: a temporary directory)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--keep-running", action="store_true", help="leave the region up and print how to query it")
    return parser.parse_args()


def _truth(truth: Any, manifest: Any, result: CountResult, layer: str) -> dict[tuple[str, ...], int]:
    """The recorded (or real) value per cell, summed over the nodes that answered."""
    answered = {n.org for n in result.nodes if not n.error}
    total: dict[tuple[str, ...], int] = {}
    for partner in manifest.partners:
        if partner.org not in answered:
            continue
        counts = truth.count(partner.id, result.query.dataset, result.query.peildatum, by=result.query.by,
                             layer=layer)
        for cell, value in counts.items():
            total[tuple(cell)] = total.get(tuple(cell), 0) + value
    return total


def _ask(client: AnalystClient, question: Question) -> CountResult:
    nodes = client.catalog()
    peildatum = client.resolve_peildatum(question.dataset, None, nodes)
    query = build_count(question.dataset, epsilon=question.epsilon, purpose=question.purpose,
                        peildatum=peildatum, by=list(question.by))
    client.check(query, client.publishers(question.dataset, nodes))
    return client.count(query)


def _rows(question: Question, result: CountResult, recorded: dict[tuple[str, ...], int],
          reality: dict[tuple[str, ...], int]) -> list[dict[str, Any]]:
    return [
        {"indicator": question.indicator, "group": dict(zip(result.query.by, cell.group)), "value": cell.value,
         "ci95": [cell.ci_low, cell.ci_high], "epsilon": float(result.query.epsilon),
         "true_value": recorded.get(cell.group, 0), "reality": reality.get(cell.group, 0),
         "nodes": [n.org for n in result.nodes if not n.error]}
        for cell in result.cells
    ]


def _show(question: Question, result: CountResult, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"{question.indicator} — {result.query.dataset} on {result.query.peildatum}, "
                        f"ε {result.query.epsilon} per node, {len(rows[0]['nodes']) if rows else 0} node(s)")
    for name in (*result.query.by, "value", "95% interval", "true (recorded)", "reality"):
        table.add_column(name, justify="left" if name in result.query.by else "right")
    covered = 0
    for row in rows:
        inside = row["ci95"][0] <= row["true_value"] <= row["ci95"][1]
        covered += inside
        table.add_row(*row["group"].values(), str(row["value"]), f"{row['ci95'][0]:.0f} … {row['ci95'][1]:.0f}",
                      str(row["true_value"]) + ("" if inside else " *"), str(row["reality"]))
    Console().print(table)
    for node in result.nodes:
        if node.error:
            err.print(f"[yellow]missing:[/] {node.org}: {node.error}")


def main() -> int:
    args = _arguments()
    from synth.generate import generate
    from synth.truth import Truth

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="regiozicht-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    started = time.monotonic()
    err.print(f"[bold]Regiozicht demo[/] in {workdir} (scale {args.scale}, seed {args.seed})")
    with err.status("generating the synthetic region…"):
        manifest = generate(data, scale=args.scale, seed=args.seed, gemeenten=args.gemeenten)
    err.print(f"synthetic region: {manifest.persons} persons, {len(manifest.partners)} partner databases")
    partners = synthregion.partners(data, manifest)
    with err.status("creating the regional CA; each party makes its key and the CA signs its request…"):
        files = build(workdir / "region", partners)
    region = RunningRegion(files)
    results: list[dict[str, Any]] = []
    try:
        with err.status(f"starting the coordinator and {len(partners)} node processes…"):
            region.start()
            region.wait_until_online({p.org for p in partners}, timeout=120)
        err.print(f"all {len(partners)} nodes online; their signed Describes have arrived")
        truth = Truth.load(data)
        client = AnalystClient(Profile.load(files.profile))
        for question in QUESTIONS:
            with err.status(f"asking: {question.indicator}…"):
                result = _ask(client, question)
            rows = _rows(question, result, _truth(truth, manifest, result, "recorded"),
                         _truth(truth, manifest, result, "reality"))
            results.extend(rows)
            if args.format == "table":
                _show(question, result, rows)
        client.close()
        if args.format == "json":
            sys.stdout.write(json.dumps({"results": results}, indent=2, ensure_ascii=False) + "\n")
        covered = sum(r["ci95"][0] <= r["true_value"] <= r["ci95"][1] for r in results)
        err.print(f"{covered} of {len(results)} intervals cover the recorded truth "
                  f"(95% intervals: expect about {0.95 * len(results):.0f}); * marks a miss. "
                  f"Done in {time.monotonic() - started:.0f} s.")
        if args.keep_running:
            err.print(f"The region keeps running. In another shell:\n"
                      f"  regiozicht catalog --profile {files.profile}\n"
                      f"  regiozicht query count vsv --by gemeente --epsilon 0.5 --purpose rmc-monitor "
                      f"--profile {files.profile}\nPress Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
    except (RegiozichtError, TimeoutError, RuntimeError) as exc:
        err.print(f"[bold red]demo failed:[/] {getattr(exc, 'message', exc)}")
        return 1
    finally:
        region.stop()
        if args.workdir is None and not args.keep_running:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
