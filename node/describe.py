"""The node's self-description (`Describe`): what it publishes and under which rules.

Nothing in it is computed from partner data: datasets and domains come from
node.toml, purposes and suppression from the covenant, the remaining budget
from the ledger, and data-as-of from the extract time in the config.
"""

from __future__ import annotations

import time
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Connection

from node import audit
from node.config import Dataset, NodeConfig
from node.covenant import Covenant
from node.ledger import TOTAL, Ledger, period_of, text
from node.state import StateDB, budget_totals
from regiozicht.v1 import regiozicht_pb2 as pb
from regiozicht.version import software_version

PROTOCOL_VERSION = 1
CAPABILITIES = ("count", "covenant", "audit-head", "linked-count", "linked-sets")


def build(config: NodeConfig, covenant: Covenant, ledger: Ledger, state: StateDB, now: int) -> pb.Describe:
    message = pb.Describe(
        protocol_version=PROTOCOL_VERSION,
        capabilities=list(CAPABILITIES),
        org=config.node.org,
        kind=config.node.kind,
        data_as_of=config.node.data_as_of.isoformat(),
        data_from=config.node.data_from.isoformat() if config.node.data_from else "",
        issued_at_unix=int(time.time()),
        software_version=_version(),
    )
    for dataset in config.datasets:
        message.datasets.append(dataset_message(dataset))
    with state.reading() as conn:
        for purpose in covenant.purposes:
            _, epsilon_left, delta_left = ledger.remaining(conn, purpose, now)
            message.purposes.append(pb.Purpose(
                id=purpose.id, description=purpose.description, legal_basis=purpose.legal_basis,
                datasets=sorted(purpose.datasets), wat_allowed=purpose.wat_allowed, law=purpose.law,
                allowed=[pb.PurposeDataset(dataset=name, columns=list(columns))
                         for name, columns in sorted(purpose.datasets.items())],
                epsilon_cap=purpose.epsilon_cap or "", epsilon_remaining=text(epsilon_left),
                delta_remaining=text(delta_left),
            ))
        message.budget.CopyFrom(_budget(covenant, ledger, conn, now))
        seq, head = audit.head(conn)
    for rule in covenant.suppression:
        message.suppression.append(pb.Suppression(below=rule.below, purposes=list(rule.purposes),
                                                  datasets=list(rule.datasets)))
    message.audit_seq, message.audit_head = seq, bytes.fromhex(head)
    return message


def _budget(covenant: Covenant, ledger: Ledger, conn: Connection, now: int) -> pb.Budget:
    period = period_of(covenant.budget.period, now)
    spent_e, spent_d = ledger.pool_spent(conn, period.id)
    all_e, all_d = cumulative(ledger, conn)
    return pb.Budget(
        period=period.id, epsilon_total=covenant.budget.epsilon, delta_total=covenant.budget.delta,
        epsilon_remaining=text(max(Decimal(covenant.budget.epsilon) - spent_e, Decimal(0))),
        delta_remaining=text(max(Decimal(covenant.budget.delta) - spent_d, Decimal(0))),
        renews_on=period.renews.isoformat(), epsilon_spent_all_periods=text(all_e),
        delta_spent_all_periods=text(all_d), max_epsilon_per_query=covenant.limits.max_epsilon,
        max_delta_per_query=covenant.limits.max_delta, min_epsilon_per_query=covenant.limits.min_epsilon,
    )


def cumulative(ledger: Ledger, conn: Connection) -> tuple[Decimal, Decimal]:
    """ε and δ spent over every period (high-water mark included)."""
    periods = {str(p) for (p,) in conn.execute(
        select(budget_totals.c.period).where(budget_totals.c.pot == TOTAL))}
    periods |= set(ledger.watermark.periods())
    total_e, total_d = Decimal(0), Decimal(0)
    for period in periods:
        spent_e, spent_d = ledger.pool_spent(conn, period)
        total_e, total_d = total_e + spent_e, total_d + spent_d
    return total_e, total_d


def _version() -> str:
    return software_version()


def dataset_message(dataset: Dataset) -> pb.Dataset:
    """What the catalog shows of a dataset: its public dimensions and domains, never data."""
    return pb.Dataset(
        name=dataset.name, description=dataset.description, definition_hash=dataset.definition_hash,
        measures=sorted(dataset.measures),
        dimensions=[pb.Dimension(name=name, domain=list(dim.domain), info_class=dim.info_class,
                                 description=dim.description) for name, dim in dataset.dimensions.items()],
        coverage=[pb.Coverage(dimension=name, values=list(values)) for name, values in dataset.coverage.items()])
