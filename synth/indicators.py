"""docs/domain.md's dashboard indicators, computed from the truth in both layers."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from synth.region import shift_years

if TYPE_CHECKING:
    from synth.manifest import Manifest
    from synth.truth import Source, Truth

PERSON_DIMS = ("gemeente", "leeftijd", "geslacht")
SCHOOLS = ("school-provso", "school-mbo")


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 2)


def linked_split(t: Truth, anchor: Source, others: Sequence[Source], peildatum: dt.date, dims: Sequence[str],
                 layer: str, where: Callable[[dict[str, str]], bool] | None = None) -> dict[str, Any]:
    """Anchor count, linked count and percentage: in total and per single dimension."""
    def entry(hit: int, miss: int) -> dict[str, Any]:
        return {"n": hit + miss, "linked": hit, "pct": _pct(hit, hit + miss)}

    bys = [(), *((dim,) for dim in dims)]
    total, *per_dim = t.linked_many(anchor, others, peildatum, bys, where=where, layer=layer)
    out: dict[str, Any] = {"total": entry(*total[()]), "by": {}}
    for dim, cells in zip(dims, per_dim):
        out["by"][dim] = {c[0]: entry(*v) for c, v in cells.items()}
    return out


def count_split(t: Truth, sources: Sequence[tuple[str, str]], peildatum: dt.date, dims: Sequence[str],
                layer: str, where: Callable[[dict[str, str]], bool] | None = None) -> dict[str, Any]:
    """Persons in total and per single dimension, summed over `sources`."""
    out: dict[str, Any] = {"total": 0, "by": {d: {} for d in dims}}
    bys = [(), *((dim,) for dim in dims)]
    for partner, dataset in sources:
        total, *per_dim = t.count_many(partner, dataset, peildatum, bys, where=where, layer=layer)
        out["total"] += total[()]
        for dim, cells in zip(dims, per_dim):
            for cell, n in cells.items():
                out["by"][dim][cell[0]] = out["by"][dim].get(cell[0], 0) + n
    return out


def flag_split(t: Truth, source: tuple[str, str], flag: str, peildatum: dt.date, dims: Sequence[str],
               layer: str) -> dict[str, Any]:
    """The share of one dataset's persons in cell J of its flag dimension: in total and per single dimension.

    One set counted once, so every person of the numerator is in the denominator (as a node
    statement counting the dataset by `flag` gives it).
    """
    def entry(cells: dict[str, int]) -> dict[str, Any]:
        n = sum(cells.values())
        return {"n": n, "yes": cells.get("J", 0), "pct": _pct(cells.get("J", 0), n)}

    partner, dataset = source
    total, *per_dim = t.count_many(partner, dataset, peildatum, [(flag,), *((flag, dim) for dim in dims)],
                                   layer=layer)
    out: dict[str, Any] = {"total": entry({c[0]: n for c, n in total.items()}), "by": {}}
    for dim, cells in zip(dims, per_dim):
        split: dict[str, dict[str, int]] = {}
        for (value, cell), n in cells.items():
            split.setdefault(cell, {})[value] = n
        out["by"][dim] = {cell: entry(values) for cell, values in split.items()}
    return out


def per_thousand(numerator: dict[str, Any], denominator: dict[str, Any]) -> dict[str, Any]:
    """Rates per 1,000 of two `count_split`s over the same population: in total and per shared cell."""
    def rate(num: int, den: int) -> float | None:
        return None if den == 0 else round(1000.0 * num / den, 2)

    by = {dim: {cell: rate(n, denominator["by"][dim].get(cell, 0)) for cell, n in cells.items()}
          for dim, cells in numerator["by"].items() if dim in denominator["by"]}
    return {"total": rate(numerator["total"], denominator["total"]), "by": by}


def _both(fn: Callable[[str], Any]) -> dict[str, Any]:
    return {layer: fn(layer) for layer in ("reality", "recorded")}


class _Needs:
    """Stands in for a Truth to record which dataset evaluations the indicators use (all counts zero)."""

    def __init__(self, t: Truth) -> None:
        self.t, self.manifest = t, t.manifest
        self.keys: list[tuple[str, str, dt.date, str]] = []

    def count_many(self, partner: str, dataset: str, peildatum: dt.date, bys: Sequence[Sequence[str]],
                   where: Any = None, layer: str = "recorded") -> list[dict[Any, int]]:
        self.keys.append((partner, dataset, peildatum, layer))
        return [dict.fromkeys(self.t.cells(partner, dataset, by), 0) for by in bys]

    def linked_many(self, anchor: Source, others: Sequence[Source], peildatum: dt.date,
                    bys: Sequence[Sequence[str]], where: Any = None,
                    layer: str = "recorded") -> list[dict[Any, tuple[int, int]]]:
        for src in (anchor, *others):
            self.keys.append((src[0], src[1], src[2] if len(src) == 3 else peildatum, layer))
        return [dict.fromkeys(self.t.cells(anchor[0], anchor[1], by), (0, 0)) for by in bys]


def indicators(t: Truth, peildatum: dt.date) -> dict[str, Any]:
    """All indicators at `peildatum`; 'one year later' ones follow the cohort of a year earlier."""
    needs = _Needs(t)
    _indicators(needs, peildatum)  # type: ignore[arg-type]  # a _Needs stands in for the Truth: same count methods
    t.prepare(needs.keys)  # evaluate the datasets of each partner table in one scan
    return _indicators(t, peildatum)


def _indicators(t: Truth, peildatum: dt.date) -> dict[str, Any]:
    p, p0 = peildatum, shift_years(peildatum, -1)
    wi = [x.id for x in t.manifest.partners if x.kind == "wi"]
    brp = [x.id for x in t.manifest.partners if x.kind == "brp"]
    vsv_now: Source = ("rmc", "vsv", p)
    vsv_cohort: Source = ("rmc", "vsv", p0)
    provso_cohort: Source = ("school-provso", "school_leaver", p0)

    def on(dataset: str, partners: Sequence[str], day: dt.date = p) -> list[Source]:
        return [(x, dataset, day) for x in partners]

    vsv_dims = (*PERSON_DIMS, "opleiding")
    positions: dict[str, list[Source]] = {
        "onderwijs": on("enrolled", SCHOOLS), "werk": on("baan", wi), "uitkering": on("uitkering", wi),
        "zorg": [("jeugdhulp", "jeugdhulp", p)]}
    anywhere = [s for group in positions.values() for s in group]
    young = ("16-17", "18-22", "23-26")
    out: dict[str, Any] = {
        "1_new_vsv": _both(lambda L: {
            "vsv": count_split(t, [("rmc", "vsv")], p, vsv_dims, L),
            "enrolled_at_start_of_year": count_split(t, [(s, "enrolled") for s in SCHOOLS], p0, PERSON_DIMS, L)}),
        # shares of the stock: its own `traject` / `bereikt` dimensions, so one population
        "2_rmc_stock": _both(lambda L: {
            "stock": count_split(t, [("rmc", "rmc_stock")], p, (*PERSON_DIMS, "doelgroep"), L),
            "in_traject": flag_split(t, ("rmc", "rmc_stock"), "traject", p, (*PERSON_DIMS, "doelgroep"), L),
            "reached_12m": flag_split(t, ("rmc", "rmc_stock"), "bereikt", p, (*PERSON_DIMS, "doelgroep"), L)}),
        "3_vsv_position_one_year_later": _both(lambda L: {
            **{name: linked_split(t, vsv_cohort, srcs, p, vsv_dims, L) for name, srcs in positions.items()},
            "any_known": linked_split(t, vsv_cohort, anywhere, p, vsv_dims, L)}),
        "4_vsv_paid_work": _both(lambda L: linked_split(t, vsv_now, on("baan", wi), p, vsv_dims, L)),
        "5_vsv_bijstand_within_12m": _both(
            lambda L: linked_split(t, vsv_cohort, on("bijstand_12m", wi), p, vsv_dims, L)),
        "6_vsv_reenrolled_within_12m": _both(
            lambda L: linked_split(t, vsv_cohort, on("enrolled_12m", SCHOOLS), p, vsv_dims, L)),
        "7_provso_outflow": _both(lambda L: {
            name: linked_split(t, provso_cohort, srcs, p, ("schoolsoort", "profiel", *PERSON_DIMS), L)
            for name, srcs in (("onderwijs", on("enrolled", SCHOOLS)), ("werk", on("baan", wi)),
                               ("uitkering", on("uitkering", wi)))}),
        "8_jeugdhulp_prior_24m": _both(lambda L: {
            "vsv": linked_split(t, vsv_now, [("jeugdhulp", "jeugdhulp_24m", p)], p, vsv_dims, L),
            "provso_leavers": linked_split(t, ("school-provso", "school_leaver", p),
                                           [("jeugdhulp", "jeugdhulp_24m", p)], p, ("schoolsoort", "profiel"), L),
            "all_residents": {b: linked_split(t, (b, "inwoner", p), [("jeugdhulp", "jeugdhulp_24m", p)], p,
                                              PERSON_DIMS, L) for b in brp}}),
        "9_absence": _both(lambda L: _absence(t, p, brp, L)),
        # what the schools can see: a startkwalificatie earned at a partner school only (havo/vwo/hbo are not
        # partners), so recipients not linked are "without a startkwalificatie from a partner school"
        "10_bijstand_under_27": _both(lambda L: {
            partner: linked_split(t, (partner, "bijstand", p), on("startkwalificatie", SCHOOLS), p, PERSON_DIMS, L)
            for partner in wi}),
        "11_not_in_view": _both(lambda L: {
            b: linked_split(t, (b, "inwoner", p), anywhere, p, PERSON_DIMS, L, where=lambda v: v["leeftijd"] in young)
            for b in brp}),
        "12_provso_doelgroepregister": _both(
            lambda L: linked_split(t, provso_cohort, on("doelgroepregister", wi), p, ("schoolsoort", "profiel"), L)),
    }
    return out


def _absence(t: Truth, p: dt.date, brp: Sequence[str], layer: str) -> dict[str, Any]:
    """Indicator 9: report counts (all ages), and 16-hour reports per 1,000 residents aged 12–17.

    The rate's numerator and denominator are one population: young people aged 12–17 on the
    peildatum, by gemeente (the leerplicht's record / the brp's residence). Reports count persons.
    """
    def aged_12_17(v: dict[str, str]) -> bool:
        return v["leeftijd"] in ("12-15", "16-17")

    out = {name: count_split(t, [("leerplicht", name)], p, PERSON_DIMS, layer)
           for name in ("zestien_uur", "langdurig_verzuim", "absoluut_verzuim")}
    out["residents_12_17"] = count_split(t, [(b, "inwoner") for b in brp], p, PERSON_DIMS, layer, where=aged_12_17)
    out["zestien_uur_12_17"] = count_split(t, [("leerplicht", "zestien_uur")], p, PERSON_DIMS, layer,
                                           where=aged_12_17)
    out["zestien_uur_per_1000_residents_12_17"] = per_thousand(out["zestien_uur_12_17"], out["residents_12_17"])
    return out


def truth_document(t: Truth, manifest: Manifest) -> dict[str, Any]:
    """What truth.json holds: the indicators at the default reference date."""
    extract = manifest.extract_datetime.date()
    peildatum = dt.date(extract.year, 10, 1)
    if peildatum > extract:
        peildatum = dt.date(extract.year - 1, 10, 1)
    return {
        "peildatum": peildatum.isoformat(),
        "cohort_peildatum": shift_years(peildatum, -1).isoformat(),
        "seed": manifest.seed, "scale": manifest.scale,
        "notes": "Layers: 'recorded' = what the partner databases hold (DP answers estimate this); "
                 "'reality' = what they would hold if recorded perfectly. 'linked' counts use valid BSNs only. "
                 "10_bijstand_under_27: 'linked' = with a startkwalificatie from a partner school (pro/vso, "
                 "vmbo-bb, mbo); a havo, vwo or hbo diploma is not seen, so 'n - linked' is an upper bound on "
                 "recipients without a startkwalificatie (docs/synthetic-region.md).",
        "indicators": indicators(t, peildatum),
    }
