"""The ledger's high-water mark: a small file beside (not inside) the state database.

Restoring a backup of the state database must never give budget back, and
setting the clock back must never reopen an old period. The state database
alone cannot guarantee either, because a backup holds an old copy of it. So
every charge also raises this file — written atomically and fsync'ed before
the charging transaction commits (once per group-committed batch, see
node/state.py) — and the ledger always uses the higher of
the database's and the file's figures. Keep this file out of the backup set
of the state database (or restore it from the newest copy only).
"""

from __future__ import annotations

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
        self._data: dict[str, Any] = self._read()
        self._dirty = False

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"spent": {}, "latest_period_start": "", "last_seen_unix": 0, "audit_seq": 0}
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"The ledger's high-water mark {self.path} cannot be read ({exc}); restore it from its newest copy."
            ) from None
        if not isinstance(data, dict) or "spent" not in data:
            raise ConfigError(f"The ledger's high-water mark {self.path} is malformed; restore it from its newest copy.")
        return data

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
                self._write()
                self._dirty = False

    def _write(self) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(self._data, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a power cut
        finally:
            os.close(directory)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"
