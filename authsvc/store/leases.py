"""Claiming due rows of an outbox table under a lease, safe across service processes.

An outbox table has ``id``, ``status``, ``attempts``, ``next_attempt_at`` and ``claimed_until``. A row is due
when it is waiting (``waiting`` status, ``next_attempt_at`` passed) or when a claim on it lapsed (``claimed``
status, ``claimed_until`` passed: the worker holding it died). One UPDATE over a ``FOR UPDATE SKIP LOCKED``
sub-select takes a batch on PostgreSQL, so the workers of several processes never take the same row at once;
SQLite ignores FOR UPDATE and serialises the claimers with BEGIN IMMEDIATE. Used by the SMS outbox
(`authsvc.store.outbox`) and the webhook outbox (`authsvc.store.webhooks`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Table, and_, bindparam, or_, select, update

from authsvc.store.db import Statement


def due(table: Table, *, waiting: str, claimed: str) -> Any:
    now: BindParameter[datetime] = bindparam("now")
    c = table.c
    return or_(
        and_(c.status == waiting, c.next_attempt_at <= now),
        and_(c.status == claimed, c.claimed_until < now),
    )


def claim_statement(table: Table, *, waiting: str, claimed: str, returning: tuple[Any, ...]) -> Statement:
    """``UPDATE … SET status=claimed, attempts=attempts+1, claimed_until=:lease_until`` over up to ``:batch``
    due rows, oldest due first, returning ``returning``. Parameters: ``now``, ``batch``, ``lease_until``."""
    claimable = (
        select(table.c.id)
        .where(due(table, waiting=waiting, claimed=claimed))
        .order_by(table.c.next_attempt_at)
        .limit(bindparam("batch"))
        .with_for_update(skip_locked=True)
    )
    return Statement(
        update(table)
        .where(table.c.id.in_(claimable.scalar_subquery()), due(table, waiting=waiting, claimed=claimed))
        .values(
            status=claimed,
            attempts=table.c.attempts + 1,
            claimed_until=bindparam("lease_until"),
            updated_at=bindparam("now"),
        )
        .returning(*returning)
    )
