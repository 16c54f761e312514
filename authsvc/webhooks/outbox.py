"""Queueing a callback in the transaction that caused it: the event reaches the lender if and only if the
change commits, and survives a restart (the worker sends it from the table)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authsvc.store import webhooks as store
from authsvc.store.db import Statement, Tx
from authsvc.webhooks.events import EVENTS, PING


def payload(delivery_id: str, event: str, created_at: datetime, data: Mapping[str, Any]) -> str:
    """The JSON body posted for a delivery (stored once, so every retry sends the same bytes)."""
    document = {"id": delivery_id, "event": event, "created_at": created_at.isoformat(), "data": dict(data)}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Queued:
    """A callback to queue with another write (``Tx.write(..., then=[queued.statement], **queued.params)``),
    so the event and the change it reports are one statement: the delivery exists iff the change does."""

    delivery_id: str
    statement: Statement
    params: dict[str, Any]


def queued(lender_id: str, event: str, data: Mapping[str, Any]) -> Queued:
    """``event`` with ``data`` for the lender's endpoint, not yet run; ValueError for an event not in `EVENTS`."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    return _prepared(lender_id, event, data)


async def enqueue(tx: Tx, lender_id: str, event: str, data: Mapping[str, Any]) -> None:
    """Queue ``event`` with ``data`` for the lender's endpoint, in the caller's transaction; nothing when the
    lender has no endpoint or does not subscribe to ``event``. ``data`` holds identifiers and states, never
    personal data (it is stored and posted as it is). Raises ValueError for an event not in `EVENTS`."""
    delivery = queued(lender_id, event, data)
    await tx.run(delivery.statement, **delivery.params)


async def enqueue_ping(tx: Tx, lender_id: str) -> str | None:
    """Queue a test delivery whatever the endpoint subscribed to; its id, or None without an endpoint."""
    delivery = _prepared(lender_id, PING, {"lender_id": lender_id}, always=True)
    return delivery.delivery_id if await tx.run(delivery.statement, **delivery.params) == 1 else None


def _prepared(lender_id: str, event: str, data: Mapping[str, Any], *, always: bool = False) -> Queued:
    delivery_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    body = payload(delivery_id, event, now, data)
    params = store.enqueue_params(delivery_id, lender_id, event, body, now, always=always)
    return Queued(delivery_id, store.ENQUEUE, params)
