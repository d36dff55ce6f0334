"""Certificates and revocation lists run out: warn ahead of time, in the log of whoever holds them.

Certificates live 30 days (`regiozicht pki sign --days`) and revocation lists 7 (`pki crl --days`);
a node and the coordinator log a warning when their certificate has less than 14 days left or the
revocation list they hold passes its nextUpdate within 2 days, at start, when either is (re)loaded
and every 12 hours.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable

from cryptography import x509

CERTIFICATE_WARNING = dt.timedelta(days=14)
CRL_WARNING = dt.timedelta(days=2)
WARN_EVERY_SECONDS = 12 * 3600.0


def _due(deadline: dt.datetime, ahead: dt.timedelta, now: dt.datetime | None) -> tuple[dt.timedelta, str] | None:
    """(time left, the deadline as shown) when `deadline` is less than `ahead` away (or past), else None."""
    left = deadline - (now or dt.datetime.now(dt.UTC))
    return None if left >= ahead else (left, f"{deadline:%Y-%m-%d %H:%M} UTC")


def certificate_warning(certificate: x509.Certificate, whose: str, now: dt.datetime | None = None) -> str | None:
    """One sentence when `certificate` expires within 14 days (or has), else None."""
    due = _due(certificate.not_valid_after_utc, CERTIFICATE_WARNING, now)
    if due is None:
        return None
    left, when = due
    if left <= dt.timedelta(0):
        return f"{whose} certificate expired at {when}; renew it now (`regiozicht-node renew` on a node)."
    return (f"{whose} certificate expires at {when} ({left.days} day(s) left); renew it "
            "(`regiozicht-node renew` on a node, `regiozicht pki request` elsewhere) and have the CA operator sign it.")


def crl_warning(crl: x509.CertificateRevocationList | None, now: dt.datetime | None = None) -> str | None:
    """One sentence when the revocation list passes its nextUpdate within 2 days (or has), else None."""
    if crl is None or crl.next_update_utc is None:
        return None
    due = _due(crl.next_update_utc, CRL_WARNING, now)
    if due is None:
        return None
    left, when = due
    if left <= dt.timedelta(0):
        return f"the revocation list expired at {when}; nodes refuse queries until the CA operator runs `regiozicht pki crl`."
    return f"the revocation list expires at {when}; ask the CA operator for a fresh `regiozicht pki crl`."


class ExpiryWatch:
    """Logs the warnings of `check()` now and every `every` seconds, until stopped."""

    def __init__(self, check: Callable[[], Iterable[str | None]], log: logging.Logger,
                 every: float = WARN_EVERY_SECONDS) -> None:
        self.check, self.log, self.every = check, log, every
        self.stopping = threading.Event()

    def warn_now(self) -> None:
        try:
            for warning in self.check():
                if warning:
                    self.log.warning("%s", warning)
        except Exception:  # a warning must never take the service down
            self.log.exception("could not check certificate and revocation list lifetimes")

    def start(self) -> ExpiryWatch:
        def run() -> None:
            self.warn_now()
            while not self.stopping.wait(self.every):
                self.warn_now()

        threading.Thread(target=run, daemon=True, name="expiry-watch").start()
        return self
