"""Queueing a callback in the transaction that caused it: the event reaches the lender if and only if the
change commits, and survives a restart (the worker sends it from the table)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from authsvc.store import webhooks as store
from authsvc.store.db import Tx
from authsvc.webhooks.events import EVENTS, PING


def payload(delivery_id: str, event: str, created_at: datetime, data: Mapping[str, Any]) -> str:
    """The JSON body posted for a delivery (stored once, so every retry sends the same bytes)."""
    document = {"id": delivery_id, "event": event, "created_at": created_at.isoformat(), "data": dict(data)}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=str)


async def enqueue(tx: Tx, lender_id: str, event: str, data: Mapping[str, Any]) -> None:
    """Queue ``event`` with ``data`` for the lender's endpoint, in the caller's transaction; nothing when the
    lender has no endpoint or does not subscribe to ``event``. ``data`` holds identifiers and states, never
    personal data (it is stored and posted as it is). Raises ValueError for an event not in `EVENTS`."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    await _queue(tx, lender_id, event, data)


async def enqueue_ping(tx: Tx, lender_id: str) -> str | None:
    """Queue a test delivery whatever the endpoint subscribed to; its id, or None without an endpoint."""
    return await _queue(tx, lender_id, PING, {"lender_id": lender_id}, always=True)


async def _queue(tx: Tx, lender_id: str, event: str, data: Mapping[str, Any], *, always: bool = False) -> str | None:
    delivery_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    body = payload(delivery_id, event, now, data)
    written = await store.enqueue_if_subscribed(tx, delivery_id, lender_id, event, body, now, always=always)
    return delivery_id if written else None
