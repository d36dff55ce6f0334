"""The ledger's high-water mark survives a torn write in either slot."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from node.watermark import Watermark
from regiozicht.errors import ConfigError


def _raise(mark: Watermark, epsilon: str) -> None:
    mark.record("2026", {"total": (Decimal(epsilon), Decimal(0))}, period_start="2026-01-01", now=1, audit_seq=1)
    mark.flush()


def test_the_newest_valid_slot_wins_and_a_torn_one_falls_back(tmp_path: Path) -> None:
    path = tmp_path / "hwm.json"
    mark = Watermark(path)
    _raise(mark, "1")
    _raise(mark, "2")
    assert Watermark(path).spent("2026", "total")[0] == Decimal(2)
    newest = path.with_name("hwm.json.a") if mark._counter % 2 == 0 else path.with_name("hwm.json.b")
    newest.write_text(newest.read_text()[:20])  # a power cut mid-write
    assert Watermark(path).spent("2026", "total")[0] == Decimal(1)


def test_both_slots_unreadable_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hwm.json"
    mark = Watermark(path)
    _raise(mark, "1")
    _raise(mark, "2")
    for suffix in (".a", ".b"):
        path.with_name("hwm.json" + suffix).write_text("garbage")
    with pytest.raises(ConfigError, match="newest copy"):
        Watermark(path)


def test_nothing_is_written_until_flushed(tmp_path: Path) -> None:
    path = tmp_path / "hwm.json"
    mark = Watermark(path)
    mark.record("2026", {"total": (Decimal(1), Decimal(0))}, period_start="2026-01-01", now=1, audit_seq=1)
    assert not any(tmp_path.iterdir())
    mark.flush()
    assert Watermark(path).spent("2026", "total")[0] == Decimal(1)
