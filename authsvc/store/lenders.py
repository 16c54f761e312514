"""Lenders and their API keys. Keys are `ak_<key id>_<secret>`; only SHA-256 of the secret is stored
(the secret is 256 random bits, so a slow hash adds nothing) and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from authsvc.store.db import Tx
from authsvc.store.schema import lenders

KEY_RE = re.compile(r"^ak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Lender:
    id: str
    name: str


async def create(tx: Tx, name: str) -> tuple[Lender, str]:
    """Create a lender; returns it and its API key (shown once, never stored)."""
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    lender = Lender(str(uuid.uuid4()), name)
    await tx.run(
        lenders.insert().values(
            id=lender.id,
            name=name,
            key_id=key_id,
            key_hash=hashlib.sha256(secret.encode()).digest(),
            created_at=datetime.now(UTC),
        )
    )
    return lender, f"ak_{key_id}_{secret}"


async def authenticate(tx: Tx, api_key: str) -> Lender | None:
    match = KEY_RE.match(api_key)
    if match is None:
        return None
    key_id, secret = match.groups()
    row = await tx.one(
        select(lenders.c.id, lenders.c.name, lenders.c.key_hash, lenders.c.disabled_at).where(
            lenders.c.key_id == key_id
        )
    )
    # Compare even when the key id is unknown, so timing does not tell which part was wrong.
    expected = bytes(row["key_hash"]) if row is not None else bytes(32)
    ok = hmac.compare_digest(expected, hashlib.sha256(secret.encode()).digest())
    if row is None or not ok or row["disabled_at"] is not None:
        return None
    return Lender(row["id"], row["name"])
