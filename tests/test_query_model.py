"""The query model: filter grammar, canonical bodies, ε, expiry."""

from __future__ import annotations

import datetime as dt

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from regiozicht import filters
from regiozicht.errors import BadQuery, Replayed
from regiozicht.query import build_count, canonical_epsilon, check_expiry, default_peildatum, parse_body

names = st.sampled_from(["gemeente", "sex", "age_band", "school_type"])
values = st.text(alphabet="abcGM0123-_ .'", min_size=1, max_size=8).filter(
    lambda v: not ("'" in v and '"' in v) and v.strip() == v and v.lower() not in {"and", "or", "not", "in"}
)
leaves = st.one_of(
    st.builds(lambda n, o, v: {"cmp": [n, o, v]}, names, st.sampled_from(filters.OPERATORS), values),
    st.builds(lambda n, vs: {"in": [n, vs]}, names, st.lists(values, min_size=1, max_size=4)),
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(lambda parts: {"and": parts}, st.lists(children, min_size=2, max_size=3)),
        st.builds(lambda parts: {"or": parts}, st.lists(children, min_size=2, max_size=3)),
        st.builds(lambda part: {"not": part}, children),
    ),
    max_leaves=8,
)


@given(trees)
def test_render_then_parse_gives_the_normal_form(tree: filters.Tree) -> None:
    normal = filters.normalise(tree)
    assert filters.parse(filters.render(normal)) == normal
    assert filters.normalise(normal) == normal


@given(trees, st.dictionaries(names, values, min_size=4, max_size=4))
def test_normalising_keeps_the_meaning(tree: filters.Tree, row: dict[str, str]) -> None:
    assert filters.evaluate(filters.normalise(tree), row) == filters.evaluate(tree, row)


@pytest.mark.parametrize("text", ["gemeente =", "(sex = M", "sex ~ M", "Sex = M", "sex = M gemeente", "", "sex not = M"])
def test_a_filter_that_does_not_parse_is_refused(text: str) -> None:
    with pytest.raises(BadQuery):
        filters.parse(text)


@pytest.mark.parametrize("raw,expected", [("0.50", "0.5"), ("1", "1"), ("1.0", "1"), ("0.125", "0.125"), (2, "2")])
def test_epsilon_is_written_as_its_shortest_decimal(raw: str, expected: str) -> None:
    assert canonical_epsilon(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "inf", "abc", "11"])
def test_epsilon_must_be_positive_and_bounded(raw: str) -> None:
    with pytest.raises(BadQuery):
        canonical_epsilon(raw)


def _query() -> bytes:
    return build_count("vsv", epsilon="0.5", purpose="rmc-monitor", peildatum=dt.date(2026, 10, 1),
                       by=["gemeente"], where="sex = M").canonical()


def test_the_body_round_trips_through_its_canonical_bytes() -> None:
    raw = _query()
    parsed = parse_body(raw)
    assert parsed.canonical() == raw
    assert raw == rfc8785.dumps(parsed.body())


def test_a_non_canonical_body_is_refused() -> None:
    raw = _query()
    spaced = raw.replace(b",", b", ")
    with pytest.raises(BadQuery, match="canonical"):
        parse_body(spaced)


def test_expiry_windows() -> None:
    check_expiry(1000, 1000 + 600, now=1100)
    with pytest.raises(Replayed, match="expired"):
        check_expiry(1000, 1600, now=1600 + 121)
    with pytest.raises(BadQuery, match="15 minutes"):
        check_expiry(1000, 1000 + 901, now=1000)
    with pytest.raises(BadQuery, match="future"):
        check_expiry(2000, 2100, now=1000)


def test_default_reference_date_is_the_latest_first_of_october() -> None:
    assert default_peildatum(dt.date(2026, 11, 1)) == dt.date(2026, 10, 1)
    assert default_peildatum(dt.date(2026, 10, 1)) == dt.date(2026, 10, 1)
    assert default_peildatum(dt.date(2026, 9, 30)) == dt.date(2025, 10, 1)
