"""Set expressions of a linked query's sides, the body that carries them, and the
covenant's linking rules for every dataset of a set."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from node.covenant import Covenant
from node.linkauth import check_linking
from regiozicht import linksets
from regiozicht.errors import BadQuery, PermissionDenied
from regiozicht.linkquery import LinkSide, build_linked, parse_linked_body

P = dt.date(2026, 10, 1)
NAMES = ("baan", "bijstand", "uitkering", "vsv")


def _raw(tree: Any, member: Any) -> bool:
    """A naive evaluation of any tree shape (the reference for normalisation)."""
    (key, arg), = tree.items()
    if key == "dataset":
        return bool(member(arg))
    if key == "not":
        return not _raw(arg, member)
    values = [_raw(part, member) for part in arg]
    return all(values) if key == "and" else any(values)


trees = st.recursive(
    st.sampled_from(NAMES).map(lambda name: {"dataset": name}),
    lambda inner: st.one_of(
        inner.map(lambda t: {"not": t}),
        st.lists(inner, min_size=2, max_size=3).map(lambda parts: {"and": parts}),
        st.lists(inner, min_size=2, max_size=3).map(lambda parts: {"or": parts}),
    ),
    max_leaves=6,
)


@given(trees)
def test_normalising_keeps_the_set_and_is_canonical(tree: Any) -> None:
    """The canonical form holds for exactly the same persons, is a fixed point, survives
    rendering and parsing, and `not` only ever wraps a dataset; unbounded sets are refused."""
    if _raw(tree, lambda name: False):
        with pytest.raises(BadQuery, match="none of its datasets"):
            linksets.normalise(tree)
        return
    canonical = linksets.normalise(tree)
    for members in itertools.product((False, True), repeat=len(NAMES)):
        inside = dict(zip(NAMES, members))
        assert linksets.evaluate(canonical, inside.__getitem__) == _raw(tree, inside.__getitem__)
    assert linksets.normalise(canonical) == canonical
    assert linksets.parse(linksets.render(canonical)) == canonical
    assert linksets.primary(canonical) in linksets.datasets(canonical)

    def negations_wrap_datasets(node: Any) -> bool:
        (key, arg), = node.items()
        if key == "not":
            return "dataset" in arg
        return key == "dataset" or all(negations_wrap_datasets(p) and key not in p for p in arg)
    assert negations_wrap_datasets(canonical)


def test_the_canonical_form_keeps_the_order_written() -> None:
    """Order decides which dataset gives the anchor's cells, so it is kept; nesting is flattened,
    double negations and repeats removed, and `not` pushed down to the datasets (De Morgan)."""
    assert linksets.parse("vsv and rmc_traject") == {"and": [{"dataset": "vsv"}, {"dataset": "rmc_traject"}]}
    assert linksets.primary(linksets.parse("rmc_traject and vsv")) == "rmc_traject"
    assert linksets.parse("a or (b or (c or a))") == {"or": [{"dataset": "a"}, {"dataset": "b"}, {"dataset": "c"}]}
    assert linksets.parse("vsv and not (baan or bijstand)") == {
        "and": [{"dataset": "vsv"}, {"not": {"dataset": "baan"}}, {"not": {"dataset": "bijstand"}}]}
    assert linksets.parse("NOT not baan") == {"dataset": "baan"}
    assert linksets.primary(linksets.parse("(not baan or bijstand) and uitkering")) == "bijstand"
    assert linksets.render(linksets.parse("vsv and (baan or not bijstand)")) == "vsv and (baan or not bijstand)"


@pytest.mark.parametrize("text,match", [
    ("", "The set is empty"),
    ("   ", "The set is empty"),
    ("not baan", "holds for persons in none of its datasets"),
    ("baan or not bijstand", "holds for persons in none of its datasets"),
    ("not (baan and not bijstand)", "holds for persons in none of its datasets"),
    ("baan and", "expects a dataset name but found the end"),
    ("(baan", r"expects `\)` but found the end"),
    ("baan bijstand", "expects the end or an operator"),
    ("baan & bijstand", "cannot be read at position 5"),
    ("Baan", "is not a dataset name"),
    (" or ".join(f"d{i}" for i in range(9)), "at most 8 datasets"),
])
def test_bad_sets_are_refused_in_one_sentence(text: str, match: str) -> None:
    with pytest.raises(BadQuery, match=match) as caught:
        linksets.parse(text)
    assert caught.value.message.count(";") <= 1 and caught.value.message.endswith(".")


@pytest.mark.parametrize("tree", [
    {}, {"dataset": 3}, {"dataset": "vsv", "and": []}, {"and": [{"dataset": "vsv"}]}, {"xor": [{"dataset": "a"}]},
    {"or": "vsv"}, [{"dataset": "vsv"}],
])
def test_malformed_trees_are_refused(tree: Any) -> None:
    with pytest.raises(BadQuery):
        linksets.normalise(tree)


# -- the signed body ----------------------------------------------------------------------------


def _query() -> Any:
    return build_linked(LinkSide.of("rmc-regio", "rmc", "vsv and not rmc_traject", P),
                        [LinkSide.of("wi-b", "wi", "bijstand or baan", P), LinkSide.of("wi-a", "wi", "baan", P)],
                        epsilon="1.0", delta="1e-9", purpose="rmc-monitor", by=["gemeente"], counter="regio-teller",
                        cells=6)


def test_the_body_carries_each_sides_set_and_round_trips() -> None:
    query = _query()
    body = json.loads(query.canonical())
    assert body["anchor"] == {"org": "rmc-regio", "kind": "rmc", "peildatum": "2026-10-01",
                              "set": {"and": [{"dataset": "vsv"}, {"not": {"dataset": "rmc_traject"}}]}}
    assert [o["org"] for o in body["others"]] == ["wi-a", "wi-b"]
    assert body["others"][1]["set"] == {"or": [{"dataset": "bijstand"}, {"dataset": "baan"}]}
    assert parse_linked_body(query.canonical()) == query
    assert query.anchor_count().dataset == "vsv" and query.anchor.datasets == ["vsv", "rmc_traject"]


@pytest.mark.parametrize("change,match", [
    (lambda b: b["others"][0].update(set={"not": {"not": {"dataset": "baan"}}}), "not in normalised form"),
    (lambda b: b["others"][0].update(set={"not": {"dataset": "baan"}}), "none of its datasets"),
    (lambda b: b["anchor"].update(set={"and": [{"dataset": "vsv"}]}), "at least two parts"),
    (lambda b: b["anchor"].update(dataset="vsv"), "malformed"),
    (lambda b: b["anchor"].pop("set"), "malformed"),
])
def test_a_body_the_cli_would_not_write_is_refused(change: Any, match: str) -> None:
    body = json.loads(_query().canonical())
    change(body)
    with pytest.raises(BadQuery, match=match):
        parse_linked_body(rfc8785.dumps(body))


# -- linking rules for every dataset of a set ---------------------------------------------------------


def _covenant(linking: Any) -> Covenant:
    return Covenant.model_validate({
        "organisation": "wi-a", "budget": {"epsilon": "10", "delta": "0.001"},
        "limits": {"max_epsilon": "2", "max_delta": "0.000001"},
        "parties": [{"role": "analyst", "org": "regio-analist", "purposes": ["p"]}],
        "purposes": [{"id": "p", "description": "d", "legal_basis": "publieke taak", "law": "l",
                      "datasets": {"baan": [], "bijstand": [], "uitkering": []}, "linking": linking}],
    })


def test_one_rule_or_several_and_one_must_cover_the_whole_run() -> None:
    me = LinkSide.of("wi-a", "wi", "baan or bijstand", P)
    rmc = LinkSide.of("rmc-regio", "rmc", "vsv", P)
    school = LinkSide.of("school-x", "school", "school_leaver", P)
    one = _covenant({"kinds": ["rmc"], "datasets": ["baan", "bijstand"], "partner_datasets": ["vsv"]})
    assert len(one.purposes[0].linking or ()) == 1
    check_linking(one, one.purposes[0], me, rmc)
    several = _covenant([{"kinds": ["rmc"], "datasets": ["baan", "bijstand"], "partner_datasets": ["vsv"]},
                         {"kinds": ["school"], "datasets": ["baan"], "partner_datasets": ["school_leaver"]}])
    check_linking(several, several.purposes[0], me, rmc)
    check_linking(several, several.purposes[0], LinkSide.of("wi-a", "wi", "baan", P), school)
    # bijstand may be linked, and with schools baan may be: but not bijstand with a school
    with pytest.raises(PermissionDenied, match="does not let dataset 'bijstand' be linked with school-x"):
        check_linking(several, several.purposes[0], me, school)
    with pytest.raises(PermissionDenied, match="partner dataset 'rmc_stock'"):
        check_linking(one, one.purposes[0], me, LinkSide.of("rmc-regio", "rmc", "vsv and not rmc_stock", P))
    with pytest.raises(PermissionDenied, match="does not let dataset 'uitkering'"):
        check_linking(one, one.purposes[0], LinkSide.of("wi-a", "wi", "baan and not uitkering", P), rmc)
    with pytest.raises(PermissionDenied, match=r"does not allow linking with school-x \(school\)"):
        check_linking(one, one.purposes[0], LinkSide.of("wi-a", "wi", "baan", P), school)
    with pytest.raises(PermissionDenied, match="allows no linked counts"):
        check_linking(_covenant(None), _covenant(None).purposes[0], me, rmc)


# -- the node's statement where person and link differ ------------------------------------------------


def test_in_a_combined_set_each_link_value_is_one_element_and_a_missing_one_links_nothing(tmp_path: Any) -> None:
    """Datasets combine on the link value: two records of different persons sharing one BSN are
    one element of a combined set (its cells from the latest row), a row without a BSN is an
    element of its own dataset only. A set of one dataset keeps one element per person, as before."""
    import sqlite3

    from sqlalchemy import create_engine

    from node.compile import compile_members
    from node.config import Dataset
    from regiozicht.query import CountQuery

    database = tmp_path / "partner.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE a (pid INTEGER, bsn TEXT, gemeente TEXT, datum DATE)")
        connection.execute("CREATE TABLE b (pid INTEGER, bsn TEXT, datum DATE)")
        connection.executemany("INSERT INTO a VALUES (?, ?, ?, ?)", [
            (1, "111222333", "GM1", "2026-01-01"), (2, " 111222333 ", "GM2", "2026-02-01"),  # one BSN, two persons
            (3, None, "GM1", "2026-01-01"), (4, "123456782", "GM2", "2026-01-01")])
        connection.executemany("INSERT INTO b VALUES (?, ?, ?)", [
            (5, "123456782", "2026-01-01"), (6, None, "2026-01-01"), (7, "999999990", "2026-01-01")])

    def dataset(name: str, dims: bool) -> Dataset:
        columns = "pid AS person, bsn AS link, datum" + (", gemeente" if dims else "")
        return Dataset.model_validate({
            "name": name, "sql": f"SELECT {columns} FROM {name} WHERE datum <= :peildatum", "order_by": ["datum"],
            "dimensions": {"gemeente": {"domain": ["GM1", "GM2"]}} if dims else {}})

    datasets = {"a": dataset("a", True), "b": dataset("b", False)}
    engine = create_engine(f"sqlite:///{database}")

    def rows(text: str, anchor: bool) -> list[tuple[Any, ...]]:
        tree = linksets.parse(text)
        query = CountQuery(linksets.primary(tree), "1", "p", P, ("gemeente",) if anchor else ())
        with engine.connect() as connection:
            return sorted(tuple(r) for r in connection.execute(compile_members(datasets, tree, query, anchor),
                                                                 {"peildatum": P}))
    try:
        assert rows("a", True) == [("111222333", "GM1"), ("111222333", "GM2"), ("123456782", "GM2"),
                                   ("nolink:a:3", "GM1")]
        assert rows("a and not b", True) == [("111222333", "GM2"), ("nolink:a:3", "GM1")]
        assert rows("a or b", True) == [("111222333", "GM2"), ("123456782", "GM2"), ("999999990", "onbekend"),
                                        ("nolink:a:3", "GM1"), ("nolink:b:6", "onbekend")]
        assert rows("b and a", False) == [("123456782",)]
    finally:
        engine.dispose()
