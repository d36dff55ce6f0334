"""Each partner's partial, imperfect view of a simulated life.

A `Record` pairs the row the partner would hold if it recorded perfectly
(the reality layer) with the rows it really holds (0, 1 or 2 of them) and
the imperfections applied; the writer logs those in the projection log.
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from synth.bsn import break_bsn
from synth.life import Life, Spell
from synth.region import Gemeente, wi_partner_for

Row = dict[str, Any]
_D = dt.date.fromordinal
# chance that a partner's row carries a typo in the BSN, by partner kind
_TYPO = {"jeugdhulp": 0.004, "leerplicht": 0.003, "wi": 0.002, "rmc": 0.002, "school": 0.001, "brp": 0.0}
_DUPLICATE = {"rmc_registratie": 0.01, "jeugdhulp": 0.01, "uitkering": 0.005}
_SCHOOL_OF = {"PRO": "school-provso", "VSO": "school-provso", "MBO": "school-mbo", "VMBO_BB": "school-mbo"}
_BRIN = {"PRO": "30PR", "VSO": "31VS", "MBO": "25MB", "VMBO_BB": "25MB"}


@dataclass
class Record:
    partner: str
    kind: str
    table: str
    reality: Row | None
    recorded: list[Row]
    issues: list[str] = field(default_factory=list)


def _d(day: int | None) -> dt.date | None:
    return None if day is None else _D(day)


class Projector:
    """Turns lives into partner records; deterministic per (seed, person)."""

    def __init__(self, seed: int, gemeenten: list[Gemeente]) -> None:
        self.seed = seed
        self.gemeenten = gemeenten

    def records(self, life: Life) -> Iterator[Record]:
        rng = random.Random(f"projection-{self.seed}-{life.index}")
        for rec in self._raw(life):
            yield self._imperfect(rec, life, rng)

    def _raw(self, life: Life) -> Iterator[Record]:
        yield from self._brp(life)
        yield from self._school(life)
        yield from self._rmc(life)
        yield from self._wi(life)
        yield from self._care(life)
        yield from self._leerplicht(life)

    def _person(self, life: Life, day: int) -> Row:
        return {"bsn": life.bsn, "birth_date": life.birth, "sex": life.sex, "gemeente": life.gemeente_at(day)}

    def _brp(self, life: Life) -> Iterator[Record]:
        adult_view = life.birthday(12)
        for r in life.residences:
            if r.end is not None and r.end < adult_view:
                continue
            row = {"bsn": life.bsn, "birth_date": life.birth, "sex": life.sex, "gemeente": r.info["gemeente"],
                   "wijk": r.info["wijk"], "vestiging": _D(r.start), "vertrek": _d(r.end)}
            yield Record(f"brp-{str(r.info['gemeente']).lower()}", "brp", "inwoner", row, [dict(row)])

    def _school(self, life: Life) -> Iterator[Record]:
        for e in life.enrolments:
            if e.kind not in _SCHOOL_OF:
                continue
            closed = e.end is not None
            row = {**self._person(life, e.start), "brin": _BRIN[e.kind], "school_type": e.kind,
                   "mbo_level": e.info.get("level"), "start_date": _D(e.start), "end_date": _d(e.end),
                   "uitstroomprofiel": e.info.get("profiel") if closed else None,
                   "exit_reason": e.info["reason"] if closed else None,
                   "startkwalificatie": bool(e.info["sk"]) if closed else None}
            yield Record(_SCHOOL_OF[e.kind], "school", "enrolment", row, [dict(row)])
        for a in life.absence:
            if a.end is None or a.end > life.last_day:
                continue  # only completed school years are reported
            start = _D(a.start)
            row = {"bsn": life.bsn, "school_year": f"{start.year}-{start.year + 1}", "school_type": a.kind,
                   "start": start, "eind": _D(a.end), "authorised_hours": a.info["authorised"],
                   "unauthorised_hours": a.info["unauthorised"]}
            yield Record(_SCHOOL_OF[a.kind], "school", "absence", row, [dict(row)])
        for n in life.nazorg:
            row = {"bsn": life.bsn, "peildatum": _D(n.start), "status": n.kind}
            yield Record("school-provso", "school", "nazorg", row, [dict(row)])

    def _rmc(self, life: Life) -> Iterator[Record]:
        for r in life.rmc:
            row = {**self._person(life, r.start), "datum": _D(r.start), "afmelddatum": _d(r.end),
                   "doelgroep": r.kind, "bron": r.info["bron"], "laatste_opleiding": r.info["laatste_opleiding"]}
            yield Record("rmc", "rmc", "rmc_registratie", row, [dict(row)])
        for t in life.trajects:
            row = {"bsn": life.bsn, "start": _D(t.start), "eind": _d(t.end),
                   "status": "IN_TRAJECT" if t.end is None else t.kind}
            yield Record("rmc", "rmc", "rmc_traject", row, [dict(row)])

    def _wi(self, life: Life) -> Iterator[Record]:
        def partner(s: Spell) -> str:
            return wi_partner_for(life.gemeente_at(s.start), self.gemeenten)

        for b in life.benefits:
            row = {**self._person(life, b.start), "regeling": b.kind, "start": _D(b.start), "eind": _d(b.end)}
            yield Record(partner(b), "wi", "uitkering", row, [dict(row)])
        for j in life.jobs:
            row = {"bsn": life.bsn, "start": _D(j.start), "eind": _d(j.end), "uren_pw": j.info["uren"],
                   "contract": j.info["contract"], "bron": "POLIS"}
            yield Record(partner(j), "wi", "baan", row, [dict(row)])
        for v in life.voorziening:
            row = {"bsn": life.bsn, "type": v.kind, "start": _D(v.start), "eind": _d(v.end)}
            yield Record(partner(v), "wi", "voorziening", row, [dict(row)])
        for g in life.dgr:
            row = {"bsn": life.bsn, "grondslag": g.info["grondslag"], "start": _D(g.start), "eind": _d(g.end)}
            yield Record(partner(g), "wi", "doelgroepregister", row, [dict(row)])

    def _care(self, life: Life) -> Iterator[Record]:
        for c in life.care:
            row = {**self._person(life, c.start), "start": _D(c.start), "eind": _d(c.end), "hulpvorm": c.kind,
                   "verwijzer": c.info["verwijzer"], "crisis": c.info["crisis"],
                   "reden_einde": c.info["reden_einde"] if c.end is not None else None}
            yield Record("jeugdhulp", "jeugdhulp", "jeugdhulp", row, [dict(row)])
        for p in life.protection:
            row = {"bsn": life.bsn, "type": p.kind, "start": _D(p.start), "eind": _d(p.end)}
            yield Record("jeugdhulp", "jeugdhulp", "jeugdbescherming", row, [dict(row)])

    def _leerplicht(self, life: Life) -> Iterator[Record]:
        for v in life.verzuim:
            row = {**self._person(life, v.start), "begin": _D(v.start), "eind": _d(v.end), "type": v.kind,
                   "status": "OPEN" if v.end is None else "AFGESLOTEN", "afdoening": v.info["afdoening"]}
            yield Record("leerplicht", "leerplicht", "verzuim_melding", row, [dict(row)])
        for f in life.vrijstelling:
            row = {"bsn": life.bsn, "artikel": f.kind, "start": _D(f.start), "eind": _d(f.end)}
            yield Record("leerplicht", "leerplicht", "vrijstelling", row, [dict(row)])

    def _imperfect(self, rec: Record, life: Life, rng: random.Random) -> Record:
        """Realistic data-quality problems, each noted in `rec.issues`."""
        row = rec.recorded[0]
        if rec.table == "rmc_registratie" and rng.random() < 0.02:
            rec.recorded, rec.issues = [], ["NOT_REGISTERED"]
            return rec
        if rng.random() < _TYPO[rec.kind]:
            row["bsn"] = break_bsn(life.bsn, rng.randrange(9))
            rec.issues.append("INVALID_BSN")
        if "gemeente" in row and rec.kind != "brp":
            self._stale_or_missing(rec, life, rng)
        if "sex" in row and rec.kind != "brp" and rng.random() < 0.01:
            row["sex"] = None
            rec.issues.append("MISSING_SEX")
        if "birth_date" in row and rec.kind != "brp" and rng.random() < 0.004:
            row["birth_date"] = None
            rec.issues.append("MISSING_BIRTH_DATE")
        if rec.table == "nazorg" and rng.random() < 0.1:
            row["status"] = "ONBEKEND"
            rec.issues.append("STATUS_UNKNOWN")
        if rec.table == "inwoner" and row["vertrek"] is not None and rng.random() < 0.02:
            row["vertrek"] = None  # departure never processed: counted twice
            rec.issues.append("VERTREK_MISSING")
        if rng.random() < _DUPLICATE.get(rec.table, 0.0):
            rec.recorded.append(dict(row))
            rec.issues.append("DUPLICATE")
        return rec

    def _stale_or_missing(self, rec: Record, life: Life, rng: random.Random) -> None:
        row = rec.recorded[0]
        if rng.random() < 0.01:
            row["gemeente"] = None
            rec.issues.append("MISSING_GEMEENTE")
            return
        start = rec.reality["start" if "start" in rec.reality else "start_date" if "start_date" in rec.reality
                           else "datum" if "datum" in rec.reality else "begin"] if rec.reality else None
        day = start.toordinal() if start else 0
        moves = [r for r in life.residences[1:] if 0 <= day - r.start <= 120]
        if moves and rng.random() < 0.3:
            row["gemeente"] = life.gemeente_at(moves[-1].start - 1)  # address change not yet processed
            rec.issues.append("STALE_GEMEENTE")
