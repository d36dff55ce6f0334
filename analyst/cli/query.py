"""`regiozicht query`: ask the region a question, get verified DP answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console

from analyst import suppression
from analyst.cli import output
from analyst.cli.common import ProfileOption, analyst
from analyst.client import CountResult, NodeInfo, expected_half_width, share_cells
from analyst.linked import (
    LinkedResult,
    anchor_cells,
    expected_linked_half_width,
    resolve_linked,
    submit_linked,
)
from regiozicht import filters, preflight
from regiozicht.cli_support import OutputFormat, emit, err_console, exit_on_error
from regiozicht.errors import PartialResult, RegiozichtError
from regiozicht.linkquery import LinkedQuery
from regiozicht.query import CountQuery, build_count

app = typer.Typer(help="Ask aggregate questions; answers are differentially private and signed by each node.\n\n"
                       + output.OUTPUT_HELP, no_args_is_help=True)

FILTER_HELP = (
    "Filter on the dataset's dimensions, e.g. \"gemeente in (GM0001, GM0002) and not sex = M\". "
    "Grammar: and / or / not, = != < <= > >=, NAME in (v1, v2), brackets, quoted values."
)


@app.command()
def count(
    dataset: Annotated[str, typer.Argument(help="Dataset name, see `regiozicht catalog`.")],
    epsilon: Annotated[str, typer.Option("--epsilon", "-e", help="Privacy cost ε each node spends, e.g. 0.5.")],
    purpose: Annotated[str, typer.Option(help="Purpose (doelbinding) this question serves.")],
    where: Annotated[str | None, typer.Option(help=FILTER_HELP)] = None,
    by: Annotated[list[str] | None, typer.Option("--by", help="Dimension to group by (repeatable).")] = None,
    at: Annotated[dt.datetime | None, typer.Option("--at", formats=["%Y-%m-%d"],
                                                       help="Reference date (peildatum); default 1 October.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show expected accuracy and cost; spend nothing.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Recompute a stored release on changed data (charged).")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
    profile: ProfileOption = None,
    hash_only: Annotated[bool, typer.Option("--hash", help="Print the query's canonical hash (for a covenant's "
                                                          "service party) and send nothing.")] = False,
) -> None:
    """Count persons in a dataset, optionally grouped, summed over every node publishing it.

    A cell a node's covenant withholds (its noisy part below the threshold) reads `suppressed`.
    """
    if hash_only:
        _print_hash(dataset, epsilon=epsilon, purpose=purpose, where=where, by=by or [], at=at, fmt=fmt)
        return
    with exit_on_error(), analyst(profile) as client:
        nodes = client.catalog()
        peildatum = client.resolve_peildatum(dataset, at.date() if at else None, nodes)
        query = build_count(dataset, epsilon=epsilon, purpose=purpose, peildatum=peildatum, by=by or [], where=where)
        publishers = client.publishers(dataset, nodes)
        client.check(query, publishers)
        _refuse([p for n in publishers for p in preflight.peildatum_refusals(n.describe, peildatum)])
        if dry_run:
            online = [n for n in publishers if n.online]
            _refuse([p for n in online for p in _count_refusals(n, query)])
            rows = [{"node": n.org, "kind": n.kind, "online": n.online, "epsilon": query.epsilon if n.online else "0"}
                    for n in publishers]
            width = expected_half_width(query.epsilon_value, max(1, len(online)))
            extra = {"dry_run": True, "peildatum": peildatum.isoformat(), "expected_ci95_half_width": width}
            if fmt is OutputFormat.table:
                Console().print(f"dry run: nothing is spent. Peildatum {peildatum}; expected 95% half-width "
                                f"±{width} per cell (sum over {len(online)} online node(s)).")
            emit(rows, ["node", "kind", "online", "epsilon"], fmt, title="ε each node would spend", extra=extra)
            return
        with err_console.status(f"asking {len(publishers)} node(s)…"):
            result = client.count(query, refresh=refresh, publishers=publishers)
        _print(result, fmt, refresh, publishers)


def _print_hash(dataset: str, *, epsilon: str, purpose: str, where: str | None, by: list[str],
                at: dt.datetime | None, fmt: OutputFormat) -> None:
    """The sha256 of the canonical body, as a covenant lists it; computed here, nothing is sent."""
    from analyst.monitor import query_hash
    from regiozicht.query import default_peildatum

    with exit_on_error():
        # the body holds the reference date: without --at, the one a query asked today would resolve to
        peildatum = at.date() if at else default_peildatum(dt.date.today())
        query = build_count(dataset, epsilon=epsilon, purpose=purpose, peildatum=peildatum, by=by, where=where)
        digest = query_hash(query)
        if fmt is OutputFormat.table:
            if at is None:
                err_console.print(f"peildatum {peildatum} (the latest 1 October); give --at to hash another date",
                                  highlight=False)
            print(digest)
            return
        emit([{"query_hash": digest, "peildatum": peildatum.isoformat(), "body": query.canonical().decode()}],
             ["query_hash", "peildatum", "body"], fmt)


def _refuse(problems: list[RegiozichtError]) -> None:
    """Every problem on its own `error:` line; the exit code of the first (as the real refusal's)."""
    if not problems:
        return
    for problem in problems:
        err_console.print(f"[bold red]error:[/] {problem.message}", highlight=False, soft_wrap=True)
    raise typer.Exit(problems[0].exit_code)


def _columns(query: CountQuery) -> set[str]:
    """The columns a count groups or filters on: what a covenant's purpose must allow."""
    return set(query.by) | (filters.columns(query.where) if query.where else set())


def _count_refusals(node: NodeInfo, query: CountQuery) -> list[RegiozichtError]:
    return preflight.spend_refusals(node.describe, purpose=query.purpose, dataset=query.dataset, columns=_columns(query),
                                    epsilon=Decimal(query.epsilon))


def _suppression_note(result: CountResult, publishers: list[NodeInfo], fmt: OutputFormat) -> None:
    if fmt is not OutputFormat.table or not any(c.suppressed for c in result.cells):
        return
    rules = [f"{n.org} below {t}" for n in publishers
             if (t := suppression.threshold(n.describe, result.query.purpose, [result.query.dataset])) is not None]
    err_console.print(f"suppressed: a node's covenant withholds its noisy part of a cell below its threshold "
                      f"({', '.join(rules) or 'as its covenant says'}).", highlight=False)


@app.command()
def share(
    numerator: Annotated[str, typer.Argument(help="Dataset counted in the numerator.")],
    of: Annotated[str, typer.Option("--of", help="Dataset counted in the denominator.")],
    epsilon: Annotated[str, typer.Option("--epsilon", "-e", help="ε each node spends per count.")],
    purpose: Annotated[str, typer.Option(help="Purpose (doelbinding) this question serves.")],
    where: Annotated[str | None, typer.Option(help="Filter of the numerator. " + FILTER_HELP)] = None,
    of_where: Annotated[str | None, typer.Option("--of-where", help="Filter of the denominator.")] = None,
    by: Annotated[list[str] | None, typer.Option("--by", help="Dimension to group by (repeatable).")] = None,
    at: Annotated[dt.datetime | None, typer.Option("--at", formats=["%Y-%m-%d"],
                                                       help="Reference date (peildatum); default 1 October.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show expected cost; spend nothing.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
    profile: ProfileOption = None,
) -> None:
    """A percentage: NUMERATOR as a share of --of, with a 95% interval from both noises.

    Costs ε for each count at each publishing node (2ε where one node publishes
    both); a denominator asked before with the same ε, reference date and
    grouping is a stored release and costs nothing again.
    """
    with exit_on_error(), analyst(profile) as client:
        nodes = client.catalog()
        peildatum = client.resolve_peildatum(of, at.date() if at else None, nodes)
        queries = [
            build_count(name, epsilon=epsilon, purpose=purpose, peildatum=peildatum, by=by or [], where=filt)
            for name, filt in ((numerator, where), (of, of_where))
        ]
        for query in queries:
            client.check(query, client.publishers(query.dataset, nodes))
            _refuse([p for n in client.publishers(query.dataset, nodes)
                     for p in preflight.peildatum_refusals(n.describe, peildatum)])
        if dry_run:
            _refuse(_share_refusals(queries, nodes))
            rows = [{"count": role, "dataset": q.dataset, "node": n.org, "online": n.online, "epsilon": q.epsilon}
                    for role, q in zip(("numerator", "denominator"), queries)
                    for n in client.publishers(q.dataset, nodes)]
            if fmt is OutputFormat.table:
                Console().print("dry run: nothing is spent. The denominator costs nothing if it was released "
                                "before with the same ε, reference date and grouping (the nodes return it from "
                                "their store).")
            emit(rows, ["count", "dataset", "node", "online", "epsilon"], fmt, title="ε each node would spend",
                 extra={"dry_run": True, "peildatum": peildatum.isoformat()})
            return
        with err_console.status("asking for the numerator and the denominator…"):
            results = [client.count(query, publishers=client.publishers(query.dataset, nodes)) for query in queries]
        numerator_result, denominator_result = results
        rows = output.share_rows(share_cells(numerator_result, denominator_result), numerator_result,
                                 denominator_result, queries[0].by, fmt)
        extra = {"numerator": numerator, "denominator": of, "peildatum": peildatum.isoformat(), "epsilon": epsilon,
                 "costs": [{"dataset": r.query.dataset, "org": n.org, "epsilon": "0" if n.from_store else n.epsilon,
                            "from_store": n.from_store, "error": n.error} for r in results for n in r.nodes]}
        emit(rows, output.share_columns(queries[0].by, fmt), fmt,
             title=f"{numerator} as a share of {of} on {peildatum} (%)", extra=extra)
        if fmt is OutputFormat.table:
            for result in results:
                for node in result.nodes:
                    cost = "stored release, no cost" if node.from_store else f"spent ε {node.epsilon}"
                    err_console.print(f"{result.query.dataset} at {node.org}: {node.error or cost}")
        missing = sorted({f.org for r in results for f in r.failures})
        if missing:
            raise PartialResult(f"Not every node answered (missing: {', '.join(missing)}); the shares above leave "
                                "them out. Ask again when they are back: what was answered returns at no cost.")


def _share_refusals(queries: list[CountQuery], nodes: list[NodeInfo]) -> list[RegiozichtError]:
    """Each count's covenant and per-query limit at each online publisher; the budget for both counts
    together where one node publishes both."""
    problems: list[RegiozichtError] = []
    online = {n.org: n for n in nodes if n.online}
    totals: dict[str, Decimal] = {}
    for query in queries:
        for node in (n for n in online.values() if n.dataset(query.dataset) is not None):
            problems += preflight.covenant_refusals(node.describe, purpose=query.purpose, dataset=query.dataset,
                                                    columns=_columns(query))
            problems += preflight.limit_refusals(node.describe, epsilon=Decimal(query.epsilon))
            totals[node.org] = totals.get(node.org, Decimal(0)) + Decimal(query.epsilon)
    for org, total in totals.items():
        problems += preflight.total_refusals(online[org].describe, purpose=queries[0].purpose, epsilon=total)
    unique: dict[str, RegiozichtError] = {}
    for problem in problems:
        unique.setdefault(problem.message, problem)
    return list(unique.values())


def _print(result: CountResult, fmt: OutputFormat, refresh: bool = False,
           publishers: list[NodeInfo] | None = None) -> None:
    rows = output.count_rows(result, fmt)
    nodes = [{"org": n.org, "kind": n.kind, "epsilon": n.epsilon, "from_store": n.from_store,
              "error": n.error} for n in result.nodes]
    extra = {"dataset": result.query.dataset, "peildatum": result.query.peildatum.isoformat(),
             "epsilon": result.query.epsilon, "query_id": result.query_id, "nodes": nodes}
    emit(rows, output.count_columns(result.query.by, fmt), fmt,
         title=f"{result.query.dataset} on {result.query.peildatum} (ε {result.query.epsilon} per node)", extra=extra)
    if fmt is OutputFormat.table:
        for node in result.nodes:
            if node.error:
                err_console.print(f"[yellow]missing:[/] {node.org} ({node.kind}): {node.error}")
            else:
                cost = "stored release, no cost" if node.from_store else f"spent ε {node.epsilon}"
                if refresh and not node.from_store:
                    cost = f"recomputed on its current data (--refresh): spent ε {node.epsilon}"
                err_console.print(f"{node.org} ({node.kind}): {cost}")
    _suppression_note(result, publishers or [], fmt)
    if result.failures:
        answered = len(result.nodes) - len(result.failures)
        raise PartialResult(f"Partial result: the sum of {answered} of {len(result.nodes)} nodes; ask again when the "
                            "missing ones are back (what was answered returns at no cost).")


SET_HELP = ("written SET@KIND or SET@ORG; SET is a dataset or a combination of that node's datasets with and, "
            "or, not and brackets, e.g. \"baan or bijstand\"@wi (quote it)")


@dataclass(frozen=True)
class _LinkedArgs:
    anchor: str
    other: str
    epsilon: str
    purpose: str
    delta: str
    where: str | None
    by: list[str]
    at: dt.date | None
    with_at: dt.date | None
    counter: str | None = None
    split: bool = False


AnchorArg = Annotated[str, typer.Argument(help=f"The anchor set, {SET_HELP}; cells and --where come from its first "
                                               "dataset that is not negated.")]
WithOption = Annotated[str, typer.Option("--with", help=f"The other set, {SET_HELP}; every node publishing it takes "
                                                        "part (one run each).")]
EpsilonOption = Annotated[str, typer.Option("--epsilon", "-e", help="ε per run; the anchor spends it once per peer.")]
PurposeOption = Annotated[str, typer.Option(help="Purpose (doelbinding) this question serves.")]
DeltaOption = Annotated[str, typer.Option("--delta", help="δ per run (sets the noise shift T).")]
WhereOption = Annotated[str | None, typer.Option(help="Filter of the anchor set. " + FILTER_HELP)]
ByOption = Annotated[list[str] | None, typer.Option("--by", help="Anchor dimension to group by (repeatable).")]
AtOption = Annotated[dt.datetime | None, typer.Option("--at", formats=["%Y-%m-%d"],
                                                         help="Anchor set's reference date; default 1 October.")]
WithAtOption = Annotated[dt.datetime | None, typer.Option("--with-at", formats=["%Y-%m-%d"],
                                                             help="The other set's reference date.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show expected accuracy and cost; spend nothing.")]
CounterOption = Annotated[str | None, typer.Option(
    "--counter", help="The counter organisation that checks and counts the runs (default: the first online that is "
                      "no party; the nodes' covenants must accept it).")]
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]
SplitOption = Annotated[bool, typer.Option(
    "--split", help="Run each node publishing the other set only over the anchor cells it covers (e.g. its "
                    "gemeenten, from its Describe; group --by that dimension): the anchor spends ε once, not once "
                    "per run. Persons the anchor records in another node's values are not looked up there.")]


@app.command()
def linked(anchor: AnchorArg, other: WithOption, epsilon: EpsilonOption, purpose: PurposeOption,
           delta: DeltaOption = "1e-9", where: WhereOption = None, by: ByOption = None, at: AtOption = None,
           with_at: WithAtOption = None, dry_run: DryRunOption = False, fmt: FormatOption = OutputFormat.table,
           profile: ProfileOption = None, counter: CounterOption = None, split: SplitOption = False) -> None:
    """Link two partners' records on BSN: per anchor cell, DP sizes of anchor ∩ other and anchor ∖ other."""
    args = _LinkedArgs(anchor, other, epsilon, purpose, delta, where, by or [], at.date() if at else None,
                       with_at.date() if with_at else None, counter, split)
    _run_linked(args, dry_run, fmt, profile, share=False)


@app.command("linked-share")
def linked_share(anchor: AnchorArg, other: WithOption, epsilon: EpsilonOption, purpose: PurposeOption,
                 delta: DeltaOption = "1e-9", where: WhereOption = None, by: ByOption = None, at: AtOption = None,
                 with_at: WithAtOption = None, dry_run: DryRunOption = False,
                 fmt: FormatOption = OutputFormat.table, profile: ProfileOption = None,
                 counter: CounterOption = None, split: SplitOption = False) -> None:
    """The same linked count as a share of the anchor: per cell ∩ / (∩ + ∖) with a 95% interval.

    The interval comes from the joint distribution of both estimates' noise
    (they share the anchor's draw); it costs what `query linked` costs. The
    share NOT in the other set is 1 − share, with interval [1 − high, 1 − low].
    """
    args = _LinkedArgs(anchor, other, epsilon, purpose, delta, where, by or [], at.date() if at else None,
                       with_at.date() if with_at else None, counter, split)
    _run_linked(args, dry_run, fmt, profile, share=True)


def _run_linked(args: _LinkedArgs, dry_run: bool, fmt: OutputFormat, profile: Any, *, share: bool) -> None:
    with exit_on_error(), analyst(profile) as client:
        nodes = client.catalog()
        query = resolve_linked(nodes, args.anchor, args.other, epsilon=args.epsilon, delta=args.delta,
                               purpose=args.purpose, by=args.by, where=args.where, at=args.at, with_at=args.with_at,
                               counters=client.counters(), counter=args.counter, split=args.split)
        parties = {n.org: n for n in nodes}
        _refuse([p for side in (query.anchor, *query.others)
                 for p in preflight.peildatum_refusals(parties[side.org].describe, side.peildatum)])
        if dry_run:
            _refuse(_linked_refusals(query, parties))
            _linked_dry_run(query, fmt)
            return
        with err_console.status(f"linking with {len(query.others)} node(s)…"):
            result = submit_linked(client, query, anchor_cells(nodes, query))
        _print_linked(result, fmt, share, suppression.linked_threshold(nodes, query))


def _linked_refusals(query: LinkedQuery, parties: dict[str, NodeInfo]) -> list[RegiozichtError]:
    """The anchor pays ε and δ once per run (once for a split query), each peer once; the covenant must
    cover every dataset of a party's set, and at the anchor the columns it groups and filters on."""
    runs = query.anchor_runs()
    anchor = query.anchor
    problems = preflight.spend_refusals(
        parties[anchor.org].describe, purpose=query.purpose, dataset=anchor.dataset, columns=_columns(query.anchor_count()),
        also=[d for d in anchor.datasets if d != anchor.dataset], runs=runs,
        epsilon=Decimal(query.epsilon) * runs, delta=Decimal(query.delta) * runs)
    for peer in query.others:
        problems += preflight.spend_refusals(
            parties[peer.org].describe, purpose=query.purpose, dataset=peer.dataset,
            also=[d for d in peer.datasets if d != peer.dataset],
            epsilon=Decimal(query.epsilon), delta=Decimal(query.delta))
    return problems


def _linked_costs(query: LinkedQuery) -> list[dict[str, Any]]:
    runs = query.anchor_runs()
    rows = [{"node": query.anchor.org, "kind": query.anchor.kind, "role": "anchor", "set": query.anchor.expression,
             "peildatum": query.anchor.peildatum.isoformat(), "epsilon": _plain(Decimal(query.epsilon) * runs),
             "delta": _plain(Decimal(query.delta) * runs)}]
    rows += [{"node": p.org, "kind": p.kind, "role": "other", "set": p.expression,
              "peildatum": p.peildatum.isoformat(), "epsilon": query.epsilon, "delta": query.delta}
             for p in query.others]
    return rows


def _linked_dry_run(query: LinkedQuery, fmt: OutputFormat) -> None:
    width = expected_linked_half_width(query)
    if fmt is OutputFormat.table:
        Console().print(f"dry run: nothing is spent. {len(query.others)} run(s); expected 95% half-width ±{width} "
                        "per cell for both ∩ and ∖; the anchor spends ε " + ("once (split by "
                        f"{query.split.dimension})." if query.split else "once per run."))
    emit(_linked_costs(query), ["node", "kind", "role", "set", "peildatum", "epsilon", "delta"], fmt,
         title="ε and δ each node would spend",
         extra={"dry_run": True, "expected_ci95_half_width": width, "runs": len(query.others)})


def _print_linked(result: LinkedResult, fmt: OutputFormat, share: bool = False, below: int | None = None) -> None:
    query = result.query
    cells = suppression.shown(result.cells, below)
    if share:
        rows, columns = output.linked_share_rows(cells, query.by, fmt), output.linked_share_columns(query.by, fmt)
    else:
        rows, columns = output.linked_rows(cells, query.by, fmt), output.linked_columns(query.by, fmt)
    spent: dict[str, list[Decimal]] = {}
    for run in result.runs:
        for org, (eps, delta) in run.costs.items():
            total = spent.setdefault(org, [Decimal(0), Decimal(0)])
            total[0] += Decimal(eps)
            total[1] += Decimal(delta)
    costs = [{"org": org, "epsilon": _plain(e), "delta": _plain(d)} for org, (e, d) in sorted(spent.items())]
    failures = [{"run_id": r.run_id, "failed_org": r.failed_org, "error": r.error} for r in result.failures]
    extra = {"query_id": result.query_id, "anchor": query.anchor.body(), "others": [s.body() for s in query.others],
             "epsilon": query.epsilon, "delta": query.delta, "spent": costs, "failed_runs": failures,
             "suppressed_below": below}
    anchor = f"{_quoted(query.anchor.expression)}@{query.anchor.org}"
    other = f"{_quoted(query.others[0].expression)}@{', '.join(s.org for s in query.others)}"
    title = f"share of {anchor} found in {other} (%)" if share else f"{anchor} linked with {other}"
    emit(rows, columns, fmt, title=title, extra=extra)
    if fmt is OutputFormat.table:
        if any(c.any for c in cells):
            err_console.print(f"suppressed: linked estimates below {below}, the strictest threshold of the parties' "
                              "covenants, are withheld.", highlight=False)
        for cost in costs:
            err_console.print(f"{cost['org']}: spent ε {cost['epsilon']}, δ {cost['delta']}")
        for failure in failures:
            err_console.print(f"[yellow]failed:[/] run {failure['run_id']} at {failure['failed_org']}: "
                              f"{failure['error']}")
    if result.failures:
        raise PartialResult(f"{len(result.failures)} linked run(s) failed (named above); the figures leave them out. "
                            "Ask again when the nodes are back.")


def _quoted(expression: str) -> str:
    return expression if " " not in expression else f'"{expression}"'


def _plain(amount: Decimal) -> str:
    """A decimal as plain digits (δ 2e-7 as "0.0000002"), as the query writes ε and δ."""
    return format(amount.normalize(), "f")
