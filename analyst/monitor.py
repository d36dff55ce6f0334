"""The regional monitor as a file (`monitor.toml`) and its plan: what it costs each node, how
precise each published cell will be — from the nodes' signed Describes, spending nothing.

A monitor holds *releases* (one joint cross-table per dataset per period: every grouping it
shows is derived from that one release, at no further cost), *linked* shares (an anchor set
against another partner's set) and *indicators* that say which release or linked share they
show, grouped how, with their definition in plain Dutch and the partners, purpose and legal
basis they rest on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError, model_validator

from analyst.client import NodeInfo
from regiozicht import dp, filters, linknoise
from regiozicht.cells import cell_list
from regiozicht.errors import BadQuery, ConfigError
from regiozicht.linkquery import Split
from regiozicht.query import CountQuery, build_count
from regiozicht.tomlconfig import Frozen as _Frozen
from regiozicht.tomlconfig import describe_validation_error, load_toml

T = TypeVar("T")
RUNS_A_YEAR = {"quarter": 4, "year": 1}
RUNS_A_PERIOD = {  # budget period of the node → runs of each frequency that fall in one period
    "calendar-year": {"quarter": 4, "year": 1},
    "calendar-quarter": {"quarter": 1, "year": 1},
    "calendar-month": {"quarter": 1, "year": 1},
}


class Settings(_Frozen):
    title: str = Field(description="The monitor's name, as readers see it.")
    purpose: str = Field(description="The covenant purpose every query is asked under.")
    reference_month_day: str = Field("10-01", description="Reference date (peildatum) of the yearly figures, MM-DD.")
    delta: str = Field("0.000000001", description="δ of each linked run.")
    max_half_width: int = Field(description="A count cell whose expected 95% half-width exceeds this is useless.")
    max_share_width_pp: float = Field(description="A share whose expected 95% interval (at `reference_size` persons, "
                                                  "half found) is wider than this many points is useless.")
    reference_size: int = Field(100, ge=10, description="Cell size at which share widths are judged.")


class Release(_Frozen):
    id: str = Field(description="Name indicators use.")
    dataset: str = Field(description="The dataset asked, as the catalog names it.")
    at: str = Field(description="Node kind or organisation asked (every node of that kind publishing the dataset).")
    by: tuple[str, ...] = Field(description="The joint cross-table's dimensions; groupings shown are sums of it.")
    where: str | None = Field(None, description="Filter, as on the CLI.")
    epsilon: str = Field(description="ε each node spends on this release, per run.")
    every: Literal["quarter", "year"] = Field(description="How often it is asked.")
    hierarchy: tuple[str, ...] = Field(("gemeente",), description="Dimensions whose totals are fixed first "
                                                                  "when making the table consistent.")


class Linked(_Frozen):
    id: str
    anchor: str = Field(description="SET@KIND or SET@ORG whose persons are looked up.")
    other: str = Field(description="SET@KIND or SET@ORG they are looked up in.")
    by: tuple[str, ...] = ()
    where: str | None = None
    years_back: int = Field(0, ge=0, le=5, description="Anchor's reference date moved back (last year's cohort).")
    epsilon: str
    every: Literal["quarter", "year"] = "year"
    split: bool = Field(True, description="Run each peer only over the anchor cells it covers, where the peers' "
                                          "coverage allows (the anchor then spends ε once, not once per peer).")


class Part(_Frozen):
    release: str
    where: str | None = Field(None, description="Which cells of the release count, as a filter on its dimensions.")


class Indicator(_Frozen):
    id: str
    title: str
    definition: str = Field(description="What the figure means, in plain Dutch.")
    partners: tuple[str, ...] = Field(description="Partner kinds whose records it uses.")
    legal_basis: str = Field(description="Legal basis (grondslag) and law, as the covenants state them.")
    count: Part | None = None
    numerator: Part | None = None
    denominator: Part | None = None
    per: int = Field(100, description="Shares are shown per 100 (%) or per 1,000.")
    linked: str | None = Field(None, description="Id of a linked share.")
    show: tuple[tuple[str, ...], ...] = Field(((),), description="Groupings shown (sums of the release's cells).")

    @model_validator(mode="after")
    def _one_kind(self) -> Indicator:
        kinds = [self.count is not None, self.numerator is not None, self.linked is not None]
        if sum(kinds) != 1 or (self.numerator is None) != (self.denominator is None):
            raise ValueError(f"indicator {self.id!r} needs exactly one of `count`, `numerator`+`denominator` or "
                             "`linked`")
        return self

    @property
    def parts(self) -> list[Part]:
        return [p for p in (self.count, self.numerator, self.denominator) if p is not None]


class Monitor(_Frozen):
    monitor: Settings
    labels: dict[str, dict[str, str]] = Field(
        {}, description="Display names per dimension and value, e.g. [labels.gemeente] GM0363 = \"Amsterdam\".")
    releases: tuple[Release, ...] = ()
    linked: tuple[Linked, ...] = ()
    indicators: tuple[Indicator, ...]

    @model_validator(mode="after")
    def _references(self) -> Monitor:
        releases = {r.id: r for r in self.releases}
        linked = {link.id for link in self.linked}
        for indicator in self.indicators:
            for part in indicator.parts:
                if part.release not in releases:
                    raise ValueError(f"indicator {indicator.id!r} names release {part.release!r}, which is not "
                                     "in [[releases]]")
                for grouping in indicator.show:
                    missing = set(grouping) - set(releases[part.release].by)
                    if missing:
                        raise ValueError(f"indicator {indicator.id!r} shows {sorted(missing)}, which release "
                                         f"{part.release!r} is not grouped by")
            if indicator.linked is not None:
                if indicator.linked not in linked:
                    raise ValueError(f"indicator {indicator.id!r} names linked share {indicator.linked!r}, which is "
                                     "not in [[linked]]")
                if indicator.show != (self.link(indicator.linked).by,):
                    raise ValueError(f"indicator {indicator.id!r} shows a linked share as it is grouped: set show to "
                                     "[by of the linked share]")
        return self

    def release(self, name: str) -> Release:
        return next(r for r in self.releases if r.id == name)

    def link(self, name: str) -> Linked:
        return next(link for link in self.linked if link.id == name)

    def users_of(self, name: str) -> list[str]:
        """Indicators resting on a release or linked share."""
        return [i.id for i in self.indicators if i.linked == name or any(p.release == name for p in i.parts)]


def load(path: Path) -> Monitor:
    raw = load_toml(path, "monitor file")
    try:
        return Monitor.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc, "regiozicht monitor plan")) from None


def peildatum(monitor: Monitor, at: dt.date) -> dt.date:
    """The latest reference date (`reference_month_day`) on or before `at`."""
    month, day = (int(x) for x in monitor.monitor.reference_month_day.split("-"))
    candidate = dt.date(at.year, month, day)
    return candidate if candidate <= at else dt.date(at.year - 1, month, day)


def release_query(monitor: Monitor, release: Release, day: dt.date) -> CountQuery:
    return build_count(release.dataset, epsilon=release.epsilon, purpose=monitor.monitor.purpose, peildatum=day,
                       by=list(release.by), where=release.where)


def publishers(nodes: list[NodeInfo], who: str, dataset: str) -> list[NodeInfo]:
    found = [n for n in nodes if (n.org == who or n.kind == who) and n.dataset(dataset) is not None]
    if not found:
        raise BadQuery(f"No node of kind or organisation {who!r} publishes dataset {dataset!r}; check the monitor "
                       "file against `regiozicht catalog`.")
    return found


# -- the plan -------------------------------------------------------------------------------------


@dataclass
class NodeSpend:
    org: str
    period: str
    epsilon: Decimal = Decimal(0)
    delta: Decimal = Decimal(0)
    epsilon_total: Decimal = Decimal(0)
    delta_total: Decimal = Decimal(0)
    purpose_cap: Decimal | None = None
    by_source: dict[str, Decimal] = field(default_factory=dict)  # release or linked id → ε a period

    def add(self, source: str, epsilon: Decimal, delta: Decimal) -> None:
        self.epsilon += epsilon
        self.delta += delta
        self.by_source[source] = self.by_source.get(source, Decimal(0)) + epsilon


@dataclass(frozen=True)
class CellPrecision:
    indicator: str
    grouping: tuple[str, ...]
    cell: tuple[str, ...]
    half_width: float  # persons for counts; percentage points for shares
    unit: str


@dataclass
class Plan:
    spend: dict[str, NodeSpend]
    cells: list[CellPrecision]
    problems: list[str]
    over_budget: bool = False   # a node would run out of its period's budget or purpose cap
    over_limits: bool = False   # a query would be above a node's per-query limit


def plan(monitor: Monitor, nodes: list[NodeInfo]) -> Plan:
    """Per node, the ε and δ the monitor spends in one budget period against its covenant, and the
    expected 95% half-width of every cell shown; `problems` names what to coarsen or drop."""
    spend: dict[str, NodeSpend] = {}

    def charge(node: NodeInfo, source: str, every: str, epsilon: Decimal, delta: Decimal) -> None:
        budget = node.describe.budget
        entry = spend.get(node.org)
        if entry is None:
            purpose = next((p for p in node.describe.purposes if p.id == monitor.monitor.purpose), None)
            cap = Decimal(purpose.epsilon_cap) if purpose is not None and purpose.epsilon_cap else None
            entry = spend[node.org] = NodeSpend(node.org, budget.period, epsilon_total=Decimal(budget.epsilon_total),
                                                delta_total=Decimal(budget.delta_total), purpose_cap=cap)
        runs = RUNS_A_PERIOD.get(budget.period, RUNS_A_YEAR)[every]
        entry.add(source, epsilon * runs, delta * runs)

    problems: list[str] = []
    for release in monitor.releases:
        for node in publishers(nodes, release.at, release.dataset):
            charge(node, release.id, release.every, Decimal(release.epsilon), Decimal(0))
            problems += _per_query_limits(node, release.id, Decimal(release.epsilon), Decimal(0))
    delta = Decimal(monitor.monitor.delta)
    for link in monitor.linked:
        anchor, peers = linked_parties(nodes, link)
        # the anchor spends ε and δ in each peer's run, or once for all of them when the runs are split
        anchor_runs = 1 if split_of(nodes, link) is not None else len(peers)
        charge(anchor, link.id, link.every, Decimal(link.epsilon) * anchor_runs, delta * anchor_runs)
        for peer in peers:
            charge(peer, link.id, link.every, Decimal(link.epsilon), delta)
            problems += _per_query_limits(peer, link.id, Decimal(link.epsilon), delta)
        problems += _per_query_limits(anchor, link.id, Decimal(link.epsilon) * anchor_runs, delta * anchor_runs)
    over_limits = bool(problems)
    budget = [text for entry in spend.values() for text in _over_budget(monitor, entry)]
    cells = precision(monitor, nodes)
    return Plan(spend, cells, budget + problems + _useless(monitor, cells), bool(budget), over_limits)


def linked_parties(nodes: list[NodeInfo], link: Linked) -> tuple[NodeInfo, list[NodeInfo]]:
    from analyst.linked import split_target
    from regiozicht import linksets

    def side(text: str) -> list[NodeInfo]:
        expression, who = split_target(text)
        names = linksets.datasets(linksets.parse(expression))
        found = [n for n in nodes if (n.org == who or n.kind == who) and all(n.dataset(d) for d in names)]
        if not found:
            raise BadQuery(f"No node of kind or organisation {who!r} publishes {expression!r}; check linked share "
                           f"{link.id!r} against `regiozicht catalog`.")
        return found

    anchors = side(link.anchor)
    if len(anchors) != 1:
        raise BadQuery(f"Linked share {link.id!r}: {len(anchors)} nodes match {link.anchor!r}; name one as SET@ORG.")
    return anchors[0], [p for p in side(link.other) if p.org != anchors[0].org]


def split_of(nodes: list[NodeInfo], link: Linked) -> Split | None:
    """The coverage-aware split a run of this linked share gets (None: one full run per peer)."""
    from analyst.linked import coverage_split, split_target
    from regiozicht import linksets

    if not link.split:
        return None
    anchor, peers = linked_parties(nodes, link)
    return coverage_split(anchor, linksets.primary(linksets.parse(split_target(link.anchor)[0])), peers, link.by)


def _per_query_limits(node: NodeInfo, source: str, epsilon: Decimal, delta: Decimal) -> list[str]:
    budget = node.describe.budget
    out = []
    if budget.min_epsilon_per_query and epsilon < Decimal(budget.min_epsilon_per_query):
        out.append(f"{source}: ε {epsilon} is below node {node.org}'s per-query minimum of "
                   f"{budget.min_epsilon_per_query}; raise its epsilon.")
    if budget.max_epsilon_per_query and epsilon > Decimal(budget.max_epsilon_per_query):
        out.append(f"{source}: ε {epsilon} is above node {node.org}'s per-query limit of "
                   f"{budget.max_epsilon_per_query}; lower its epsilon.")
    if delta and budget.max_delta_per_query and delta > Decimal(budget.max_delta_per_query):
        out.append(f"{source}: δ {delta} is above node {node.org}'s per-query limit of {budget.max_delta_per_query}; "
                   "lower the monitor's delta.")
    return out


def _over_budget(monitor: Monitor, entry: NodeSpend) -> list[str]:
    out = []
    limits = [("budget", entry.epsilon_total)]
    if entry.purpose_cap is not None:
        limits.append((f"purpose {monitor.monitor.purpose!r} cap", entry.purpose_cap))
    for what, limit in limits:
        if entry.epsilon > limit:
            biggest = max(entry.by_source, key=entry.by_source.__getitem__)
            users = ", ".join(monitor.users_of(biggest)) or biggest
            out.append(f"Node {entry.org} would spend ε {entry.epsilon.normalize():f} a period ({entry.period}) of its {what} of "
                       f"{limit}: coarsen or drop {users} (release {biggest}: ε {entry.by_source[biggest]}), or lower "
                       "the ε of its releases.")
    if entry.delta > entry.delta_total:
        out.append(f"Node {entry.org} would spend δ {entry.delta} a period of its {entry.delta_total}: run fewer "
                   "linked shares or lower the monitor's delta.")
    return out


def precision(monitor: Monitor, nodes: list[NodeInfo]) -> list[CellPrecision]:
    """The expected 95% half-width of every cell each indicator shows, from the ε, the nodes covering
    each cell (their Describes) and how many release cells each shown cell sums."""
    out = []
    for indicator in monitor.indicators:
        if indicator.linked is not None:
            out += _linked_precision(monitor, nodes, indicator)
            continue
        scale_maps = [part_of(monitor.release(p.release), release_scales(monitor, nodes, monitor.release(p.release)), p)
                      for p in indicator.parts]
        for grouping in indicator.show:
            for cell, scales in _grouped(monitor.release(indicator.parts[0].release), scale_maps[0], grouping).items():
                if indicator.count is not None:
                    out.append(CellPrecision(indicator.id, grouping, cell, dp.sum_half_width(scales), "persons"))
                    continue
                den = _grouped(monitor.release(indicator.parts[1].release), scale_maps[1], grouping).get(cell)
                if den is None:
                    continue
                width = share_width(scales, den, monitor.monitor.reference_size) * indicator.per
                out.append(CellPrecision(indicator.id, grouping, cell, width / 2, f"per {indicator.per}"))
    return out


def release_scales(monitor: Monitor, nodes: list[NodeInfo], release: Release) -> dict[tuple[str, ...], list[float]]:
    """Per cell of the release's cross-table, the noise scale of each node answering it."""
    scale = dp.count_scale(float(release.epsilon))
    found = publishers(nodes, release.at, release.dataset)
    dataset = found[0].dataset(release.dataset)
    assert dataset is not None
    cells: dict[tuple[str, ...], list[float]] = {}
    for cell in cell_list({d.name: list(d.domain) for d in dataset.dimensions}, release.by):
        cells[cell] = [scale for node in found if cell in set(node.count_cells(release.dataset, release.by))]
    return {c: s for c, s in cells.items() if s}


def part_of(release: Release, table: dict[tuple[str, ...], T], part: Part) -> dict[tuple[str, ...], T]:
    """The cells of a release's table that a part of an indicator counts (its `where`)."""
    if part.where is None:
        return table
    tree = filters.parse(part.where)
    return {cell: v for cell, v in table.items() if filters.evaluate(tree, dict(zip(release.by, cell)))}


def _grouped(release: Release, scales: dict[tuple[str, ...], list[float]],
             grouping: tuple[str, ...]) -> dict[tuple[str, ...], list[float]]:
    index = [release.by.index(name) for name in grouping]
    out: dict[tuple[str, ...], list[float]] = {}
    for cell, cell_scales in scales.items():
        out.setdefault(tuple(cell[i] for i in index), []).extend(cell_scales)
    return out


def share_width(numerator: list[float], denominator: list[float], size: int) -> float:
    """Width (as a fraction) of the Bonferroni share interval at `size` persons, half found."""
    level = 1 - (1 - dp.CI_LEVEL) / 2
    h_num, h_den = dp.sum_half_width(numerator, level), dp.sum_half_width(denominator, level)
    low = max(0.0, size / 2 - h_num) / (size + h_den)
    high = min(1.0, (size / 2 + h_num) / max(1, size - h_den))
    return high - low


def _linked_precision(monitor: Monitor, nodes: list[NodeInfo], indicator: Indicator) -> list[CellPrecision]:
    assert indicator.linked is not None
    link = monitor.link(indicator.linked)
    _, peers = linked_parties(nodes, link)
    epsilon = float(link.epsilon)
    shift = linknoise.shift_for(epsilon, float(monitor.monitor.delta))
    size = monitor.monitor.reference_size
    runs = 1 if split_of(nodes, link) is not None else len(peers)  # a split cell comes from one run
    low, high = linknoise.share_interval(size // 2, size, epsilon, shift, runs)
    width = (high - low) * 100
    return [CellPrecision(indicator.id, grouping, ("*",), width / 2, "points") for grouping in indicator.show]


def _useless(monitor: Monitor, cells: list[CellPrecision]) -> list[str]:
    worst: dict[str, CellPrecision] = {}
    for cell in cells:
        limit = monitor.monitor.max_half_width if cell.unit == "persons" else monitor.monitor.max_share_width_pp / 2
        if cell.half_width > limit and (cell.indicator not in worst or cell.half_width > worst[cell.indicator].half_width):
            worst[cell.indicator] = cell
    out = []
    for name, cell in worst.items():
        shown = " × ".join(cell.grouping) or "total"
        limit_text = (f"±{monitor.monitor.max_half_width} persons" if cell.unit == "persons"
                      else f"{monitor.monitor.max_share_width_pp} points wide at {monitor.monitor.reference_size} persons")
        out.append(f"Indicator {name}: cells by {shown} would be ±{cell.half_width:.1f} ({cell.unit}), beyond "
                   f"{limit_text}; coarsen its grouping, raise its release's ε, or drop it.")
    return out


def query_hash(query: CountQuery) -> str:
    """The sha256 of the canonical body: what a covenant lists under the monitor's service party."""
    return hashlib.sha256(query.canonical()).hexdigest()
