"""Region shapes beyond the default: three gemeenten where the largest runs its own W&I node, and
eight where every gemeente shares the regional one. Each shape's partners, coverage and W&I
records follow the shape, and the truth layer agrees with the partner databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from demo import synthregion
from synth import generate
from synth.manifest import Manifest

pytestmark = pytest.mark.region  # builds whole synthetic regions: left out of `make test-fast`

SHAPES = {"three, one with its own W&I": (3, True), "eight sharing one W&I": (8, False)}


@pytest.fixture(scope="module", params=list(SHAPES))
def shape(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest, bool]:
    gemeenten, own_wi = SHAPES[request.param]
    out = tmp_path_factory.mktemp("shape")
    manifest = generate(out, scale=0.03, seed=5, gemeenten=gemeenten, own_wi=own_wi)
    return out, manifest, own_wi


def test_the_partners_follow_the_shape(shape: tuple[Path, Manifest, bool]) -> None:
    out, manifest, own_wi = shape
    wi = sorted(p.id for p in manifest.partners if p.kind == "wi")
    brp = sorted(p.id for p in manifest.partners if p.kind == "brp")
    assert len(brp) == manifest.n_gemeenten == len(manifest.gemeenten)
    if own_wi:
        largest = manifest.gemeenten[0]
        assert wi == sorted(["wi-regio", f"wi-{largest.code.lower()}"]) and largest.own_wi
        assert sum(g.own_wi for g in manifest.gemeenten) == 1
    else:
        assert wi == ["wi-regio"] and not any(g.own_wi for g in manifest.gemeenten)
    assert all((out / f"{p.id}.sqlite").exists() for p in manifest.partners)


def test_one_large_gemeente_and_smaller_ones(shape: tuple[Path, Manifest, bool]) -> None:
    out, manifest, _ = shape
    with sqlite3.connect(out / "truth.sqlite") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables, "no truth store"
    sizes = {p.id: sum(p.tables.values()) for p in manifest.partners if p.kind == "brp"}
    largest = f"brp-{manifest.gemeenten[0].code.lower()}"
    assert sizes[largest] == max(sizes.values()) and all(n > 0 for n in sizes.values())


def test_each_w_and_i_node_covers_exactly_its_gemeenten(shape: tuple[Path, Manifest, bool]) -> None:
    """The coverage the demo gives each W&I node partitions the gemeenten, and a W&I node's records
    are mostly of its own gemeenten (a benefit stays with the department that granted it when its
    recipient moves, which the node's coverage filter then leaves out)."""
    out, manifest, _ = shape
    wi = [p for p in manifest.partners if p.kind == "wi"]
    covered = {p.id: synthregion.coverage_of(manifest, p)["gemeente"] for p in wi}
    codes = [code for codes in covered.values() for code in codes]
    assert sorted(codes) == sorted(g.code for g in manifest.gemeenten)
    for partner in wi:
        with sqlite3.connect(out / f"{partner.id}.sqlite") as db:
            tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            columns = {t: [c[1] for c in db.execute(f"PRAGMA table_info({t})")] for t in tables}
            codes = [code for t, cols in columns.items() if "gemeente" in cols
                     for (code,) in db.execute(f"SELECT gemeente FROM {t} WHERE gemeente IS NOT NULL")]
        inside = sum(code in covered[partner.id] for code in codes)
        assert codes and inside >= 0.8 * len(codes), (partner.id, inside, len(codes), covered[partner.id])
