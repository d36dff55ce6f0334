"""`python -m demo` (or `regiozicht demo`): a whole synthetic region on this machine.

Generates the region, creates its CA, has every party make its key and
certificate request and the CA sign it, starts the coordinator and every
node as separate processes, asks the demo questions as an analyst — the
plain indicators, then the linked ones (shares of one partner's set found in
another's, linked on BSN without any BSN leaving a node) — and shows each DP
answer beside the truth. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, overload

from rich.console import Console
from rich.table import Table

from analyst.client import AnalystClient, CountResult, Profile, share_cells
from demo import synthregion
from demo.linked import ask_linked, show_linked
from demo.questions import LINKED, QUESTIONS, Question
from demo.region import RunningRegion, build
from regiozicht import filters
from regiozicht.errors import RegiozichtError
from regiozicht.query import build_count

err = Console(stderr=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="regiozicht demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="region size; 1.0 ≈ 80,000 young people (default 1.0)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic region (default 7)")
    parser.add_argument("--gemeenten", type=int, default=5, help="number of municipalities (default 5)")
    parser.add_argument("--workdir", type=Path, help="where to put the region (default: a temporary directory)")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (default) or json on stdout; progress goes to stderr")
    parser.add_argument("--keep-running", action="store_true", help="leave the region up and print how to query it")
    parser.add_argument("--site", type=Path, default=Path("monitor-site"),
                        help="where to build the monitor site; it stays after the demo (default ./monitor-site)")
    parser.add_argument("--school-files", choices=("csv", "parquet", "sqlite"), default="csv",
                        help=f"the school {FILE_PARTNER} serves extract files of this format instead of its SQLite "
                             "database (docs/extracts.md; default csv)")
    parser.add_argument("--no-monitor", action="store_true",
                        help="skip the regional monitor site (deploy/monitor.toml over five reference dates)")
    return parser.parse_args()


FILE_PARTNER = "school-provso"  # the partner whose node reads a folder of extracts, as a school that mails them would
MONITOR_YEARS = 5  # the monitor site shows the five latest reference dates (1 October) the data holds


def build_monitor_site(client: AnalystClient, manifest: Any, site: Path) -> Path:
    """Runs the standard monitor (deploy/monitor.toml) at the region's five latest reference dates,
    keeps each run in the history and builds the site; returns its front page."""
    from analyst import monitor as monitor_file
    from analyst import monitor_history
    from analyst.monitor_run import run
    from analyst.site import build_site

    monitor = monitor_file.load(Path(__file__).resolve().parent.parent / "deploy" / "monitor.toml")
    names = {"gemeente": {g.code: g.name for g in manifest.gemeenten}}
    latest = monitor_file.peildatum(monitor, manifest.extract_datetime.date())
    history = site / "history"
    shutil.rmtree(history, ignore_errors=True)  # this demo's region only: a former run's periods would not match
    nodes = client.catalog()
    for back in range(MONITOR_YEARS - 1, -1, -1):
        at = latest.replace(year=latest.year - back)
        with err.status(f"monitor: the period of {at}…"):
            document = run(client, monitor, nodes, at)
        document["labels"] = {**document.get("labels", {}), **names}
        monitor_history.save(document, history)
    with err.status("monitor: building the site…"):
        return build_site(monitor_history.load_all(history), site)


def write_partner_extracts(data: Path, manifest: Any, partner_id: str, fmt: str) -> Path:
    """The partner's database written as the extract files it would mail (`python -m synth --format`)."""
    from synth.extracts import extracts_folder, write_extracts

    partner = next(p for p in manifest.partners if p.id == partner_id)
    folder = extracts_folder(data, fmt, partner_id)
    write_extracts(partner.url(data), partner.kind, folder, fmt)  # type: ignore[arg-type]
    return folder


@overload
def clipped(value: float) -> float: ...
@overload
def clipped(value: None) -> None: ...
def clipped(value: float | None) -> float | None:
    """A DP estimate of a count or share can fall below zero; what the demo shows is the nearest possible
    value, 0 (post-processing: it costs no privacy)."""
    return None if value is None else max(0, value)


def shown_group(group: dict[str, str], gemeenten: dict[str, str]) -> list[str]:
    """A row's group as a reader knows it: municipalities by name, not by code."""
    return [gemeenten.get(value, value) if name == "gemeente" else value for name, value in group.items()]


def _truth(truth: Any, manifest: Any, result: CountResult, layer: str) -> dict[tuple[str, ...], int]:
    """The recorded (or real) value per cell, summed over the nodes that answered."""
    answered = {n.org for n in result.nodes if not n.error}
    query = result.query
    tree = query.where
    where = (lambda row: filters.evaluate(tree, row)) if tree else None
    total: dict[tuple[str, ...], int] = {}
    for partner in manifest.partners:
        if partner.org not in answered:
            continue
        counts = truth.count(partner.id, query.dataset, query.peildatum, by=query.by,
                             where=synthregion.within(manifest, partner, where), layer=layer)
        for cell, value in counts.items():
            total[tuple(cell)] = total.get(tuple(cell), 0) + value
    return total


def _count(client: AnalystClient, dataset: str, question: Question, where: str | None,
           nodes: list[Any]) -> CountResult:
    peildatum = client.resolve_peildatum(dataset, None, nodes)
    query = build_count(dataset, epsilon=question.epsilon, purpose=question.purpose, peildatum=peildatum,
                        by=list(question.by), where=where)
    publishers = client.publishers(dataset, nodes)
    client.check(query, publishers)
    return client.count(query, publishers=publishers)


def _spent(*results: CountResult) -> float:
    """The most ε any one node spent on these counts (a node publishing both parts of a share pays twice)."""
    per_node: dict[str, float] = {}
    for result in results:
        for node in result.nodes:
            if not node.from_store and not node.error:
                per_node[node.org] = per_node.get(node.org, 0.0) + float(node.epsilon or 0)
    return max(per_node.values(), default=0.0)


def _ask(client: AnalystClient, truth: Any, manifest: Any, question: Question) -> list[dict[str, Any]]:
    """Asks one question; rows with value, interval, ε spent per node and the truth beside it."""
    nodes = client.catalog()
    result = _count(client, question.dataset, question, question.where, nodes)
    recorded, reality = (_truth(truth, manifest, result, layer) for layer in ("recorded", "reality"))
    base = {"indicator": question.indicator, "nodes": [n.org for n in result.nodes if not n.error],
            "missing": [n.org for n in result.nodes if n.error]}
    if question.of is None:
        return [{**base, "group": dict(zip(result.query.by, c.group)), "value": clipped(c.value),
                 "ci95": [clipped(c.ci_low), clipped(c.ci_high)], "epsilon": _spent(result),
                 "true_value": recorded.get(c.group, 0), "reality": reality.get(c.group, 0)} for c in result.cells]
    denominator = _count(client, question.of, question, question.of_where, nodes)
    den_recorded, den_reality = (_truth(truth, manifest, denominator, layer) for layer in ("recorded", "reality"))
    per = question.per

    def ratio(num: int, den: int) -> float | None:
        return round(per * num / den, 2) if den else None

    return [{**base, "group": dict(zip(result.query.by, c.group)),
             "value": None if c.share is None else round(per * clipped(c.share), 2),
             "ci95": [round(per * c.ci_low, 2), round(per * c.ci_high, 2)],
             "epsilon": _spent(result, denominator),
             "true_value": ratio(recorded.get(c.group, 0), den_recorded.get(c.group, 0)),
             "reality": ratio(reality.get(c.group, 0), den_reality.get(c.group, 0)),
             "per": per} for c in share_cells(result, denominator)]


def _covers(row: dict[str, Any]) -> bool:
    return row["true_value"] is not None and row["ci95"][0] <= row["true_value"] <= row["ci95"][1]


def _show(question: Question, rows: list[dict[str, Any]], gemeenten: dict[str, str]) -> None:
    unit = {1: "", 100: " (%)", 1000: " (per 1,000)"}.get(question.per, f" (per {question.per})")
    title = (f"{question.indicator}{unit} — ε {rows[0]['epsilon']:g} per node, "
             f"{len(rows[0]['nodes'])} node(s)") if rows else question.indicator
    table = Table(title=title)
    for name in (*question.by, "value", "95% interval", "true (recorded)", "reality"):
        table.add_column(name, justify="left" if name in question.by else "right")
    for row in rows:
        low, high = row["ci95"]
        table.add_row(*shown_group(row["group"], gemeenten), str(row["value"]), f"{low:g} … {high:g}",
                      f"{row['true_value']}" + ("" if _covers(row) else " *"), str(row["reality"]))
    Console().print(table)
    for org in rows[0]["missing"] if rows else []:
        err.print(f"[yellow]missing:[/] {org} did not answer")


def main() -> int:
    args = _arguments()
    from synth.generate import generate
    from synth.truth import Truth

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="regiozicht-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    started = time.monotonic()
    err.print(f"[bold]Regiozicht demo[/] in {workdir} (scale {args.scale}, seed {args.seed})")
    err.print("generating the synthetic region…")
    manifest = generate(data, scale=args.scale, seed=args.seed, gemeenten=args.gemeenten, progress=True)
    err.print(f"synthetic region: {manifest.persons} persons, {len(manifest.partners)} partner databases")
    files_of = {} if args.school_files == "sqlite" else {FILE_PARTNER: args.school_files}
    for partner_id, fmt in files_of.items():
        with err.status(f"writing {partner_id}'s extracts as {fmt}…"):
            folder = write_partner_extracts(data, manifest, partner_id, fmt)
        err.print(f"{partner_id} serves its {fmt} extracts ({folder}) instead of its database")
    partners = synthregion.partners(data, manifest, files=files_of)
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
        gemeenten = {g.code: g.name for g in manifest.gemeenten}
        client = AnalystClient(Profile.load(files.profile))
        for question in QUESTIONS:
            with err.status(f"asking: {question.indicator}…"):
                rows = _ask(client, truth, manifest, question)
            results.extend(rows)
            if args.format == "table":
                _show(question, rows, gemeenten)
        linking = time.monotonic()
        for linked_question in LINKED:
            with err.status(f"linking: {linked_question.indicator}…"):
                shown = ask_linked(client, truth, manifest, linked_question)
            for indicator, rows in shown:
                results.extend(rows)
                if args.format == "table":
                    show_linked(indicator, rows, linked_question, gemeenten)
        err.print(f"{len(LINKED)} linked questions asked in {time.monotonic() - linking:.0f} s")
        if not args.no_monitor:
            site = build_monitor_site(client, manifest, args.site.resolve())
            err.print(f"the regional monitor over {MONITOR_YEARS} reference dates: open {site}")
        client.close()
        if args.format == "json":
            public = [{k: r[k] for k in ("indicator", "group", "value", "ci95", "epsilon", "true_value", "reality")}
                      for r in results]
            sys.stdout.write(json.dumps({"results": public}, indent=2, ensure_ascii=False) + "\n")
        judged = [r for r in results if r["true_value"] is not None]  # a share of an empty set has no truth
        covered = sum(_covers(r) for r in judged)
        err.print(f"{covered} of {len(judged)} intervals cover the recorded truth "
                  f"(95% intervals: expect at least {0.95 * len(judged):.0f}); * marks a miss. "
                  f"Done in {time.monotonic() - started:.0f} s.")
        if args.keep_running:
            err.print(f"The region keeps running. In another shell:\n"
                      f"  regiozicht catalog --profile {files.profile}\n"
                      f"  regiozicht query count vsv --by gemeente --epsilon 0.5 --purpose rmc-monitor "
                      f"--profile {files.profile}\n"
                      f"  regiozicht query linked-share vsv@rmc --with 'baan or bijstand@wi' --epsilon 1 "
                      f"--purpose rmc-monitor --dry-run --profile {files.profile}\nPress Ctrl-C to stop.")
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
