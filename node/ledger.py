"""The privacy-budget ledger: one pool per node per period, exact decimal sums.

Pots: "*" is the node's whole pool for the period; a purpose with an
`epsilon_cap` (or `delta_cap`) has its own pot of that size, kept for it;
all other purposes share what is left ("shared"). A charge must fit its pot
and the whole pool, in ε and in δ. Amounts are decimal strings and are added
with `Decimal`, never floats. Charges are keyed by query id (or linked-run
id), so one id is never charged twice. Periods never go backwards, and the
high-water mark file keeps the highest spent figure across a restored backup.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from node.covenant import Covenant, Purpose
from node.state import StateDB, budget_totals, ledger_charges, ledger_meta
from node.watermark import Watermark
from regiozicht.errors import BudgetExhausted, ConfigError

decimal.getcontext().prec = 60  # sums of many small ε stay exact
TOTAL, SHARED = "*", "shared"
PAIR = "pair:"  # + partner org: what one partner has spent linking against this node

# built once: these run on every release, and building expressions costs more than running them
_POT = (budget_totals.c.period == bindparam("b_period")) & (budget_totals.c.pot == bindparam("b_pot"))
_SELECT_POT = select(budget_totals.c.epsilon_spent, budget_totals.c.delta_spent).where(_POT)
_SELECT_POT_FOR_UPDATE = _SELECT_POT.with_for_update()
_INSERT_POT = insert(budget_totals).values(period=bindparam("b_period"), pot=bindparam("b_pot"), epsilon_spent="0",
                                           delta_spent="0", updates=0)
_UPDATE_POT = update(budget_totals).where(_POT).values(
    epsilon_spent=bindparam("b_epsilon"), delta_spent=bindparam("b_delta"), updates=budget_totals.c.updates + 1)
_CHARGED = select(ledger_charges.c.charge_id).where(ledger_charges.c.charge_id == bindparam("b_charge_id"))
_INSERT_CHARGE = insert(ledger_charges).values(
    charge_id=bindparam("b_charge_id"), kind=bindparam("b_kind"), period=bindparam("b_period"),
    purpose=bindparam("b_purpose"), epsilon=bindparam("b_epsilon"), delta=bindparam("b_delta"), status="charged",
    charged_at=bindparam("b_charged_at"))
_SELECT_META = select(ledger_meta.c.value).where(ledger_meta.c.key == bindparam("b_key"))


@dataclass(frozen=True)
class Period:
    id: str
    start: dt.date
    renews: dt.date


def period_of(kind: str, moment: int) -> Period:
    """The budget period (UTC calendar) holding a moment."""
    day = dt.datetime.fromtimestamp(moment, dt.UTC).date()
    if kind == "calendar-year":
        return Period(str(day.year), dt.date(day.year, 1, 1), dt.date(day.year + 1, 1, 1))
    if kind == "calendar-quarter":
        quarter = (day.month - 1) // 3
        start = dt.date(day.year, 3 * quarter + 1, 1)
        renews = dt.date(day.year + 1, 1, 1) if quarter == 3 else dt.date(day.year, 3 * quarter + 4, 1)
        return Period(f"{day.year}-Q{quarter + 1}", start, renews)
    start = dt.date(day.year, day.month, 1)
    renews = dt.date(day.year + 1, 1, 1) if day.month == 12 else dt.date(day.year, day.month + 1, 1)
    return Period(f"{day.year}-{day.month:02d}", start, renews)


def text(value: Decimal) -> str:
    """Shortest plain decimal string of an amount."""
    return format(value.normalize(), "f") if value else "0"


class Ledger:
    def __init__(self, state: StateDB, covenant: Covenant, watermark: Watermark, org: str) -> None:
        self.state = state
        self.covenant = covenant
        self.watermark = watermark
        state.before_commit(watermark.flush)  # the mark reaches the disk before any charge commits
        self.org = org

    # -- pots -----------------------------------------------------------------

    def pots(self, purpose: Purpose) -> tuple[str, str]:
        """The pots a purpose's ε and δ are drawn from."""
        return (purpose.id if purpose.epsilon_cap is not None else SHARED,
                purpose.id if purpose.delta_cap is not None else SHARED)

    def limit(self, pot: str) -> tuple[Decimal, Decimal]:
        budget = self.covenant.budget
        if pot.startswith(PAIR):
            linked = self.covenant.linked
            return (Decimal(linked.pair_epsilon or budget.epsilon), Decimal(linked.pair_delta or budget.delta))
        if pot == TOTAL:
            return Decimal(budget.epsilon), Decimal(budget.delta)
        if pot == SHARED:
            eps_caps = sum((Decimal(p.epsilon_cap) for p in self.covenant.purposes if p.epsilon_cap), Decimal(0))
            delta_caps = sum((Decimal(p.delta_cap) for p in self.covenant.purposes if p.delta_cap), Decimal(0))
            return Decimal(budget.epsilon) - eps_caps, Decimal(budget.delta) - delta_caps
        purpose = self.covenant.purpose(pot)
        assert purpose is not None
        return Decimal(purpose.epsilon_cap or "0"), Decimal(purpose.delta_cap or "0")

    def _spent(self, tx: Connection, period: str, pot: str, *, lock: bool) -> tuple[Decimal, Decimal]:
        key = {"b_period": period, "b_pot": pot}
        # FOR UPDATE locks the row on PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock
        row = tx.execute(_SELECT_POT_FOR_UPDATE if lock else _SELECT_POT, key).first()
        if row is None and lock:
            tx.execute(_INSERT_POT, key)
        db = (Decimal(row[0]), Decimal(row[1])) if row else (Decimal(0), Decimal(0))
        mark = self.watermark.spent(period, pot)
        return max(db[0], mark[0]), max(db[1], mark[1])

    # -- the clock --------------------------------------------------------------

    def _meta(self, tx: Connection, key: str) -> str:
        return str(tx.execute(_SELECT_META, {"b_key": key}).scalar() or "")

    def _set_meta(self, tx: Connection, key: str, value: str) -> None:
        if tx.execute(update(ledger_meta).where(ledger_meta.c.key == key).values(value=value)).rowcount == 0:
            tx.execute(insert(ledger_meta).values(key=key, value=value))

    def advance_clock(self, tx: Connection, now: int) -> Period:
        """The current period; refuses a clock that went back into an earlier period."""
        period = period_of(self.covenant.budget.period, now)
        latest = max(self._meta(tx, "latest_period_start"), self.watermark.latest_period_start)
        if latest and period.start.isoformat() < latest:
            raise ConfigError(
                f"This node's clock says {dt.datetime.fromtimestamp(now, dt.UTC):%Y-%m-%d}, before the "
                f"budget period starting {latest} it has already used; its IT staff must correct the clock "
                "(an old period's budget is never reopened).")
        if period.start.isoformat() != latest:
            self._set_meta(tx, "latest_period_start", period.start.isoformat())
        return period

    # -- charging ---------------------------------------------------------------

    def charge(self, tx: Connection, *, charge_id: str, kind: str, purpose: Purpose, epsilon: Decimal,
               delta: Decimal, now: int, audit_seq: int = 0, partner: str | None = None, pool: bool = True) -> bool:
        """Charges once per id; False when the id was already charged. Raises BudgetExhausted.

        A linked run names its `partner`: what one partner spends linking against this
        node has its own ceiling per period (the covenant's `[linked] pair_epsilon`).
        `pool` False charges only that pair budget (a split query's run: the anchor's pool pays
        once for the whole query, under its own charge id)."""
        period = self.advance_clock(tx, now)
        if tx.execute(_CHARGED, {"b_charge_id": charge_id}).first():
            return False
        figures = self._figures(tx, period, purpose, epsilon, delta, partner, lock=True, pool=pool)
        for pot, (spent_e, spent_d) in figures.items():
            tx.execute(_UPDATE_POT, {"b_period": period.id, "b_pot": pot, "b_epsilon": text(spent_e),
                                     "b_delta": text(spent_d)})
        tx.execute(_INSERT_CHARGE, {"b_charge_id": charge_id, "b_kind": kind, "b_period": period.id,
                                    "b_purpose": purpose.id, "b_epsilon": text(epsilon), "b_delta": text(delta),
                                    "b_charged_at": now})
        # before the commit: the mark may run ahead of the database, never behind it
        self.watermark.record(period.id, figures, period_start=period.start.isoformat(), now=now, audit_seq=audit_seq)
        return True

    def _figures(self, tx: Connection, period: Period, purpose: Purpose, epsilon: Decimal, delta: Decimal,
                 partner: str | None, *, lock: bool, pool: bool = True) -> dict[str, tuple[Decimal, Decimal]]:
        """Every pot's spent figures after this charge; raises BudgetExhausted if one would overflow."""
        eps_pot, delta_pot = self.pots(purpose)
        pair = PAIR + partner if partner else None
        figures: dict[str, tuple[Decimal, Decimal]] = {}
        pools = {TOTAL, eps_pot, delta_pot} if pool else set()
        for pot in sorted(pools | ({pair} if pair else set())):  # fixed lock order
            spent_e, spent_d = self._spent(tx, period.id, pot, lock=lock)
            figures[pot] = (spent_e + (epsilon if pot in (TOTAL, eps_pot, pair) else 0),
                            spent_d + (delta if pot in (TOTAL, delta_pot, pair) else 0))
        checks = [(TOTAL, 0, epsilon), (eps_pot, 0, epsilon), (TOTAL, 1, delta), (delta_pot, 1, delta)] if pool else []
        if pair:
            checks += [(pair, 0, epsilon), (pair, 1, delta)]
        for pot, index, amount in checks:
            if figures[pot][index] > self.limit(pot)[index]:
                self._refuse(period, purpose, pot, index, amount, figures[pot][index] - amount)
        return figures

    def check_affordable(self, purpose: Purpose, epsilon: Decimal, delta: Decimal, partner: str, now: int) -> None:
        """Refuses, charging nothing, a linked run this node could not pay now: checked before the node
        tells its peer it is ready, so a budget refusal costs the peer nothing either (barring a
        concurrent spend in between, which the charge itself still refuses)."""
        with self.state.reading() as conn:
            self._figures(conn, period_of(self.covenant.budget.period, now), purpose, epsilon, delta, partner,
                          lock=False)

    def _refuse(self, period: Period, purpose: Purpose, pot: str, index: int, amount: Decimal,
                spent: Decimal) -> None:
        symbol = "ε" if index == 0 else "δ"
        left = max(self.limit(pot)[index] - spent, Decimal(0))
        scope = ("in total" if pot == TOTAL else f"for linking with {pot.removeprefix(PAIR)}" if pot.startswith(PAIR)
                 else "for purpose " + purpose.id if pot == purpose.id else "for purposes without a cap of their own")
        raise BudgetExhausted(
            f"Node {self.org} has {symbol} {text(left)} of {text(self.limit(pot)[index])} left {scope} in budget "
            f"period {period.id} and this release needs {text(amount)}; ask with a smaller ε or wait until the "
            f"budget renews on {period.renews.isoformat()}.")

    def refund(self, tx: Connection, charge_id: str, now: int) -> None:
        """Gives back a query charge whose computation failed before any noise was drawn."""
        row = tx.execute(select(ledger_charges).where(ledger_charges.c.charge_id == charge_id,
                                                      ledger_charges.c.status == "charged",
                                                      ledger_charges.c.kind == "query")).first()
        if row is None:
            return
        purpose = self.covenant.purpose(row.purpose)
        eps_pot, delta_pot = self.pots(purpose) if purpose else (SHARED, SHARED)
        epsilon, delta = Decimal(row.epsilon), Decimal(row.delta)
        figures = {}
        for pot in sorted({TOTAL, eps_pot, delta_pot}):
            spent_e, spent_d = self._spent(tx, row.period, pot, lock=True)
            figures[pot] = (spent_e - (epsilon if pot in (TOTAL, eps_pot) else 0),
                            spent_d - (delta if pot in (TOTAL, delta_pot) else 0))
            tx.execute(update(budget_totals).where(budget_totals.c.period == row.period, budget_totals.c.pot == pot)
                       .values(epsilon_spent=text(figures[pot][0]), delta_spent=text(figures[pot][1])))
        tx.execute(update(ledger_charges).where(ledger_charges.c.charge_id == charge_id).values(status="refunded"))
        self.watermark.record(row.period, figures, period_start="", now=now, audit_seq=0)

    # -- reading ----------------------------------------------------------------

    def remaining(self, conn: Connection, purpose: Purpose, now: int) -> tuple[Period, Decimal, Decimal]:
        """What a purpose may still spend this period: the smaller of its pot and the pool."""
        period = period_of(self.covenant.budget.period, now)
        eps_pot, delta_pot = self.pots(purpose)
        total = self._spent(conn, period.id, TOTAL, lock=False)
        pot_e = self._spent(conn, period.id, eps_pot, lock=False)[0]
        pot_d = self._spent(conn, period.id, delta_pot, lock=False)[1]
        limit_total = self.limit(TOTAL)
        epsilon = min(limit_total[0] - total[0], self.limit(eps_pot)[0] - pot_e)
        delta = min(limit_total[1] - total[1], self.limit(delta_pot)[1] - pot_d)
        return period, max(epsilon, Decimal(0)), max(delta, Decimal(0))

    def pool_spent(self, conn: Connection, period: str) -> tuple[Decimal, Decimal]:
        return self._spent(conn, period, TOTAL, lock=False)

    # -- linked runs ------------------------------------------------------------

    def spent_by_purpose(self, conn: Connection) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        """(period, purpose) → ε and δ charged, from the charges themselves (for reports)."""
        totals: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        rows = conn.execute(select(ledger_charges.c.period, ledger_charges.c.purpose, ledger_charges.c.epsilon,
                                   ledger_charges.c.delta).where(ledger_charges.c.status == "charged"))
        for period, purpose, epsilon, delta in rows:
            spent_e, spent_d = totals.get((period, purpose), (Decimal(0), Decimal(0)))
            totals[(period, purpose)] = (spent_e + Decimal(epsilon), spent_d + Decimal(delta))
        return totals

    # -- failed linked runs ---------------------------------------------------------

    def record_failed_run(self, partner: str, now: int) -> int:
        """Counts a failed or aborted linked run with `partner` in this period (it stays charged);
        returns the period's count so far."""
        period = period_of(self.covenant.budget.period, now)
        key = f"failed-runs:{period.id}:{partner}"
        with self.state.transaction() as tx:
            count = int(self._meta(tx, key) or "0") + 1
            self._set_meta(tx, key, str(count))
        return count

    def failed_runs(self, conn: Connection, period: str) -> dict[str, int]:
        """partner → failed or aborted linked runs in `period`."""
        prefix = f"failed-runs:{period}:"
        rows = conn.execute(select(ledger_meta.c.key, ledger_meta.c.value).where(ledger_meta.c.key.like(prefix + "%")))
        return {key.removeprefix(prefix): int(value) for key, value in rows}

    def pair_spent(self, conn: Connection, period: str) -> dict[str, tuple[Decimal, Decimal]]:
        """partner → ε and δ it has spent linking against this node in `period`."""
        rows = conn.execute(select(budget_totals.c.pot).where(budget_totals.c.period == period,
                                                             budget_totals.c.pot.like(PAIR + "%")))
        return {pot.removeprefix(PAIR): self._spent(conn, period, pot, lock=False) for (pot,) in rows}
