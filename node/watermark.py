"""The ledger's high-water mark: a small file beside (not inside) the state database.

Restoring a backup of the state database must never give budget back, and
setting the clock back must never reopen an old period. The state database
alone cannot guarantee either, because a backup holds an old copy of it. So
every charge also raises this file — written atomically and fsync'ed before
the charging transaction commits (once per group-committed batch, see
node/state.py) — and the ledger always uses the higher of
the database's and the file's figures. Keep this file out of the backup set
of the state database (or restore it from the newest copy only).

The mark is kept in two slots, `<file>.a` and `<file>.b`, written in turn in
place: each write is one fsync (no rename, no directory sync), and a write
torn by a power cut leaves the other slot, one write older, intact. Each
slot carries a counter and a checksum; the valid slot with the highest
counter wins.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from regiozicht.errors import ConfigError


class Watermark:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._slots = (self.path.with_name(self.path.name + ".a"), self.path.with_name(self.path.name + ".b"))
        self._counter, self._data = self._read()
        self._durable = copy.deepcopy(self._data)  # what the file holds
        self._dirty = False

    def _read(self) -> tuple[int, dict[str, Any]]:
        found = [slot for slot in (_read_slot(path) for path in self._slots) if slot is not None]
        if not found:
            if any(path.exists() for path in self._slots):
                raise ConfigError(f"The ledger's high-water mark {self.path}.a/.b is unreadable in both slots; "
                                  "restore it from its newest copy.")
            return 0, {"spent": {}, "latest_period_start": "", "last_seen_unix": 0, "audit_seq": 0}
        return max(found, key=lambda slot: slot[0])

    def spent(self, period: str, pot: str) -> tuple[Decimal, Decimal]:
        with self._lock:
            epsilon, delta = self._data["spent"].get(period, {}).get(pot, ["0", "0"])
        return Decimal(epsilon), Decimal(delta)

    def periods(self) -> dict[str, dict[str, tuple[Decimal, Decimal]]]:
        with self._lock:
            return {period: {pot: (Decimal(e), Decimal(d)) for pot, (e, d) in pots.items()}
                    for period, pots in self._data["spent"].items()}

    @property
    def latest_period_start(self) -> str:
        return str(self._data.get("latest_period_start", ""))

    @property
    def last_seen_unix(self) -> int:
        return int(self._data.get("last_seen_unix", 0))

    @property
    def audit_seq(self) -> int:
        return int(self._data.get("audit_seq", 0))

    def record(self, period: str, pots: dict[str, tuple[Decimal, Decimal]], *, period_start: str, now: int,
               audit_seq: int) -> None:
        """Sets the pots' figures (never below what they were, unless refunding); `flush` writes them durably.

        Called inside a state transaction, whose commit flushes first (StateDB.before_commit).
        """
        with self._lock:
            stored = self._data["spent"].setdefault(period, {})
            for pot, (epsilon, delta) in pots.items():
                stored[pot] = [_text(epsilon), _text(delta)]
            self._data["latest_period_start"] = max(self.latest_period_start, period_start)
            self._data["last_seen_unix"] = max(self.last_seen_unix, now)
            self._data["audit_seq"] = max(self.audit_seq, audit_seq)
            self._dirty = True

    def flush(self) -> None:
        """Writes the file durably if anything changed since the last write."""
        with self._lock:
            if self._dirty:
                try:
                    self._write()
                except OSError:
                    # the transaction this flush belongs to fails with it: forget its figures, or the
                    # next charge would carry them into the ledger as spent; the next write retries
                    # the slot this one broke, so the other slot stays intact
                    self._counter -= 1
                    self._data, self._dirty = copy.deepcopy(self._durable), False
                    raise
                self._durable, self._dirty = copy.deepcopy(self._data), False

    def _write(self) -> None:
        self._counter += 1
        target = self._slots[self._counter % 2]
        created = not target.exists()
        body = json.dumps({"counter": self._counter, "data": self._data}, sort_keys=True)
        text = json.dumps({"body": body, "sha256": hashlib.sha256(body.encode()).hexdigest()})
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = text.encode()
            while data:  # a full disk may take part of a write without an error: the rest then raises
                data = data[os.write(descriptor, data):]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if created:  # a new directory entry must itself survive a power cut
            directory = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)


def _read_slot(path: Path) -> tuple[int, dict[str, Any]] | None:
    """(counter, data) of one slot, or None when it is missing, torn or corrupt."""
    try:
        outer = json.loads(path.read_text(encoding="utf-8"))
        body = outer["body"]
        if hashlib.sha256(body.encode()).hexdigest() != outer["sha256"]:
            return None
        inner = json.loads(body)
        data = inner["data"]
        if not isinstance(data, dict) or "spent" not in data:
            return None
        return int(inner["counter"]), data
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"
