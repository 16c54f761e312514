"""SQL of the lender callbacks: the per-lender endpoint (sealed secret) and the delivery outbox.

A delivery is written by `ENQUEUE` (with `enqueue_params`) in the caller's transaction: one INSERT … SELECT
from the lender's endpoint row, so a lender without an endpoint, or one not subscribed to the event, costs
one round trip and writes nothing — or none of its own as a `Tx.write` ``then`` of the change it reports. Workers claim due deliveries under a lease (`authsvc.store.leases`); the outcome
of a try is written only by the claim that made it (the ``attempts`` the claim set fences it), so a worker
whose lease lapsed cannot overwrite a newer try.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, literal, or_, select, update

from authsvc.store import leases
from authsvc.store.db import Statement, Tx
from authsvc.store.schema import webhook_deliveries, webhook_endpoints

QUEUED, SENDING, DELIVERED, DEAD = "queued", "sending", "delivered", "dead"
STATUSES = (QUEUED, SENDING, DELIVERED, DEAD)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@dataclass(frozen=True)
class EndpointRow:
    id: str
    lender_id: str
    url: str
    events: tuple[str, ...] | None  # None: every event
    kek_id: str
    data_key: bytes
    secret_sealed: bytes
    previous_secret_sealed: bytes | None
    previous_until: datetime | None
    created_at: datetime
    updated_at: datetime


def events_column(events: Sequence[str] | None) -> str | None:
    """The stored form: ",a,b," so that one LIKE finds a subscriber (NULL: every event)."""
    return None if events is None else "," + ",".join(events) + ","


def _endpoint(r: Any) -> EndpointRow:
    events = None if r["events"] is None else tuple(e for e in r["events"].split(",") if e)
    return EndpointRow(
        r["id"],
        r["lender_id"],
        r["url"],
        events,
        r["kek_id"],
        bytes(r["data_key"]),
        bytes(r["secret_sealed"]),
        bytes(r["previous_secret_sealed"]) if r["previous_secret_sealed"] is not None else None,
        _utc(r["previous_until"]),
        _utc(r["created_at"]),  # type: ignore[arg-type]
        _utc(r["updated_at"]),  # type: ignore[arg-type]
    )


async def endpoint_of(tx: Tx, lender_id: str) -> EndpointRow | None:
    r = await tx.one(select(webhook_endpoints).where(webhook_endpoints.c.lender_id == lender_id))
    return None if r is None else _endpoint(r)


_BY_ID = Statement(select(webhook_endpoints).where(webhook_endpoints.c.id == bindparam("endpoint_id")))


async def endpoint_by_id(tx: Tx, endpoint_id: str) -> EndpointRow | None:
    r = await tx.one(_BY_ID, endpoint_id=endpoint_id)
    return None if r is None else _endpoint(r)


async def insert_endpoint(tx: Tx, row: EndpointRow) -> None:
    """Raises `Duplicate` when the lender has one already (two first PUTs at once)."""
    await tx.run(
        insert(webhook_endpoints).values(
            id=row.id,
            lender_id=row.lender_id,
            url=row.url,
            events=events_column(row.events),
            kek_id=row.kek_id,
            data_key=row.data_key,
            secret_sealed=row.secret_sealed,
            previous_secret_sealed=None,
            previous_until=None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
    )


async def update_endpoint(tx: Tx, endpoint_id: str, **values: Any) -> None:
    if "events" in values:
        values["events"] = events_column(values["events"])
    await tx.run(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(updated_at=datetime.now(UTC), **values)
    )


async def delete_endpoint(tx: Tx, lender_id: str) -> str | None:
    """Delete the lender's endpoint; its unsent deliveries die with it. Returns the endpoint's id."""
    row = await endpoint_of(tx, lender_id)
    if row is None:
        return None
    now = datetime.now(UTC)
    await tx.run(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.endpoint_id == row.id, webhook_deliveries.c.status.in_((QUEUED, SENDING)))
        .values(status=DEAD, last_error="endpoint_deleted", claimed_until=None, updated_at=now)
    )
    await tx.run(delete(webhook_endpoints).where(webhook_endpoints.c.id == row.id))
    return row.id


# --- the outbox ----------------------------------------------------------------------------------------

ENQUEUE = Statement(
    insert(webhook_deliveries).from_select(
        [
            "id",
            "lender_id",
            "endpoint_id",
            "event",
            "body",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "updated_at",
        ],
        select(
            bindparam("delivery_id", type_=webhook_deliveries.c.id.type),
            webhook_endpoints.c.lender_id,
            webhook_endpoints.c.id,
            bindparam("event", type_=webhook_deliveries.c.event.type),
            bindparam("body", type_=webhook_deliveries.c.body.type),
            literal(QUEUED, type_=webhook_deliveries.c.status.type),
            literal(0),
            bindparam("now", type_=webhook_deliveries.c.created_at.type),
            bindparam("now", type_=webhook_deliveries.c.created_at.type),
            bindparam("now", type_=webhook_deliveries.c.created_at.type),
        ).where(
            webhook_endpoints.c.lender_id == bindparam("lender_id"),
            or_(
                webhook_endpoints.c.events.is_(None),
                webhook_endpoints.c.events.like(bindparam("pattern"), escape="\\"),
            ),
        ),
    )
)


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def enqueue_params(
    delivery_id: str, lender_id: str, event: str, body: str, now: datetime, *, always: bool = False
) -> dict[str, Any]:
    """`ENQUEUE`'s parameters: ``body`` for the lender's endpoint if it subscribed to ``event`` (``always``:
    whatever it subscribed to, for a test ping). It writes one row, or none without such an endpoint."""
    return {
        "delivery_id": delivery_id,
        "lender_id": lender_id,
        "event": event,
        "body": body,
        "now": now,
        "pattern": "%" if always else f"%,{_like_escaped(event)},%",
    }


@dataclass(frozen=True)
class Claimed:
    id: str
    lender_id: str
    endpoint_id: str
    event: str
    body: str
    attempts: int  # including this try


_CLAIM = leases.claim_statement(
    webhook_deliveries,
    waiting=QUEUED,
    claimed=SENDING,
    returning=(
        webhook_deliveries.c.id,
        webhook_deliveries.c.lender_id,
        webhook_deliveries.c.endpoint_id,
        webhook_deliveries.c.event,
        webhook_deliveries.c.body,
        webhook_deliveries.c.attempts,
    ),
)


async def claim(tx: Tx, *, limit: int, lease_s: float) -> list[Claimed]:
    """Take up to ``limit`` due deliveries (call in its own short transaction)."""
    now = datetime.now(UTC)
    rows = await tx.all(_CLAIM, now=now, batch=limit, lease_until=now + timedelta(seconds=lease_s))
    return [Claimed(r["id"], r["lender_id"], r["endpoint_id"], r["event"], r["body"], r["attempts"]) for r in rows]


_RELEASE = leases.release_statement(webhook_deliveries, waiting=QUEUED, claimed=SENDING)


async def release(tx: Tx, claims: list[Claimed]) -> int:
    """Hand unsent claims back (a clean stop): due again at once, their try not counted; returns how many."""
    return await leases.release(tx, _RELEASE, ((c.id, c.attempts) for c in claims))


_FINISH = Statement(
    update(webhook_deliveries)
    .where(
        webhook_deliveries.c.id == bindparam("delivery_id"),
        webhook_deliveries.c.status == SENDING,
        webhook_deliveries.c.attempts == bindparam("claimed_attempts"),
    )
    .values(
        status=bindparam("new_status"),
        last_status=bindparam("http_status"),
        last_error=bindparam("error"),
        next_attempt_at=bindparam("retry_at"),
        delivered_at=bindparam("delivered_at"),
        claimed_until=None,
        updated_at=bindparam("now"),
    )
)


async def finish(
    tx: Tx,
    claimed: Claimed,
    *,
    status: str,
    http_status: int | None,
    error: str | None,
    retry_at: datetime | None = None,
) -> bool:
    """Record the outcome of the try ``claimed`` made: delivered, dead, or queued again at ``retry_at``.
    False when the claim was no longer this worker's (its lease lapsed, or the lender asked to redeliver)."""
    now = datetime.now(UTC)
    done = await tx.run(
        _FINISH,
        delivery_id=claimed.id,
        claimed_attempts=claimed.attempts,
        new_status=status,
        http_status=http_status,
        error=error[:64] if error else None,
        retry_at=retry_at or now,
        delivered_at=now if status == DELIVERED else None,
        now=now,
    )
    return done == 1


@dataclass(frozen=True)
class Delivery:
    id: str
    event: str
    status: str
    attempts: int
    body: str
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None  # None once finished
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None


def _delivery(r: Any) -> Delivery:
    finished = r["status"] in (DELIVERED, DEAD)
    return Delivery(
        r["id"],
        r["event"],
        r["status"],
        r["attempts"],
        r["body"],
        _utc(r["created_at"]),  # type: ignore[arg-type]
        _utc(r["updated_at"]),  # type: ignore[arg-type]
        None if finished else _utc(r["next_attempt_at"]),
        _utc(r["delivered_at"]),
        r["last_status"],
        r["last_error"],
    )


async def deliveries(
    tx: Tx, lender_id: str, *, status: str | None = None, event: str | None = None, limit: int = 50
) -> list[Delivery]:
    """The lender's deliveries, newest first."""
    c = webhook_deliveries.c
    query = select(webhook_deliveries).where(c.lender_id == lender_id)
    if status is not None:
        query = query.where(c.status == status)
    if event is not None:
        query = query.where(c.event == event)
    rows = await tx.all(query.order_by(c.created_at.desc(), c.id).limit(limit))
    return [_delivery(r) for r in rows]


async def delivery(tx: Tx, lender_id: str, delivery_id: str) -> Delivery | None:
    c = webhook_deliveries.c
    r = await tx.one(select(webhook_deliveries).where(c.lender_id == lender_id, c.id == delivery_id))
    return None if r is None else _delivery(r)


async def redeliver(tx: Tx, lender_id: str, delivery_id: str) -> bool:
    """Queue a delivery again now, same id and body, to the lender's current endpoint, with a fresh budget of
    tries (a try in flight, if any, no longer counts: its outcome is not recorded)."""
    c = webhook_deliveries.c
    now = datetime.now(UTC)
    done = await tx.run(
        update(webhook_deliveries)
        .where(c.lender_id == lender_id, c.id == delivery_id)
        .values(
            status=QUEUED,
            attempts=0,
            next_attempt_at=now,
            claimed_until=None,
            delivered_at=None,
            updated_at=now,
        )
    )
    return done == 1


async def purge(tx: Tx, *, older_than: timedelta) -> None:
    """Forget finished deliveries older than ``older_than``."""
    c = webhook_deliveries.c
    await tx.run(
        delete(webhook_deliveries).where(
            and_(c.updated_at < datetime.now(UTC) - older_than, c.status.in_((DELIVERED, DEAD)))
        )
    )
