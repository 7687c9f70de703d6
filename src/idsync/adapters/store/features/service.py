"""Tables of `idsync serve` when several instances share one store (PostgreSQL).

- `service_instances`: who is alive (heartbeats), for the budget split and for operators; with
  each heartbeat, what the instance reports of itself (`status`, JSON: its Kafka partitions and
  their lag), so every instance's dashboard shows the whole fleet.
- `budget_shares`: per IdP rate-limit bucket, the calls per window each instance may make. The
  sum over live instances never exceeds the bucket's budget (see idsync.domain.budget).
- `budget_pools`: one row per bucket: the budget, and the row every instance locks while it
  changes its share, so two instances never hand out the same calls.
- `service_leases`: named roles that one instance at a time holds (the results publisher).
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, Float, Integer, String, Table, Text

from idsync.adapters.store.schema import metadata, register

service_instances = Table(
    "service_instances",
    metadata,
    Column("instance", String(100), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("status", Text),  # JSON: {"kafka": {"connected": ..., "lag": {"topic:partition": n}}}
)

budget_pools = Table(
    "budget_pools",
    metadata,
    Column("idp", String(100), primary_key=True),
    Column("bucket", String(100), primary_key=True),
    Column("budget", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

budget_shares = Table(
    "budget_shares",
    metadata,
    Column("idp", String(100), primary_key=True),
    Column("bucket", String(100), primary_key=True),
    Column("instance", String(100), primary_key=True),
    Column("allowance", Integer, nullable=False),
    Column("sent", Integer, nullable=False),
    Column("demand_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)

service_leases = Table(
    "service_leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("owner", String(100), nullable=False),
    Column("lease_until", Float, nullable=False),
)


def _create(conn: Connection) -> None:
    for table in (service_instances, budget_pools, budget_shares, service_leases):
        table.create(conn, checkfirst=True)


register("service_0001", "service: instances, budget pools and shares, leases", _create)


def _status_column(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE service_instances ADD COLUMN status TEXT")


register(
    "service_0002",
    "service_instances.status: what each instance reports with its heartbeat (Kafka lag)",
    _status_column,
)
