"""Timing counters: how much of answering is spent in the ledger and audit transactions.

`bench/ledger.py` reads the summary line the node logs when it stops.
"""

from __future__ import annotations

import threading


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answers = 0
        self.answer_seconds = 0.0
        self.ledger_seconds = 0.0

    def add_answer(self, seconds: float) -> None:
        with self._lock:
            self.answers += 1
            self.answer_seconds += seconds

    def add_ledger(self, seconds: float) -> None:
        with self._lock:
            self.ledger_seconds += seconds

    def summary(self) -> str:
        with self._lock:
            share = self.ledger_seconds / self.answer_seconds if self.answer_seconds else 0.0
            return (f"timing answers={self.answers} answer_seconds={self.answer_seconds:.4f} "
                    f"ledger_audit_seconds={self.ledger_seconds:.4f} ledger_share={share:.4f}")
