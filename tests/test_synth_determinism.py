"""Same seed and scale give byte-identical files; another seed does not."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from synth import generate

pytestmark = pytest.mark.region  # builds whole synthetic regions: left out of `make test-fast`


def _digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.iterdir()) if p.suffix in (".sqlite", ".json")}


def test_same_seed_byte_identical_other_seed_different(tmp_path: Path) -> None:
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        generate(tmp_path / name, scale=0.01, seed=seed, gemeenten=3)
    a, b, c = (_digests(tmp_path / n) for n in "abc")
    assert a == b
    assert len(a) == 3 + 7 + 2 + 1  # brp per gemeente, 7 other partners, manifest + truth.json, truth.sqlite
    assert all(a[name] != c[name] for name in a if name.startswith(("rmc", "jeugdhulp", "brp")))
