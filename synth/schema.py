"""Table layouts of each partner kind (SQLAlchemy Core, portable types)."""
from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table


def _id() -> Column[int]:
    # every administration numbers its rows; the id is the last tie-break
    return Column("id", Integer, primary_key=True, autoincrement=False)


def _bsn() -> Column[str]:
    return Column("bsn", String(9), nullable=False, index=True)


def _common(metadata: MetaData) -> None:
    Table("extract_info", metadata, Column("extract_time", String(19), nullable=False))
    Table("kalender", metadata,
          Column("peildatum", Date, primary_key=True),
          *(Column(f"min_{n}j", Date, nullable=False) for n in KALENDER_YEARS))


KALENDER_YEARS = (1, 2, 3, 12, 16, 18, 23, 27)


def _school(m: MetaData) -> None:
    Table("enrolment", m, _id(), _bsn(), Column("birth_date", Date), Column("sex", String(1)),
          Column("gemeente", String(6)), Column("brin", String(4), nullable=False),
          Column("school_type", String(8), nullable=False), Column("mbo_level", Integer),
          Column("start_date", Date, nullable=False), Column("end_date", Date),
          Column("uitstroomprofiel", String(20)), Column("exit_reason", String(20)),
          Column("startkwalificatie", Boolean))
    Table("absence", m, _id(), _bsn(), Column("school_year", String(9), nullable=False),
          Column("school_type", String(8), nullable=False),
          Column("start", Date, nullable=False), Column("eind", Date, nullable=False),
          Column("authorised_hours", Integer, nullable=False), Column("unauthorised_hours", Integer, nullable=False))
    Table("nazorg", m, _id(), _bsn(), Column("peildatum", Date, nullable=False),
          Column("status", String(12), nullable=False))


def _leerplicht(m: MetaData) -> None:
    Table("verzuim_melding", m, _id(), _bsn(), Column("birth_date", Date), Column("sex", String(1)),
          Column("gemeente", String(6)), Column("begin", Date, nullable=False), Column("eind", Date),
          Column("type", String(20), nullable=False), Column("status", String(10), nullable=False),
          Column("afdoening", String(20)))
    Table("vrijstelling", m, _id(), _bsn(), Column("artikel", String(4), nullable=False),
          Column("start", Date, nullable=False), Column("eind", Date))


def _rmc(m: MetaData) -> None:
    Table("rmc_registratie", m, _id(), _bsn(), Column("birth_date", Date), Column("sex", String(1)),
          Column("gemeente", String(6)), Column("datum", Date, nullable=False),
          Column("afmelddatum", Date), Column("doelgroep", String(22), nullable=False),
          Column("bron", String(10), nullable=False), Column("laatste_opleiding", String(10)))
    Table("rmc_traject", m, _id(), _bsn(), Column("start", Date, nullable=False), Column("eind", Date),
          Column("status", String(22), nullable=False))


def _wi(m: MetaData) -> None:
    Table("uitkering", m, _id(), _bsn(), Column("birth_date", Date), Column("sex", String(1)),
          Column("gemeente", String(6)), Column("regeling", String(12), nullable=False),
          Column("start", Date, nullable=False), Column("eind", Date))
    Table("baan", m, _id(), _bsn(), Column("start", Date, nullable=False), Column("eind", Date),
          Column("uren_pw", Integer), Column("contract", String(10)), Column("bron", String(12), nullable=False))
    Table("voorziening", m, _id(), _bsn(), Column("type", String(14), nullable=False),
          Column("start", Date, nullable=False), Column("eind", Date))
    Table("doelgroepregister", m, _id(), _bsn(), Column("grondslag", String(24), nullable=False),
          Column("start", Date, nullable=False), Column("eind", Date))


def _jeugdhulp(m: MetaData) -> None:
    Table("jeugdhulp", m, _id(), _bsn(), Column("birth_date", Date), Column("sex", String(1)),
          Column("gemeente", String(6)), Column("start", Date, nullable=False), Column("eind", Date),
          Column("hulpvorm", String(16), nullable=False), Column("verwijzer", String(28)),
          Column("crisis", Boolean, nullable=False), Column("reden_einde", String(22)))
    Table("jeugdbescherming", m, _id(), _bsn(), Column("type", String(8), nullable=False),
          Column("start", Date, nullable=False), Column("eind", Date))


def _brp(m: MetaData) -> None:
    Table("inwoner", m, _id(), _bsn(), Column("birth_date", Date, nullable=False),
          Column("sex", String(1), nullable=False), Column("gemeente", String(6), nullable=False),
          Column("wijk", String(4)), Column("vestiging", Date, nullable=False), Column("vertrek", Date))


_BUILDERS = {"school": _school, "leerplicht": _leerplicht, "rmc": _rmc, "wi": _wi,
             "jeugdhulp": _jeugdhulp, "brp": _brp}


def metadata_for(kind: str) -> MetaData:
    """Fresh metadata with the tables of one partner kind."""
    m = MetaData()
    _common(m)
    _BUILDERS[kind](m)
    return m
