"""Running the monitor once: each release asked once as its joint cross-table, made consistent
(non-negative, integer, additive), every shown grouping derived from it; linked shares asked as
linked counts. Raw noisy values stay in the document beside the published ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from analyst import monitor as m
from analyst.client import AnalystClient, CountResult, NodeInfo
from analyst.linked import anchor_cells, resolve_linked, submit_linked
from regiozicht import consistent, dp
from regiozicht.cells import ONBEKEND
from regiozicht.errors import BadQuery, error_from_kind
from regiozicht.linkquery import LinkedQuery
from regiozicht.query import data_as_of_refusal

Cell = tuple[str, ...]


def due_peildatum(monitor: m.Monitor, every: str, at: dt.date) -> dt.date:
    """The reference date a release asked at `at` uses: the yearly one (1 October), or for quarterly
    releases the latest quarter start on or before `at`."""
    if every == "year":
        return m.peildatum(monitor, at)
    return dt.date(at.year, 3 * ((at.month - 1) // 3) + 1, 1)


def default_at(nodes: list[NodeInfo], today: dt.date | None = None) -> dt.date:
    """When a run is asked without a date: today, but no later than the data every node holds (a
    period past a node's data-as-of would be refused by it)."""
    today = today or dt.datetime.now(dt.UTC).date()
    return min([today, *(n.data_as_of.date() for n in nodes)])


def newest_peildatum(monitor: m.Monitor, at: dt.date) -> dt.date:
    """The period a run at `at` stands for: the newest reference date any of its parts asks."""
    frequencies = {r.every for r in monitor.releases} | {link.every for link in monitor.linked} or {"year"}
    return max(due_peildatum(monitor, every, at) for every in frequencies)


def run(client: AnalystClient, monitor: m.Monitor, nodes: list[NodeInfo], at: dt.date, *,
        linked: bool = True, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Asks every release and linked share due at `at` and returns the published document."""
    releases: dict[str, dict[str, Any]] = {}
    tables: dict[str, tuple[m.Release, dict[Cell, int], dict[Cell, int], dict[Cell, list[float]], set[Cell]]] = {}
    for release in monitor.releases:
        day = due_peildatum(monitor, release.every, at)
        found = m.publishers(nodes, release.at, release.dataset)
        for node in found:
            if day > node.data_as_of.date():
                raise data_as_of_refusal(day, node.org, node.data_as_of.date())
        progress(f"release {release.id} ({release.dataset} at {day})")
        result = client.count(m.release_query(monitor, release, day), publishers=found)
        if result.failures:  # a table missing a node's part is never published as if it were whole
            failed = result.failures[0]
            raise error_from_kind(failed.error_kind, f"Release {release.id}: node {failed.org} did not answer: "
                                                     f"{failed.error}")
        raw, scales, suppressed = _raw(result, found, release)
        published = consistent.consistent_table(raw, scales, release.by, _levels(release)) if raw else {}
        tables[release.id] = (release, raw, published, scales, suppressed)
        releases[release.id] = {
            "dataset": release.dataset, "peildatum": day.isoformat(), "by": list(release.by),
            "epsilon": release.epsilon, "nodes": [_outcome(n) for n in result.nodes],
            "raw": [{"cell": list(c), "value": raw.get(c), "suppressed": c in suppressed} for c in _all(raw, suppressed)],
        }
    linked_results: dict[str, Any] = {}
    if linked:
        counters = client.counters()
        for link in monitor.linked:
            progress(f"linked share {link.id} ({link.anchor} × {link.other})")
            linked_results[link.id] = _linked(client, monitor, nodes, link, at, counters)
    indicators = [_indicator(monitor, indicator, tables, linked_results) for indicator in monitor.indicators]
    return {"title": monitor.monitor.title, "purpose": monitor.monitor.purpose, "asked_at": at.isoformat(),
            "peildatum": newest_peildatum(monitor, at).isoformat(), "labels": monitor.labels,
            "indicators": indicators, "releases": releases, "linked": linked_results}


def _levels(release: m.Release) -> list[tuple[str, ...]]:
    chain = [name for name in release.hierarchy if name in release.by]
    return [tuple(chain[: i + 1]) for i in range(len(chain))]


def _all(raw: dict[Cell, int], suppressed: set[Cell]) -> list[Cell]:
    return sorted(set(raw) | suppressed)


def _outcome(node: Any) -> dict[str, Any]:
    return {"org": node.org, "epsilon": node.epsilon, "from_store": node.from_store, "error": node.error}


def _raw(result: CountResult, found: list[NodeInfo], release: m.Release
         ) -> tuple[dict[Cell, int], dict[Cell, list[float]], set[Cell]]:
    """The raw noisy cells, each cell's noise scales (one per answering node covering it), and the
    cells a node's covenant suppressed (their sums, and every margin holding them, stay unpublished)."""
    answered = {n.org for n in result.nodes if not n.error}
    scale = dp.count_scale(float(release.epsilon))
    covering: dict[Cell, list[float]] = {}
    for node in found:
        if node.org in answered:
            for cell in node.count_cells(release.dataset, release.by):
                covering.setdefault(cell, []).append(scale)
    raw = {c.group: c.value for c in result.cells if not c.suppressed}
    suppressed = {c.group for c in result.cells if c.suppressed}
    return raw, {c: covering[c] for c in raw}, suppressed


def _indicator(monitor: m.Monitor, indicator: m.Indicator, tables: dict[str, Any],
               linked: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": indicator.id, "title": indicator.title, "definition": indicator.definition,
                           "partners": list(indicator.partners), "legal_basis": indicator.legal_basis}
    if indicator.linked is not None:
        out.update(kind="linked_share", unit="%", tables=[linked.get(indicator.linked, {"by": [], "rows": []})])
        return out
    out["tables"] = []
    for grouping in indicator.show:
        if indicator.count is not None:
            rows = _count_rows(*_part(tables, indicator.count), grouping)
            out.update(kind="count", unit="persons")
        else:
            assert indicator.numerator is not None and indicator.denominator is not None
            rows = _share_rows(_part(tables, indicator.numerator), _part(tables, indicator.denominator), grouping,
                               indicator.per)
            out.update(kind="share", unit="%" if indicator.per == 100 else f"per {indicator.per}")
        out["tables"].append({"by": list(grouping), "rows": rows})
    return out


def _part(tables: dict[str, Any], part: m.Part) -> tuple[m.Release, dict[Cell, int], dict[Cell, int],
                                                          dict[Cell, list[float]], set[Cell]]:
    release, raw, published, scales, suppressed = tables[part.release]
    return (release, m.part_of(release, raw, part), m.part_of(release, published, part),
            m.part_of(release, scales, part), {c for c in m.part_of(release, dict.fromkeys(suppressed), part)})


def _grouped(release: m.Release, cells: set[Cell], grouping: tuple[str, ...]) -> dict[Cell, list[Cell]]:
    index = [release.by.index(name) for name in grouping]
    out: dict[Cell, list[Cell]] = {}
    for cell in sorted(cells):
        out.setdefault(tuple(cell[i] for i in index), []).append(cell)
    return out


def _figures(part: tuple[m.Release, dict[Cell, int], dict[Cell, int], dict[Cell, list[float]], set[Cell]],
             grouping: tuple[str, ...], level: float = dp.CI_LEVEL) -> dict[Cell, tuple[int, int, int] | None]:
    """Per shown cell: (published value, interval low, high) — None where a suppressed cell is part of it."""
    release, raw, published, scales, suppressed = part
    out: dict[Cell, tuple[int, int, int] | None] = {}
    for shown, members in _grouped(release, set(raw) | suppressed, grouping).items():
        if any(c in suppressed for c in members):
            out[shown] = None
            continue
        value = sum(published[c] for c in members)
        low, high = consistent.interval([raw[c] for c in members], [scales[c] for c in members], value, level)
        out[shown] = (value, low, high)
    return out


def _label(grouping: tuple[str, ...], cell: Cell) -> dict[str, str]:
    return dict(zip(grouping, cell))


def _count_rows(release: m.Release, raw: dict[Cell, int], published: dict[Cell, int],
                scales: dict[Cell, list[float]], suppressed: set[Cell], grouping: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for cell, figure in _figures((release, raw, published, scales, suppressed), grouping).items():
        row: dict[str, Any] = {"cell": _label(grouping, cell), "suppressed": figure is None}
        if figure is not None:
            row.update(value=figure[0], ci_low=figure[1], ci_high=figure[2])
        rows.append(row)
    return rows


def _share_rows(numerator: Any, denominator: Any, grouping: tuple[str, ...], per: int) -> list[dict[str, Any]]:
    level = consistent.share_level()
    nums, dens = _figures(numerator, grouping, level), _figures(denominator, grouping, level)
    rows = []
    for cell, den in dens.items():
        num = nums.get(cell, (0, 0, 0) if den is not None else None)
        row: dict[str, Any] = {"cell": _label(grouping, cell), "suppressed": num is None or den is None}
        if num is not None and den is not None:
            low, high = consistent.share_interval((num[1], num[2]), (den[1], den[2]))
            value = None if den[0] <= 0 else min(1.0, num[0] / den[0])
            row.update(numerator=num[0], denominator=den[0], value=None if value is None else round(value * per, 2),
                       ci_low=round(low * per, 2), ci_high=round(high * per, 2))
        rows.append(row)
    return rows


def linked_query(monitor: m.Monitor, nodes: list[NodeInfo], link: m.Linked, at: dt.date,
                 counters: list[str]) -> LinkedQuery:
    """The linked query a run at `at` asks for a linked share (its body, and so its hash, is fixed by
    the catalog: nodes, counter, cells and split)."""
    day = due_peildatum(monitor, link.every, at)
    anchor_day = dt.date(day.year - link.years_back, day.month, day.day)
    return resolve_linked(nodes, link.anchor, link.other, epsilon=link.epsilon, delta=monitor.monitor.delta,
                          purpose=monitor.monitor.purpose, by=list(link.by), where=link.where, at=anchor_day,
                          with_at=day, counters=counters, split=m.split_of(nodes, link) is not None)


def _linked(client: AnalystClient, monitor: m.Monitor, nodes: list[NodeInfo], link: m.Linked, at: dt.date,
            counters: list[str]) -> dict[str, Any]:
    query = linked_query(monitor, nodes, link, at, counters)
    day, anchor_day = query.others[0].peildatum, query.anchor.peildatum
    result = submit_linked(client, query, anchor_cells(nodes, query))
    if result.failures:
        raise BadQuery(f"Linked share {link.id}: {result.failures[0].error}")
    rows = []
    for cell in result.cells:
        if ONBEKEND in cell.group and link.by:
            continue  # the share of persons without a known value is no figure a reader can use
        rows.append({"cell": _label(link.by, cell.group), "suppressed": False,
                     "value": None if cell.share is None else round(cell.share * 100, 2),
                     "ci_low": round(cell.share_ci[0] * 100, 2), "ci_high": round(cell.share_ci[1] * 100, 2),
                     "anchor": max(0, cell.anchor), "found": max(0, cell.inter)})
    return {"by": list(link.by), "rows": rows, "anchor_peildatum": anchor_day.isoformat(),
            "peildatum": day.isoformat(), "runs": [{"peer": r.peer, "costs": r.costs} for r in result.runs],
            "raw": [{"cell": list(c.group), "inter": c.inter, "only": c.only} for c in result.cells]}
