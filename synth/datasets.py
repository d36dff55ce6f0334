"""Publishable datasets of each partner kind: SQL template for the node, and
the same definition in Python for the truth (two independent code paths,
checked against each other by the tests).

Portability: the only bound parameter is :peildatum. Age bands and windows
("in the 12 months before the peildatum") need date arithmetic, which SQLite
and PostgreSQL spell differently, so every partner database carries a
`kalender` table (one row per day, with the dates 1, 2, 3, 12, 16, 18, 23 and
27 years earlier). Templates join it on `k.peildatum = :peildatum` and only
compare dates, which both engines do the same way.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from synth.region import AGE_BANDS, SEXES

Row = Mapping[str, Any]
Kal = Mapping[str, str]  # peildatum and min_<n>j as ISO dates
Cond = tuple[str, Callable[[Row, Kal], bool]]  # a row condition: SQL over an alias, and its Python mirror


@dataclass(frozen=True)
class DimensionSpec:
    domain: tuple[str, ...]
    info_class: Literal["DAT", "WAT"]
    description: str


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    sql: str
    order_by: tuple[str, ...]
    dimensions: dict[str, DimensionSpec]
    measures: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Dim:
    """A dimension: its SQL expression over alias `t`, and the Python mirror."""

    sql: str
    py: Callable[[Row, Kal], Any]
    domain: tuple[str, ...] | str  # a string names a region-dependent domain
    info_class: Literal["DAT", "WAT"]
    description: str
    # a dataset of the same partner whose members `py` needs: the truth puts whether the
    # row's bsn is one of them (on the same peildatum) in the row, under member_flag(member_of)
    member_of: str | None = None


def member_flag(dataset: str) -> str:
    """The row key under which the truth tells a dimension's mirror: is this bsn in `dataset`?"""
    return f"in:{dataset}"


@dataclass(frozen=True)
class Definition:
    name: str
    table: str
    description: str
    where_sql: str
    where_py: Callable[[Row, Kal], bool]
    dims: dict[str, Dim]
    order_by: tuple[str, ...]
    measures: dict[str, tuple[float, float]] = field(default_factory=dict)

    def sql(self) -> str:
        cols = ["t.bsn AS person", "t.bsn AS link"]
        cols += [f"{d.sql} AS {name}" for name, d in self.dims.items()]
        cols += [f"t.{c} AS {c}" for c in (*self.order_by, *self.measures) if c not in self.dims]
        return (f"SELECT {', '.join(cols)} FROM {self.table} t "
                f"JOIN kalender k ON k.peildatum = :peildatum WHERE {self.where_sql}")

    @property
    def needs(self) -> tuple[str, ...]:
        """Datasets of the same partner whose members the Python mirror of a dimension reads."""
        return tuple(dict.fromkeys(d.member_of for d in self.dims.values() if d.member_of is not None))

    def spec(self, domains: Mapping[str, tuple[str, ...]]) -> DatasetSpec:
        dims = {n: DimensionSpec(domains[d.domain] if isinstance(d.domain, str) else d.domain,
                                 d.info_class, d.description) for n, d in self.dims.items()}
        return DatasetSpec(self.name, self.description, self.sql(), self.order_by, dims, dict(self.measures))


# --- reusable conditions (SQL, Python) -------------------------------------

def _active(start: str, end: str, alias: str = "t") -> Cond:
    sql = f"{alias}.{start} <= k.peildatum AND ({alias}.{end} IS NULL OR {alias}.{end} >= k.peildatum)"
    return sql, lambda r, k: r[start] <= k["peildatum"] and (r[end] is None or r[end] >= k["peildatum"])


def _in_year(col: str, alias: str = "t") -> Cond:
    sql = f"{alias}.{col} > k.min_1j AND {alias}.{col} <= k.peildatum"
    # SQL: a comparison with NULL is never true
    return sql, lambda r, k: r[col] is not None and k["min_1j"] < r[col] <= k["peildatum"]


def _overlaps(start: str, end: str, years: int) -> Cond:
    lo = f"min_{years}j"
    sql = f"t.{start} <= k.peildatum AND (t.{end} IS NULL OR t.{end} > k.{lo})"
    return sql, lambda r, k: r[start] <= k["peildatum"] and (r[end] is None or r[end] > k[lo])


def _and(*conds: Cond) -> Cond:
    return " AND ".join(f"({c[0]})" for c in conds), lambda r, k: all(c[1](r, k) for c in conds)


def _in(col: str, values: tuple[str, ...]) -> Cond:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"t.{col} IN ({listed})", lambda r, k: r[col] in values


# --- reusable dimensions ---------------------------------------------------

_BANDS = (("min_12j", None), ("min_16j", "12-15"), ("min_18j", "16-17"), ("min_23j", "18-22"), ("min_27j", "23-26"))
AGE_SQL = "CASE " + " ".join(
    f"WHEN t.birth_date > k.{col} THEN {'NULL' if band is None else repr(band)}" for col, band in _BANDS
) + " ELSE NULL END"


def _age_py(r: Row, k: Kal) -> str | None:
    birth = r["birth_date"]
    if birth is None:
        return None
    return next((band for col, band in _BANDS if birth > k[col]), None)


def _col(col: str, domain: tuple[str, ...] | str, info: Literal["DAT", "WAT"], text: str) -> Dim:
    return Dim(f"t.{col}", lambda r, k: r[col], domain, info, text)


def _has(dataset: Definition, where_x: str, text: str) -> Dim:
    """J when the person's recorded bsn is in `dataset` (same partner, same peildatum), else N.

    SQL: an EXISTS on the dataset's table, `where_x` being the dataset's own condition over
    alias `x` (made by the same helper, so the rule is written once). Python: the flag the
    truth sets from the dataset's members. A person-level fact, so it never splits a person.
    """
    sql = (f"CASE WHEN EXISTS (SELECT 1 FROM {dataset.table} x WHERE x.bsn = t.bsn AND {where_x}) "
           "THEN 'J' ELSE 'N' END")
    flag = member_flag(dataset.name)
    return Dim(sql, lambda r, k: "J" if r[flag] else "N", ("J", "N"), "DAT", text, member_of=dataset.name)


def _flag(col: str, text: str) -> Dim:
    sql = f"CASE WHEN t.{col} THEN 'J' WHEN NOT t.{col} THEN 'N' ELSE NULL END"
    return Dim(sql, lambda r, k: None if r[col] is None else ("J" if r[col] else "N"), ("J", "N"), "DAT", text)


GEMEENTE = _col("gemeente", "gemeente", "DAT", "municipality code as the partner recorded it")
LEEFTIJD = Dim(AGE_SQL, _age_py, AGE_BANDS, "DAT", "age band on the peildatum")
GESLACHT = _col("sex", SEXES, "DAT", "sex as recorded")
PERSON = {"gemeente": GEMEENTE, "leeftijd": LEEFTIJD, "geslacht": GESLACHT}
SCHOOL_TYPES = ("PRO", "VSO", "VMBO_BB", "MBO")
SCHOOLSOORT = _col("school_type", SCHOOL_TYPES, "DAT", "school type")
MBO_NIVEAU = Dim("CASE t.mbo_level WHEN 1 THEN '1' WHEN 2 THEN '2' WHEN 3 THEN '3' WHEN 4 THEN '4' END",
                 lambda r, k: None if r["mbo_level"] is None else str(r["mbo_level"]),
                 ("1", "2", "3", "4"), "DAT", "mbo level (1 = Entree)")
OPLEIDINGEN = ("PRO", "VSO", "VMBO_BB", "VMBO_KGT", "HAVO", "VWO", "MBO1", "MBO2", "MBO3", "MBO4")
DOELGROEPEN = ("VSV_18_22", "KWALIFICATIEPLICHTIG", "JIKP_PRO", "JIKP_VSO", "JIKP_ENTREE", "JIKP_VMBO_BB")
TRAJECT_STATUS = ("IN_TRAJECT", "HERPLAATST_ONDERWIJS", "WERK", "WERK_LEREN", "ZORG", "DAGBESTEDING",
                  "GEEN_HULPVRAAG", "NIET_BEREIKBAAR", "VERHUISD", "SK_BEHAALD")
MELDING_TYPES = ("ZESTIEN_UUR", "LANGDURIG_RELATIEF", "ABSOLUUT", "LUXE")
HOURS = (0.0, 400.0)


def _d(name: str, table: str, description: str, where: Cond,
       dims: dict[str, Dim], order_by: tuple[str, ...], **measures: tuple[float, float]) -> Definition:
    return Definition(name, table, description, where[0], where[1], dims, order_by, dict(measures))


def _school() -> list[Definition]:
    return [
        _d("enrolled", "enrolment", "Pupils enrolled on the peildatum.", _active("start_date", "end_date"),
           {**PERSON, "schoolsoort": SCHOOLSOORT, "mbo_niveau": MBO_NIVEAU}, ("start_date", "id")),
        _d("enrolled_12m", "enrolment", "Enrolled at any day in the 12 months up to the peildatum.",
           _overlaps("start_date", "end_date", 1), {**PERSON, "schoolsoort": SCHOOLSOORT}, ("start_date", "id")),
        _d("school_leaver", "enrolment", "Left the school in the 12 months up to the peildatum.",
           _in_year("end_date"),
           {**PERSON, "schoolsoort": SCHOOLSOORT,
            "profiel": _col("uitstroomprofiel", ("VERVOLGONDERWIJS", "ARBEIDSMARKT", "DAGBESTEDING"), "WAT",
                            "pro/vso exit profile"),
            "reden": _col("exit_reason", ("DIPLOMA", "VOORTIJDIG", "UITSTROOM"), "WAT", "why the pupil left"),
            "startkwalificatie": _flag("startkwalificatie", "left with a startkwalificatie")},
           ("end_date", "id")),
        _d("startkwalificatie", "enrolment", "Left this school with a startkwalificatie on or before the peildatum.",
           ("t.startkwalificatie AND t.end_date <= k.peildatum",
            lambda r, k: bool(r["startkwalificatie"]) and r["end_date"] is not None
            and r["end_date"] <= k["peildatum"]),
           {"schoolsoort": SCHOOLSOORT}, ("end_date", "id")),
        _d("verzuim", "absence", "Absence hours of the school year that ended in the 12 months up to the peildatum.",
           _in_year("eind"), {"schoolsoort": SCHOOLSOORT}, ("eind", "id"),
           unauthorised_hours=HOURS, authorised_hours=HOURS),
        _d("nazorg", "nazorg", "Where pro/vso leavers were one year on, recorded in the last 12 months.",
           _in_year("peildatum"),
           {"status": _col("status", ("ONDERWIJS", "WERK", "DAGBESTEDING", "UITKERING", "NIETS", "ONBEKEND"),
                           "WAT", "position one year after leaving")}, ("peildatum", "id")),
    ]


def _leerplicht() -> list[Definition]:
    melding = {**PERSON, "type": _col("type", MELDING_TYPES, "WAT", "kind of absence report"),
               "afdoening": _col("afdoening", ("GESPREK", "WAARSCHUWING", "HALT", "PROCES_VERBAAL", "ZORG"),
                                 "WAT", "how the report was settled")}
    out = [_d("verzuim_melding", "verzuim_melding", "Absence reports begun in the 12 months up to the peildatum.",
              _in_year("begin"), melding, ("begin", "id"))]
    for name, kind in (("zestien_uur", "ZESTIEN_UUR"), ("langdurig_verzuim", "LANGDURIG_RELATIEF"),
                       ("absoluut_verzuim", "ABSOLUUT")):
        out.append(_d(name, "verzuim_melding", f"{kind} reports begun in the 12 months up to the peildatum.",
                      _and(_in_year("begin"), _in("type", (kind,))), PERSON, ("begin", "id")))
    out.append(_d("vrijstelling", "vrijstelling", "Exemptions from leerplicht in force on the peildatum.",
                  _active("start", "eind"), {"artikel": _col("artikel", ("5a", "5b", "15", "3a"), "WAT",
                                                             "article of the Leerplichtwet")}, ("start", "id")))
    return out


def _rmc() -> list[Definition]:
    opleiding = _col("laatste_opleiding", OPLEIDINGEN, "DAT", "last education before leaving")
    doelgroep = _col("doelgroep", DOELGROEPEN, "DAT", "RMC target group")
    status = _col("status", TRAJECT_STATUS, "WAT", "trajectory status")

    def running(alias: str) -> Cond:
        return _active("start", "eind", alias)

    def begun(alias: str) -> Cond:
        return _in_year("start", alias)

    traject = _d("rmc_traject", "rmc_traject", "Trajectories running on the peildatum.", running("t"),
                 {"status": status}, ("start", "id"))
    contact = _d("rmc_contact", "rmc_traject", "Any contact or trajectory begun in the 12 months up to the peildatum.",
                 begun("t"), {"status": status}, ("start", "id"))
    # DOMAIN indicator 2 as one statement: the share of the stock in a trajectory (reached) is
    # cell J of the stock's own dimension, so numerator and denominator are one population
    stock = {**PERSON, "doelgroep": doelgroep,
             "traject": _has(traject, running("x")[0], "a trajectory running on the peildatum (rmc_traject)"),
             "bereikt": _has(contact, begun("x")[0], "contact or a trajectory begun in the 12 months up to the "
                                                      "peildatum (rmc_contact)")}
    return [
        _d("vsv", "rmc_registratie", "New early school leavers registered in the 12 months up to the peildatum.",
           _and(_in_year("datum"), _in("doelgroep", ("VSV_18_22", "KWALIFICATIEPLICHTIG"))),
           {**PERSON, "opleiding": opleiding}, ("datum", "id")),
        _d("rmc_stock", "rmc_registratie", "Young people registered with the RMC on the peildatum.",
           _active("datum", "afmelddatum"), stock, ("datum", "id")),
        _d("jikp_leaver", "rmc_registratie", "JIKP group registered in the 12 months up to the peildatum.",
           _and(_in_year("datum"), _in("doelgroep", DOELGROEPEN[2:])), {**PERSON, "doelgroep": doelgroep},
           ("datum", "id")),
        traject,
        contact,
    ]


def _wi() -> list[Definition]:
    regeling = _col("regeling", ("PW_ALGEMEEN", "IOAW", "BBZ", "WAJONG", "WW"), "WAT", "benefit scheme")
    contract = _col("contract", ("VAST", "TIJDELIJK", "OPROEP", "UITZEND"), "WAT", "employment contract")
    bijstand = _in("regeling", ("PW_ALGEMEEN",))
    return [
        _d("bijstand", "uitkering", "Bijstand (Participatiewet) on the peildatum.",
           _and(bijstand, _active("start", "eind")), PERSON, ("start", "id")),
        _d("bijstand_12m", "uitkering", "Bijstand at any day in the 12 months up to the peildatum.",
           _and(bijstand, _overlaps("start", "eind", 1)), PERSON, ("start", "id")),
        _d("uitkering", "uitkering", "Any benefit on the peildatum.", _active("start", "eind"),
           {**PERSON, "regeling": regeling}, ("start", "id")),
        _d("baan", "baan", "A paid job on the peildatum.", _active("start", "eind"),
           {"contract": contract}, ("start", "id")),
        _d("baan_12m", "baan", "A paid job at any day in the 12 months up to the peildatum.",
           _overlaps("start", "eind", 1), {"contract": contract}, ("start", "id")),
        _d("doelgroepregister", "doelgroepregister", "In the doelgroepregister on the peildatum.",
           _active("start", "eind"), {"grondslag": _col("grondslag", ("PRO_VSO", "WAJONG", "INDICATIE_BANENAFSPRAAK"),
                                                       "WAT", "ground for registration")}, ("start", "id")),
        _d("voorziening", "voorziening", "A work provision on the peildatum.", _active("start", "eind"),
           {"type": _col("type", ("LKS", "BESCHUT_WERK", "JOBCOACH"), "WAT", "provision")}, ("start", "id")),
    ]


def _jeugdhulp() -> list[Definition]:
    hulpvorm = _col("hulpvorm", ("AMBULANT", "DAGBEHANDELING", "PLEEGZORG", "RESIDENTIEEL", "VERBLIJF_OVERIG"),
                    "WAT", "form of care")
    return [
        _d("jeugdhulp", "jeugdhulp", "Youth care on the peildatum.", _active("start", "eind"),
           {**PERSON, "hulpvorm": hulpvorm}, ("start", "id")),
        _d("jeugdhulp_24m", "jeugdhulp", "Youth care at any day in the 24 months up to the peildatum.",
           _overlaps("start", "eind", 2), PERSON, ("start", "id")),
        _d("jeugdbescherming", "jeugdbescherming", "Child protection measure on the peildatum.",
           _active("start", "eind"), {"type": _col("type", ("OTS", "VOOGDIJ", "JR"), "WAT", "measure")},
           ("start", "id")),
    ]


def _brp() -> list[Definition]:
    age_window = ("t.birth_date <= k.min_12j AND t.birth_date > k.min_27j",
                  lambda r, k: r["birth_date"] is not None and k["min_27j"] < r["birth_date"] <= k["min_12j"])
    wijk = _col("wijk", tuple(f"wk{i:02d}" for i in range(1, 7)), "DAT", "district")
    return [_d("inwoner", "inwoner", "Residents aged 12 up to their 27th birthday on the peildatum.",
               _and(_active("vestiging", "vertrek"), age_window), {**PERSON, "wijk": wijk}, ("vestiging", "id"))]


DEFINITIONS: dict[str, list[Definition]] = {
    "school": _school(), "leerplicht": _leerplicht(), "rmc": _rmc(), "wi": _wi(),
    "jeugdhulp": _jeugdhulp(), "brp": _brp(),
}


def definition(kind: str, name: str) -> Definition:
    return next(d for d in DEFINITIONS[kind] if d.name == name)


def region_domains(manifest: Any) -> dict[str, tuple[str, ...]]:
    return {"gemeente": tuple(g.code for g in manifest.gemeenten)}


def for_region(manifest: Any) -> dict[str, list[DatasetSpec]]:
    """Dataset specs of every partner of a generated region, keyed by partner id."""
    domains = region_domains(manifest)
    return {p.id: [d.spec(domains) for d in DEFINITIONS[p.kind]] for p in manifest.partners}


DATASETS: dict[str, list[DatasetSpec]] = {
    # static view by kind; the gemeente domain is that of the default 5-gemeente region
    kind: [d.spec({"gemeente": tuple(f"GM{9001 + i}" for i in range(5))}) for d in defs]
    for kind, defs in DEFINITIONS.items()
}
