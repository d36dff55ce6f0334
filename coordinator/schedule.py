"""The scheduled regional monitor: the coordinator runs `monitor.toml` every period as the
monitor's service identity and publishes the site.

Each tick asks whether the current period (the newest quarter start every node holds data for)
has a stored run; if not, it runs the monitor — signed by the service identity, so nodes answer
only the query hashes their covenants list for it — stores the document in the history and
rebuilds the site. A failed run (a node offline, a budget refused) keeps the last published site,
adds a dated notice saying what failed, and is retried at the next tick. A tick in a period that
already has its run spends nothing; were the run repeated, the nodes would serve their stored
releases at no cost.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from analyst import monitor as m
from analyst import monitor_history
from analyst.client import AnalystClient, Profile
from analyst.monitor_run import default_at, newest_peildatum, run
from analyst.site import build_site
from coordinator.config import MonitorSection
from regiozicht.errors import RegiozichtError

log = logging.getLogger("analyst.monitor")


@dataclass(frozen=True)
class Tick:
    """What one tick did: `ran` a new run, found the period `current`, or `failed` with `error`."""

    outcome: str
    peildatum: dt.date | None = None
    error: str = ""
    site: Path | None = None


class MonitorSchedule:
    def __init__(self, section: MonitorSection) -> None:
        self.section = section
        self.history = section.output / "history"

    def tick(self, today: dt.date | None = None) -> Tick:
        """One scheduled check; never raises for a failed run (it is logged and shown on the site)."""
        today = today or dt.datetime.now(dt.UTC).date()
        try:
            monitor = m.load(self.section.spec)
            client = AnalystClient(Profile.load(self.section.profile))
        except RegiozichtError as exc:
            return self._failed(today, None, exc.message)
        try:
            nodes = client.catalog()
            at = default_at(nodes, today)  # the newest period every node holds data for
            peildatum = newest_peildatum(monitor, at)
            if self._stored(peildatum):
                return Tick("current", peildatum)
            log.info("monitor: running for the period of %s as %s", peildatum, client.identity)
            monitor_history.save(run(client, monitor, nodes, at), self.history)
        except RegiozichtError as exc:
            return self._failed(today, None, exc.message)
        finally:
            client.close()
        site = build_site(monitor_history.load_all(self.history), self.section.output)
        log.info("monitor: period %s published at %s", peildatum, site)
        return Tick("ran", peildatum, site=site)

    def _stored(self, peildatum: dt.date) -> bool:
        return monitor_history.path_for(self.history, peildatum.isoformat()).exists()

    def _failed(self, today: dt.date, peildatum: dt.date | None, error: str) -> Tick:
        log.error("monitor: the scheduled run failed: %s (the last published site stays; retried next tick)", error)
        notice = f"De bijwerking van {today:%d-%m-%Y} is mislukt: {error} De cijfers hieronder zijn van de vorige run."
        documents = monitor_history.load_all(self.history)
        site = build_site(documents, self.section.output, notice=notice) if documents else None
        return Tick("failed", peildatum, error=error, site=site)

    def run_forever(self, stop: threading.Event) -> None:
        """Ticks every `check_every_seconds` until `stop` is set (the first tick at once)."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the coordinator keeps serving whatever the monitor does
                log.exception("monitor: a tick failed unexpectedly; retried next tick")
            stop.wait(self.section.check_every_seconds)


def start(section: MonitorSection) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=MonitorSchedule(section).run_forever, args=(stop,), name="monitor",
                              daemon=True)
    thread.start()
    return thread, stop
