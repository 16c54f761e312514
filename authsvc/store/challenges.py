"""Single-use, short-lived challenges bound to an identification (EDS nonce, liveness script, …).

The nonce itself goes to the client; only its keyed hash is stored. `use` is one conditional UPDATE, so
of two racing submissions (in any number of processes) exactly one wins (R-12.3). Issuing a challenge
ends every older unused one of the same method for the same identification (it expires now), so only the
newest nonce or script can be answered (issue 11 §12).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update

from authsvc.crypto.keystore import KeyStore
from authsvc.store.db import Row, Tx
from authsvc.store.schema import challenges


@dataclass(frozen=True)
class Challenge:
    id: str
    identification_id: str
    method: str
    nonce: bytes | None  # only when just issued; never read back from the database
    payload: dict[str, Any]
    expires_at: datetime
    used_at: datetime | None


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


async def nonce_mac(keys: KeyStore, nonce: bytes) -> bytes:
    return await keys.aindex_mac("challenge", nonce.hex())


async def issue(
    tx: Tx,
    keys: KeyStore,
    identification_id: str,
    method: str,
    *,
    ttl_s: int,
    payload: Mapping[str, Any] | None = None,
    nonce_bytes: int = 32,
) -> Challenge:
    nonce = secrets.token_bytes(nonce_bytes)
    now = datetime.now(UTC)
    await _supersede(tx, identification_id, method, now)
    challenge = Challenge(
        str(uuid.uuid4()), identification_id, method, nonce, dict(payload or {}), now + timedelta(seconds=ttl_s), None
    )
    await tx.run(
        challenges.insert().values(
            id=challenge.id,
            identification_id=identification_id,
            method=method,
            nonce_mac=await nonce_mac(keys, nonce),
            payload=json.dumps(challenge.payload, sort_keys=True),
            created_at=now,
            expires_at=challenge.expires_at,
        )
    )
    return challenge


async def _supersede(tx: Tx, identification_id: str, method: str, now: datetime) -> None:
    """Expire the identification's unused challenges of ``method``. Two issues racing on PostgreSQL would
    each miss the other's uncommitted row, so they queue on a lock per identification for the rest of the
    transaction (SQLite's write transaction already serialises them)."""
    if tx.dialect == "postgresql":
        await tx.scalar(
            select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("lock_key"), 0))),
            lock_key=f"challenge:{identification_id}",
        )
    await tx.run(
        update(challenges)
        .where(
            challenges.c.identification_id == identification_id,
            challenges.c.method == method,
            challenges.c.used_at.is_(None),
            challenges.c.expires_at > now,
        )
        .values(expires_at=now)
    )


def _challenge(row: Row) -> Challenge:
    return Challenge(
        row["id"],
        row["identification_id"],
        row["method"],
        None,
        json.loads(row["payload"]),
        _aware(row["expires_at"]) or datetime.now(UTC),
        _aware(row["used_at"]),
    )


async def find_by_nonce(tx: Tx, keys: KeyStore, nonce: bytes) -> Challenge | None:
    query = select(challenges).where(challenges.c.nonce_mac == await nonce_mac(keys, nonce))
    row = await tx.one(query)
    return None if row is None else _challenge(row)


async def get(tx: Tx, challenge_id: str) -> Challenge | None:
    row = await tx.one(select(challenges).where(challenges.c.id == challenge_id))
    return None if row is None else _challenge(row)


async def use(tx: Tx, challenge_id: str, *, now: datetime | None = None) -> bool:
    """Mark the challenge used; False when it was already used or has expired."""
    now = now or datetime.now(UTC)
    result = await tx.run(
        update(challenges)
        .where(challenges.c.id == challenge_id, challenges.c.used_at.is_(None), challenges.c.expires_at > now)
        .values(used_at=now)
    )
    return result == 1
