"""The shipped monitor (deploy/monitor.toml) for one year on the synthetic region: how useful its
figures are under the budget, before and after the accuracy levers.

Exact counts come from the nodes' own statements on the generated partner databases; noise is
then drawn many times over those stored counts (discrete Laplace for counts, the linked-count
protocol's truncated noise for linked shares) — the same figures the nodes and the CLI compute,
without running the processes for every draw.

- after:  the monitor as shipped — one joint release per dataset per period, nodes answering only
          the cells they cover, consistent (non-negative, integer, additive) tables.
- before: the same indicators asked the old way under the same ε per node — each shown grouping
          its own query (the release's ε split over them), every publisher answering every cell
          (population by gemeente sums the noise of all registers), raw noisy values.
Linked shares: before, every node publishing the other set runs over the whole anchor set (the
anchor spends ε once per peer); after, coverage-aware runs (each peer only over the gemeenten it
covers; the anchor spends ε once).

Usage: .venv/bin/python bench/utility.py [--scale 1] [--draws 200]
Last line: median_rel_err=… linked_share_width_pp=… coverage=…
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analyst import monitor as m
from demo import synthregion
from node.compile import compile_count, count_cells
from node.config import Dataset
from regiozicht import consistent, dp, filters, linknoise
from regiozicht.query import CountQuery

Cell = tuple[str, ...]


def laplace(rng: np.random.Generator, scale: float, size: int) -> np.ndarray:
    """Discrete Laplace(scale) as the difference of two geometric variables."""
    p = 1.0 - np.exp(-1.0 / scale)
    return rng.geometric(p, size) - rng.geometric(p, size)


class Exact:
    """Exact counts per node and cell of every release, with and without coverage."""

    def __init__(self, data: Path, manifest: Any, monitor: m.Monitor, peildatum: dt.date) -> None:
        self.partners = synthregion.partners(data, manifest)
        self.manifest = manifest
        self.peildatum = peildatum
        self.covered: dict[str, list[dict[Cell, int]]] = {}
        self.everything: dict[str, list[dict[Cell, int]]] = {}
        self.publishers: dict[str, list[Any]] = {}
        for release in monitor.releases:
            found = [p for p in self.partners if release.at in (p.kind, p.org)
                     and any(d["name"] == release.dataset for d in p.datasets)]
            self.publishers[release.id] = found
            self.covered[release.id] = [self._counts(p, release, covered=True) for p in found]
            self.everything[release.id] = [self._counts(p, release, covered=False) for p in found]

    def _counts(self, partner: Any, release: m.Release, *, covered: bool) -> dict[Cell, int]:
        raw = next(d for d in partner.datasets if d["name"] == release.dataset)
        coverage = {k: v for k, v in partner.coverage.items() if k in raw["dimensions"]} if covered else {}
        dataset = Dataset.model_validate({**raw, "coverage": coverage})
        query = CountQuery(release.dataset, "1", "bench", self.peildatum, release.by,
                           filters.parse(release.where) if release.where else None)
        engine = create_engine(partner.database_url)
        with engine.connect() as connection:
            rows = connection.execute(compile_count(dataset, query), {"peildatum": self.peildatum}).all()
        engine.dispose()
        got = {tuple(r[:-1]): int(r[-1]) for r in rows}
        return {cell: got.get(cell, 0) for cell in count_cells(dataset, release.by)}


def grouped(by: tuple[str, ...], cells: dict[Cell, Any], grouping: tuple[str, ...]) -> dict[Cell, list[Cell]]:
    index = [by.index(name) for name in grouping]
    out: dict[Cell, list[Cell]] = defaultdict(list)
    for cell in cells:
        out[tuple(cell[i] for i in index)].append(cell)
    return dict(out)


def part_cells(release: m.Release, cells: dict[Cell, Any], part: m.Part) -> dict[Cell, Any]:
    return m.part_of(release, cells, part)


class Draws:
    """Collects errors and interval coverage over the draws."""

    def __init__(self) -> None:
        self.rel: dict[str, list[float]] = {"after": [], "before": []}
        self.covered = 0
        self.intervals = 0

    def count(self, scenario: str, estimate: float, truth: float, interval: tuple[float, float] | None = None) -> None:
        if truth > 0:
            self.rel[scenario].append(abs(estimate - truth) / truth)
        if interval is not None:
            self.intervals += 1
            self.covered += interval[0] <= truth <= interval[1]


def plain_shown(monitor: m.Monitor) -> list[tuple[m.Indicator, tuple[str, ...]]]:
    """Every (indicator, grouping) a reader sees of the counts and shares (linked shares apart)."""
    return [(i, grouping) for i in monitor.indicators if i.linked is None for grouping in i.show]


def after_draw(rng: np.random.Generator, monitor: m.Monitor, exact: Exact, draws: Draws) -> None:
    published: dict[str, tuple[dict[Cell, int], dict[Cell, int], dict[Cell, list[float]], dict[Cell, int]]] = {}
    for release in monitor.releases:
        scale = dp.count_scale(float(release.epsilon))
        raw: dict[Cell, int] = defaultdict(int)
        truth: dict[Cell, int] = defaultdict(int)
        scales: dict[Cell, list[float]] = defaultdict(list)
        for counts in exact.covered[release.id]:
            noise = laplace(rng, scale, len(counts))
            for (cell, n), z in zip(counts.items(), noise):
                raw[cell] += n + int(z)
                truth[cell] += n
                scales[cell].append(scale)
        levels = [tuple(release.hierarchy[: i + 1]) for i in range(len(release.hierarchy))
                  if all(h in release.by for h in release.hierarchy[: i + 1])]
        table = consistent.consistent_table(dict(raw), dict(scales), release.by, levels)
        published[release.id] = (dict(raw), table, dict(scales), dict(truth))
    for indicator, grouping in plain_shown(monitor):
        figures = []
        for part in indicator.parts:
            release = monitor.release(part.release)
            raw, table, scales, truth = (part_cells(release, x, part) for x in published[part.release])
            level = dp.CI_LEVEL if indicator.count is not None else consistent.share_level()
            shown = {}
            for cell, members in grouped(release.by, table, grouping).items():
                value = sum(table[c] for c in members)
                interval = consistent.interval([raw[c] for c in members], [scales[c] for c in members], value,
                                               level)
                shown[cell] = (value, interval, sum(truth[c] for c in members))
            figures.append(shown)
        _score(indicator, grouping, figures, draws, "after")


def before_draw(rng: np.random.Generator, monitor: m.Monitor, exact: Exact, draws: Draws) -> None:
    asked: defaultdict[str, int] = defaultdict(int)  # queries the old way asks of each release: one per grouping and part
    for indicator in monitor.indicators:
        for part in indicator.parts:
            asked[part.release] += len(indicator.show)
    for indicator, grouping in plain_shown(monitor):
        figures = []
        for part in indicator.parts:
            release = monitor.release(part.release)
            scale = dp.count_scale(float(release.epsilon) / asked[release.id])
            nodes = exact.everything[release.id]
            width = dp.sum_half_width([scale] * len(nodes))
            shown = {}
            for cell, members in grouped(release.by, part_cells(release, nodes[0], part), grouping).items():
                truth = sum(counts[c] for counts in nodes for c in members)
                value = truth + int(laplace(rng, scale, len(nodes)).sum())
                shown[cell] = (value, (value - width, value + width), truth)
            figures.append(shown)
        _score(indicator, grouping, figures, draws, "before")


def _score(indicator: m.Indicator, grouping: tuple[str, ...], figures: list[dict[Cell, Any]], draws: Draws,
           scenario: str) -> None:
    judged = "gemeente" in grouping
    with_interval = scenario == "after"
    if indicator.count is not None:
        for cell, (value, interval, truth) in figures[0].items():
            if judged:
                draws.rel[scenario].append(abs(value - truth) / truth) if truth > 0 else None
            if with_interval:
                draws.intervals += 1
                draws.covered += interval[0] <= truth <= interval[1]
        return
    numerators, denominators = figures
    for cell, (den, den_interval, den_truth) in denominators.items():
        num, num_interval, num_truth = numerators.get(cell, (0, (0, 0), 0))
        if den_truth <= 0:
            continue
        share, true_share = (num / den if den > 0 else 0.0), num_truth / den_truth
        if judged and true_share > 0:
            draws.rel[scenario].append(abs(share - true_share) / true_share)
        if with_interval:
            low, high = consistent.share_interval(num_interval, den_interval)
            draws.intervals += 1
            draws.covered += low <= true_share <= high


def split_peers(exact: Exact, link: m.Linked) -> dict[str, list[str]] | None:
    """Each peer's covered values of a dimension of the linked share's grouping, if disjoint (the
    coverage-aware split `regiozicht/linkquery.py` signs); None where no split applies."""
    peers = [p for p in exact.partners if p.node_id in {node for node, _ in _sources(exact, link.other)}]
    for name in link.by:
        covered = {p.node_id: list(p.coverage.get(name, [])) for p in peers}
        values = [v for found in covered.values() for v in found]
        if link.split and len(peers) > 1 and all(covered.values()) and len(values) == len(set(values)):
            return covered
    return None


def linked_widths(rng: np.random.Generator, monitor: m.Monitor, exact: Exact, truth: Any, n: int,
                  draws: Draws | None, *, split: bool) -> list[float]:
    """95% interval widths (points) of the linked shares per gemeente, over `n` noise draws: with the
    coverage-aware split (each cell from its one run) or with every peer's full run (K runs)."""
    widths = []
    peildatum = exact.peildatum
    for link in monitor.linked:
        anchor_id, anchor_set = _source(exact, link.anchor)
        peers = _sources(exact, link.other)
        anchor_day = dt.date(peildatum.year - link.years_back, peildatum.month, peildatum.day)
        anchor = (anchor_id, anchor_set, anchor_day)
        covering = split_peers(exact, link) if split else None
        if covering is None:
            cells = truth.linked(anchor, [(p, s, peildatum) for p, s in peers], peildatum, by=link.by)
            runs_of = {cell: len(peers) for cell in cells}
        else:
            index = link.by.index(next(name for name in link.by if all(
                name in p.coverage for p in exact.partners if p.node_id in covering)))
            cells, runs_of = {}, {}
            for peer, expression in peers:
                for cell, value in truth.linked(anchor, [(peer, expression, peildatum)], peildatum,
                                                by=link.by).items():
                    if cell[index] in covering[peer]:
                        cells[cell], runs_of[cell] = value, 1
        epsilon = float(link.epsilon)
        shift = linknoise.shift_for(epsilon, float(monitor.monitor.delta))
        pmf = linknoise.truncated_pmf(epsilon, shift)
        support = np.arange(-shift, shift + 1)
        for cell, (found, missed) in cells.items():
            if "onbekend" in cell or found + missed == 0:
                continue
            runs = runs_of[cell]
            for _ in range(n):
                z = rng.choice(support, size=2 * runs + 1, p=pmf)
                inter, total = found + int(z[: 2 * runs].sum()), found + missed + int(z[0] + z[-1])
                low, high = linknoise.share_interval(inter, total, epsilon, shift, runs)
                widths.append(100 * (high - low))
                if draws is not None:
                    draws.intervals += 1
                    draws.covered += low <= found / (found + missed) <= high
    return widths


def _source(exact: Exact, text: str) -> tuple[str, str]:
    (found,) = _sources(exact, text)
    return found


def _sources(exact: Exact, text: str) -> list[tuple[str, str]]:
    expression, _, who = text.rpartition("@")
    return [(p.node_id, expression) for p in exact.partners if who in (p.kind, p.org)
            and any(d["name"] == expression for d in p.datasets)]


def spend(monitor: m.Monitor, exact: Exact, *, split: bool = True) -> dict[str, Decimal]:
    """ε each node spends in one calendar year (`split`: linked runs split by coverage where they can be)."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for release in monitor.releases:
        for partner in exact.publishers[release.id]:
            out[partner.org] += Decimal(release.epsilon) * m.RUNS_A_YEAR[release.every]
    orgs = {p.node_id: p.org for p in exact.partners}
    for link in monitor.linked:
        anchor, _ = _source(exact, link.anchor)
        peers = _sources(exact, link.other)
        yearly = Decimal(link.epsilon) * m.RUNS_A_YEAR[link.every]
        out[orgs[anchor]] += yearly * (1 if split and split_peers(exact, link) else len(peers))
        for peer, _ in peers:
            out[orgs[peer]] += yearly
    return dict(out)


def end_to_end(data: Path, manifest: Any, monitor: m.Monitor, exact: Exact, root: Path) -> str:
    """One draw over real processes: the region's nodes, coordinator and counter, `monitor run` as the
    analyst; each published gemeente count and its interval against the nodes' exact counts."""
    from analyst.client import AnalystClient, Profile
    from analyst.monitor_run import run
    from demo.region import RunningRegion, build

    files = build(root / "region", exact.partners)
    region = RunningRegion(files)
    try:
        region.start()
        region.wait_until_online({p.org for p in exact.partners}, timeout=180)
        client = AnalystClient(Profile.load(files.profile))
        try:
            document = run(client, monitor, client.catalog(), manifest.extract_datetime.date())
        finally:
            client.close()
    finally:
        region.stop()
    errors, covered, judged = [], 0, 0
    shown = {i["id"]: i for i in document["indicators"]}
    for indicator in monitor.indicators:
        if indicator.count is None or indicator.count.where is not None:
            continue
        release = monitor.release(indicator.count.release)
        truth: dict[str, int] = defaultdict(int)
        for counts in exact.covered[release.id]:
            for cell, n in counts.items():
                truth[cell[release.by.index("gemeente")]] += n
        table = next(t for t in shown[indicator.id]["tables"] if t["by"] == ["gemeente"])
        for row in table["rows"]:
            true = truth[row["cell"]["gemeente"]]
            judged += 1
            covered += row["ci_low"] <= true <= row["ci_high"]
            errors.append(abs(row["value"] - true) / true if true else 0.0)
    linked = sum(len(t["rows"]) for i in document["indicators"] if i["kind"] == "linked_share" for t in i["tables"])
    return (f"end to end (one draw over processes): {judged} gemeente counts, median relative error "
            f"{statistics.median(errors):.3f}, {covered} of {judged} intervals cover; {linked} linked share cells")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget", type=Decimal, default=Decimal(10), help="ε per node per year (shipped: 10)")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the one draw over real processes")
    args = parser.parse_args()
    from synth.generate import generate
    from synth.truth import Truth

    monitor = m.load(ROOT / "deploy" / "monitor.toml")
    with tempfile.TemporaryDirectory(prefix="utility-") as tmp:
        data = Path(tmp)
        print(f"generating the synthetic region (scale {args.scale}, seed {args.seed})…", file=sys.stderr)
        manifest = generate(data, scale=args.scale, seed=args.seed, gemeenten=5)
        extract = manifest.extract_datetime.date()
        peildatum = m.peildatum(monitor, extract)
        exact = Exact(data, manifest, monitor, peildatum)
        rng = np.random.default_rng(args.seed)
        draws = Draws()
        for index in range(args.draws):
            after_draw(rng, monitor, exact, draws)
            before_draw(rng, monitor, exact, draws)
        truth = Truth.load(data)
        rounds = max(20, args.draws // 4)
        widths = linked_widths(rng, monitor, exact, truth, rounds, draws, split=True)
        widths_before = linked_widths(rng, monitor, exact, truth, rounds, None, split=False)
        if not args.no_end_to_end:
            print("one draw end to end over processes…", file=sys.stderr)
            e2e = end_to_end(data, manifest, monitor, exact, data / "e2e")
    spent, spent_before = spend(monitor, exact), spend(monitor, exact, split=False)
    print(f"{manifest.persons} persons, peildatum {peildatum}, {args.draws} noise draws")
    for org, epsilon in sorted(spent.items()):
        flag = "  OVER BUDGET" if epsilon > args.budget else ""
        was = spent_before[org]
        before = f"  (without the split: {was.normalize():f})" if was != epsilon else ""
        print(f"  {org:28s} ε {epsilon.normalize():f} a year of {args.budget}{flag}{before}")
    median_before, median_after = (statistics.median(draws.rel[s]) for s in ("before", "after"))
    print(f"gemeente cells of plain indicators: median relative error before {median_before:.3f}, "
          f"after {median_after:.3f}")
    print(f"linked shares per gemeente: median 95% interval width before {statistics.median(widths_before):.1f} "
          f"points (every peer's full run; the anchor spends ε once per peer), after {statistics.median(widths):.1f} "
          "(coverage-aware runs; ε once)")
    if not args.no_end_to_end:
        print(e2e)
    coverage = draws.covered / draws.intervals
    print(f"interval coverage: {draws.covered} of {draws.intervals} = {coverage:.4f}")
    over = [org for org, eps in spent.items() if eps > args.budget]
    print(f"median_rel_err={median_after:.3f} linked_share_width_pp={statistics.median(widths):.1f} "
          f"coverage={coverage:.3f} nodes_over_budget={len(over)}")


if __name__ == "__main__":
    main()
