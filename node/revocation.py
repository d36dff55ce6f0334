"""The node's revocation list, independent of the coordinator.

The coordinator passes the CA's newest list on, but it may withhold a new one or, after a
restart, send an older one. So the node keeps the newest list it ever accepted in its own state
and loads it at start, loads a local copy if its config names one, and refuses any list older than
the newest it has seen, whoever sends it. A covenant may shorten how old a list may get
(`[limits] crl_max_age_hours`): past that, or past the list's nextUpdate, the node refuses queries
until a newer list arrives — the window in which a revoked certificate can still be used here.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, insert, select

from node.state import StateDB, revocation_lists
from regiozicht.errors import RegiozichtError
from regiozicht.pemfiles import read_file
from regiozicht.truststore import TrustStore

log = logging.getLogger("node.revocation")


class Revocation:
    def __init__(self, trust: TrustStore, state: StateDB, max_age_hours: float | None = None) -> None:
        self.trust, self.state = trust, state
        if max_age_hours is not None:
            trust.max_crl_age = dt.timedelta(hours=max_age_hours)

    def restore(self, local_copy: Path | None) -> None:
        """At start: the newest list accepted before, then the local copy if it is not older."""
        with self.state.reading() as conn:
            newest = conn.execute(select(func.max(revocation_lists.c.number))).scalar()
            if newest is not None:
                stored = conn.execute(select(revocation_lists.c.crl).where(revocation_lists.c.number == newest)).scalar()
                self.trust.update_crl(str(stored).encode())
        if local_copy is not None:
            try:
                self.accept(read_file(local_copy, "revocation list"))
            except RegiozichtError as exc:
                log.warning("the local revocation list %s is not used: %s", local_copy, exc.message)

    def accept(self, crl: bytes) -> None:
        """A list from the coordinator or a file: loaded and kept if it is the CA's and not older than the
        newest seen. Raises AuthenticationFailed otherwise (the loaded list stays)."""
        self.trust.update_crl(crl)
        loaded = self.trust.crl
        assert loaded is not None
        number = self.trust.crl_number
        with self.state.transaction() as tx:
            known = tx.execute(select(revocation_lists.c.number).where(revocation_lists.c.number == number)).first()
            if known is None:
                pem = loaded.public_bytes(serialization.Encoding.PEM).decode()
                tx.execute(insert(revocation_lists).values(number=number, crl=pem))
