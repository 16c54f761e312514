"""The SMS outbox: messages written in the request's transaction, sent later by a worker task.

The phone number and text are sealed under each row's own data key (the text may hold a live code).
Workers in any number of processes claim due rows under a lease (`authsvc.store.leases`), so a message is
handed to one worker at a time; a claim lapses after its lease, so a worker that died does not strand its rows.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update

from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.store import leases
from authsvc.store.db import Insert, Statement, Tx
from authsvc.store.errors import Duplicate
from authsvc.store.schema import sms_outbox

FIELD = "sms"
QUEUED, SENDING, SENT, DELIVERED, FAILED = "queued", "sending", "sent", "delivered", "failed"
VOICE_CODE = "voice_otp"  # a code read out by a verification call; its "text" is the digits


@dataclass(frozen=True)
class Claimed:
    id: str
    kind: str
    attempts: int
    to: str
    text: str
    not_after: datetime | None  # a code past its lifetime is not worth sending
    skip_gateway: str | None  # the gateway whose receipt said "failed"


@dataclass(frozen=True)
class OutboxState:
    id: str
    kind: str
    status: str
    attempts: int
    gateway: str | None
    message_id: str | None
    error: str | None


async def enqueue(
    tx: Tx,
    keys: KeyStore,
    kind: str,
    to: str,
    text: str,
    *,
    not_after: datetime | None = None,
    message_id: str | None = None,
) -> str:
    """Queue ``text`` for ``to`` (E.164) in the caller's transaction; returns the message's id.
    With ``message_id`` given, a second message under the same id is not queued (`Duplicate`)."""
    message_id = message_id or str(uuid.uuid4())
    cipher, wrapped = await RecordCipher.anew(keys, message_id)
    payload: dict[str, Any] = {"to": to, "text": text, "not_after": not_after.isoformat() if not_after else None}
    now = datetime.now(UTC)
    values = {
        "id": message_id,
        "kind": kind,
        "status": QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "kek_id": wrapped.kek_id,
        "data_key": wrapped.wrapped,
        "payload_sealed": cipher.seal_json(FIELD, payload),
        "created_at": now,
        "updated_at": now,
    }
    await tx.write([Insert(sms_outbox, values)])
    return message_id


async def enqueue_once(tx: Tx, keys: KeyStore, message_id: str, kind: str, to: str, text: str) -> bool:
    """Queue under a caller-chosen id unless a message with that id exists; True when queued now."""
    if await state(tx, message_id) is not None:
        return False
    try:
        async with tx.savepoint():
            await enqueue(tx, keys, kind, to, text, message_id=message_id)
    except Duplicate:
        return False
    return True


_CLAIM = leases.claim_statement(
    sms_outbox,
    waiting=QUEUED,
    claimed=SENDING,
    returning=(
        sms_outbox.c.id,
        sms_outbox.c.kind,
        sms_outbox.c.attempts,
        sms_outbox.c.kek_id,
        sms_outbox.c.data_key,
        sms_outbox.c.payload_sealed,
        sms_outbox.c.gateway,
        sms_outbox.c.error,
    ),
)


async def claim(tx: Tx, keys: KeyStore, *, limit: int, lease_s: float) -> list[Claimed]:
    """Take up to ``limit`` due messages for sending (call in its own short transaction)."""
    now = datetime.now(UTC)
    rows = await tx.all(_CLAIM, now=now, batch=limit, lease_until=now + timedelta(seconds=lease_s))
    out = []
    # The data keys unwrapped together: one trip to the key store's device where it batches them.
    ciphers = await asyncio.gather(
        *(RecordCipher.aopen(keys, r["id"], WrappedKey(r["kek_id"], bytes(r["data_key"]))) for r in rows)
    )
    for r, cipher in zip(rows, ciphers, strict=True):
        payload = cipher.unseal_json(FIELD, bytes(r["payload_sealed"]))
        not_after = datetime.fromisoformat(payload["not_after"]) if payload.get("not_after") else None
        skip = r["gateway"] if r["error"] == "receipt_failed" else None
        out.append(Claimed(r["id"], r["kind"], r["attempts"], payload["to"], payload["text"], not_after, skip))
    return out


_RELEASE = leases.release_statement(sms_outbox, waiting=QUEUED, claimed=SENDING)


async def release(tx: Tx, claims: list[Claimed]) -> int:
    """Hand unsent claims back (a clean stop): due again at once, their try not counted; returns how many."""
    return await leases.release(tx, _RELEASE, ((c.id, c.attempts) for c in claims))


_FINISH = Statement(
    update(sms_outbox)
    .where(sms_outbox.c.id == bindparam("outbox_id"))
    .values(
        status=bindparam("new_status"),
        error=bindparam("new_error"),
        claimed_until=None,
        updated_at=bindparam("now"),
        gateway=func.coalesce(bindparam("new_gateway", type_=sms_outbox.c.gateway.type), sms_outbox.c.gateway),
        message_id=func.coalesce(
            bindparam("gateway_message_id", type_=sms_outbox.c.message_id.type), sms_outbox.c.message_id
        ),
        next_attempt_at=func.coalesce(
            bindparam("retry_at", type_=sms_outbox.c.next_attempt_at.type), sms_outbox.c.next_attempt_at
        ),
    )
)


async def finish(
    tx: Tx,
    message_id: str,
    *,
    status: str,
    gateway: str | None = None,
    gateway_message_id: str | None = None,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Record the outcome of a send attempt: sent, failed for good, or queued again at ``retry_at``."""
    await tx.run(
        _FINISH,
        outbox_id=message_id,
        new_status=status,
        new_error=error,
        now=datetime.now(UTC),
        new_gateway=gateway,
        gateway_message_id=gateway_message_id if gateway is not None else None,
        retry_at=retry_at,
    )


async def receipt(tx: Tx, gateway_message_id: str, *, delivered: bool, error: str | None, tries: int) -> bool:
    """Apply a delivery receipt. A failed delivery is queued again (to go through another gateway)
    while the message has been tried fewer than ``tries`` times, else it is failed for good. False when
    no sent message matches (an unknown or repeated receipt changes nothing)."""
    now = datetime.now(UTC)
    sent = and_(sms_outbox.c.message_id == gateway_message_id, sms_outbox.c.status == SENT)
    steps: list[tuple[Any, dict[str, Any]]]
    if delivered:
        steps = [(sent, {"status": DELIVERED, "error": None})]
    else:
        steps = [
            (
                and_(sent, sms_outbox.c.attempts < tries),
                {"status": QUEUED, "error": "receipt_failed", "next_attempt_at": now},
            ),
            (sent, {"status": FAILED, "error": (error or "undelivered")[:64]}),
        ]
    for where, values in steps:
        result = await tx.run(update(sms_outbox).where(where).values(updated_at=now, **values))
        if result == 1:
            return True
    return False


async def purge(tx: Tx, *, older_than: timedelta) -> None:
    """Delete finished messages older than ``older_than`` (queued or sending ones are kept)."""
    cutoff = datetime.now(UTC) - older_than
    await tx.run(
        delete(sms_outbox).where(sms_outbox.c.updated_at < cutoff, sms_outbox.c.status.in_((SENT, DELIVERED, FAILED)))
    )


async def state(tx: Tx, message_id: str) -> OutboxState | None:
    r = await tx.one(select(sms_outbox).where(sms_outbox.c.id == message_id))
    if r is None:
        return None
    return OutboxState(r["id"], r["kind"], r["status"], r["attempts"], r["gateway"], r["message_id"], r["error"])
