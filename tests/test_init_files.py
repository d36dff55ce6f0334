"""`regiozicht-node init --files DIR` proposes, from the synthetic extracts' columns alone, datasets
that a node can serve as written and that count what the partner's own standard dataset counts: the
BSN as person and link, start and end date as "in force", small columns as dimensions with the values
seen as domains; every choice is marked `# CONFIRM` in node.toml and printed."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from node import config as node_config
from node.cli import app
from node.compile import compile_count
from node.setup import init_node
from node.store import make_partner_engine
from regiozicht.query import CountQuery
from synth.extracts import extracts_folder, write_extracts
from synth.generate import generate
from synth.truth import Truth

PARTNER = "school-mbo"
PEILDATUM = dt.date(2026, 10, 1)
AS_OF = dt.datetime(2026, 11, 1)


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    data = tmp_path_factory.mktemp("init-files") / "data"
    manifest = generate(data, scale=0.02, seed=13, gemeenten=3)
    partner = next(p for p in manifest.partners if p.id == PARTNER)
    for fmt in ("csv", "parquet"):
        write_extracts(partner.url(data), partner.kind, extracts_folder(data, fmt, PARTNER), fmt)
    return data, Truth.load(data)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_proposed_datasets_find_the_bsn_dates_and_small_dimensions(
        school: tuple[Path, Truth], fmt: str, tmp_path: Path) -> None:
    data, _ = school
    folder = extracts_folder(data, fmt, PARTNER)
    files = init_node(tmp_path / "node", kind="school", org=PARTNER, coordinator="localhost:1", database=None,
                      state_dir=None, data_as_of=AS_OF, files=folder)
    proposals = {p.name: p for p in files.proposals}
    assert {"enrolment", "absence"} <= set(proposals)
    assert not {"kalender", "extract_info"} & set(proposals)  # no BSN column: nothing proposed
    enrolment = proposals["enrolment"]
    assert (enrolment.person, enrolment.start, enrolment.end, enrolment.tie_break) == ("bsn", "start_date",
                                                                                        "end_date", "id")
    dims = {d.name: [v for v, _ in d.values] for d in enrolment.dimensions}
    sqlite = create_engine(f"sqlite:///{data / (PARTNER + '.sqlite')}")
    with sqlite.connect() as connection:
        for column in ("gemeente", "sex", "school_type"):
            seen = [r[0] for r in connection.execute(text(
                f"SELECT DISTINCT {column} FROM enrolment WHERE {column} IS NOT NULL ORDER BY 1")).all()]
            assert dims[column] == seen, column  # the domain is exactly the values the extract holds
    sqlite.dispose()
    assert dims["startkwalificatie"] == ["J", "N"]
    assert not {"id", "bsn", "birth_date", "start_date", "end_date"} & set(dims)  # identifiers and dates are not
    assert enrolment.other_dates == ("birth_date",)  # named for the operator, never taken as the start
    written = files.config.read_text()
    for proposal in files.proposals:
        for line in proposal.confirm():
            assert f"# CONFIRM {line}\n" in written
    assert re.search(r'^folder = ".*' + re.escape(f"{fmt}/{PARTNER}") + '"', written, re.MULTILINE)
    assert "url = \"sqlite:///state/" in written and "\nurl = \"sqlite:///" not in written.split("[state]")[0]
    assert "FILL IN" not in written


def test_a_proposed_dataset_counts_what_the_standard_dataset_counts(
        school: tuple[Path, Truth], tmp_path: Path) -> None:
    """The proposal for `enrolment` (in force from start_date until end_date, latest row per person) is the
    standard `enrolled` dataset: the node over the files counts the synthetic truth exactly, per gemeente."""
    data, truth = school
    files = init_node(tmp_path / "node", kind="school", org=PARTNER, coordinator="localhost:1", database=None,
                      state_dir=None, data_as_of=AS_OF, files=extracts_folder(data, "csv", PARTNER))
    cfg = node_config.load(files.config)  # node.toml as written loads: the proposal is valid as it stands
    engine = make_partner_engine(cfg.database)
    try:
        for dataset in cfg.datasets:  # every proposed dataset runs on the node's own engine
            for by in [(), tuple(sorted(dataset.dimensions))[:1]]:
                query = CountQuery(dataset.name, "1", "check", PEILDATUM, by)
                with engine.connect() as connection:
                    connection.execute(compile_count(dataset, query), {"peildatum": PEILDATUM}).all()
        enrolment = cfg.dataset("enrolment")
        assert enrolment is not None
        query = CountQuery("enrolment", "1", "check", PEILDATUM, ("gemeente",))
        with engine.connect() as connection:
            rows = connection.execute(compile_count(enrolment, query), {"peildatum": PEILDATUM}).all()
    finally:
        engine.dispose()
    got = {tuple(r[:-1]): int(r[-1]) for r in rows}
    expected = {tuple(c): n for c, n in truth.count(PARTNER, "enrolled", PEILDATUM, by=("gemeente",)).items()}
    assert sum(expected.values()) > 20  # not a comparison of two empty answers
    assert {c: got.get(c, 0) for c in expected} == expected
    assert set(got) <= set(expected)


def test_init_prints_what_to_confirm_and_refuses_both_or_neither_source(
        school: tuple[Path, Truth], tmp_path: Path) -> None:
    data, _ = school
    folder = extracts_folder(data, "parquet", PARTNER)
    base = ["init", "--kind", "school", "--org", PARTNER, "--coordinator", "localhost:1",
            "--data-as-of", AS_OF.isoformat()]
    done = CliRunner().invoke(app, [*base, "--files", str(folder), "--dir", str(tmp_path / "a")],
                              terminal_width=400)
    assert done.exit_code == 0, done.output
    assert "proposed dataset enrolment" in done.output
    assert "CONFIRM person and link: column bsn" in done.output
    assert "confirm or correct every `# CONFIRM` line" in done.output
    both = CliRunner().invoke(app, [*base, "--files", str(folder), "--database", "sqlite:///x.sqlite",
                                    "--dir", str(tmp_path / "b")])
    neither = CliRunner().invoke(app, [*base, "--dir", str(tmp_path / "c")])
    assert both.exit_code == neither.exit_code == 2, (both.output, neither.output)
    assert not (tmp_path / "b" / "node.toml").exists() and not (tmp_path / "c" / "node.toml").exists()


def test_awkward_names_are_quoted_and_the_proposal_counts_right(tmp_path: Path) -> None:
    """A file and columns named as a case system exports them (spaces, capitals, SQL keywords) give a
    dataset whose SQL runs and counts each person once, in force from start until end."""
    folder = tmp_path / "extracts"
    folder.mkdir()
    (folder / "Export Leerlingen.csv").write_text(
        "BSN;Gemeente;Begin datum;Eind datum;end;user\n"
        "012345672;GM0001;01-08-2025;;x;1\n"  # in force on 1 October 2026
        "012345672;GM0002;01-08-2024;31-07-2025;x;2\n"  # the same person, ended earlier
        "123456782;GM0002;01-08-2025;30-09-2026;y;1\n"  # ended the day before
        "111222333;GM0002;15-09-2026;;y;2\n")  # in force
    files = init_node(tmp_path / "node", kind="school", org="school-x", coordinator="localhost:1", database=None,
                      state_dir=None, data_as_of=AS_OF, files=folder)
    (proposal,) = files.proposals
    assert (proposal.name, proposal.person, proposal.start, proposal.end) == (
        "export_leerlingen", "BSN", "Begin datum", "Eind datum")
    assert {d.name for d in proposal.dimensions} == {"gemeente", "end", "user"}
    cfg = node_config.load(files.config)
    (dataset,) = cfg.datasets
    engine = make_partner_engine(cfg.database)
    try:
        with engine.connect() as connection:
            for by, expected in (((), {(): 2}), (("gemeente",), {("GM0001",): 1, ("GM0002",): 1})):
                query = CountQuery(dataset.name, "1", "check", PEILDATUM, by)
                rows = connection.execute(compile_count(dataset, query), {"peildatum": PEILDATUM}).all()
                assert {tuple(r[:-1]): int(r[-1]) for r in rows} == expected, by
    finally:
        engine.dispose()


def test_a_folder_without_a_bsn_column_proposes_nothing_and_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "extracts"
    folder.mkdir()
    (folder / "leerlingen.csv").write_text("nummer;klas;start\n17;3A;01-09-2025\n18;3B;01-09-2025\n")
    files = init_node(tmp_path / "node", kind="school", org="school-x", coordinator="localhost:1", database=None,
                      state_dir=None, data_as_of=AS_OF, files=folder)
    assert files.proposals == ()
    written = files.config.read_text()
    assert "# not proposed: leerlingen (leerlingen.csv): no column of BSNs" in written
