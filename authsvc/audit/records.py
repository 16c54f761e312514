"""Writing and reading audit entries (R-12.1): what an entry holds and how it is sealed.

`append` writes a *pending* entry inside the caller's transaction, so the audited change and its record
commit or roll back together; the entry is sealed at once with a keyed MAC (HMAC-SHA256, ≈2 µs where an
Ed25519 signature and its check cost ≈120 µs — a quarter of a one-time-code verification), so editing it
while it waits is detected. Only this service checks the seal; chained entries and the head carry Ed25519
signatures for anyone holding the public key (`authsvc.audit.chainer` links them). Details never hold
personal data: ids, codes and outcomes only. The tables themselves are `authsvc.store.audit`'s.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from authsvc.audit.chain import MISSING_HEAD, Entry, Head, pending_message
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import AuthsvcError
from authsvc.store import audit as tables
from authsvc.store.db import Insert, Row, Tx

TAMPERED_PENDING = "audit.pending_tampered"
PENDING_MAC_KEY_ID = "mac:index"  # the pending entry is sealed with the index MAC key


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _unsealed(
    event: str, lender_id: str | None, subject: str | None, details: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str]:
    """A waiting entry's values but its seal, and the message the seal covers."""
    at, key_id = now_iso(), PENDING_MAC_KEY_ID
    body = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    values = {"at": at, "event": event, "lender_id": lender_id, "subject": subject, "details": body, "key_id": key_id}
    return values, pending_message(at, event, lender_id, subject, body, key_id).decode()


async def aentry(
    keys: KeyStore,
    event: str,
    *,
    lender_id: str | None = None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Insert:
    """A sealed waiting entry, for `Tx.write` alongside the change it records; its seal made off the event
    loop where the key store's device makes it (a caller may prepare it before its transaction opens)."""
    values, message = _unsealed(event, lender_id, subject, details)
    return tables.pending(values | {"signature": await keys.aindex_mac("audit-pending", message)})


async def append(
    tx: Tx,
    keys: KeyStore,
    event: str,
    *,
    lender_id: str | None = None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record one event in the current transaction (chained shortly after by the chainer); the seal is made
    off the event loop where the key store's device makes it."""
    await tx.write([await aentry(keys, event, lender_id=lender_id, subject=subject, details=details)])


def recorder(keys: KeyStore, event: str) -> Callable[[Tx, dict[str, Any]], Awaitable[None]]:
    """`append` of ``event`` as a callback: for a lower layer that records its work in its own transaction."""

    async def record(tx: Tx, details: dict[str, Any]) -> None:
        await append(tx, keys, event, details=details)

    return record


async def pending_intact_many(keys: KeyStore, rows: Sequence[Row]) -> list[bool]:
    """Whether each waiting entry is as `aentry` sealed it; the MAC-sealed ones checked in one trip to the key
    store's device."""
    sealed = [
        pending_message(r["at"], r["event"], r["lender_id"], r["subject"], r["details"], r["key_id"]).decode()
        for r in rows
        if r["key_id"] == PENDING_MAC_KEY_ID
    ]
    macs = iter(await keys.aindex_macs("audit-pending", sealed))
    signers: dict[str, Ed25519PublicKey | None] = {}
    for key_id in {r["key_id"] for r in rows if r["key_id"] != PENDING_MAC_KEY_ID}:
        try:  # off the event loop: a key id not held reads the device again (at most once a second)
            signers[key_id] = await keys.aaudit_public_key(str(key_id))
        except AuthsvcError:
            raise
        except (KeyError, ValueError):
            signers[key_id] = None
    return [
        hmac.compare_digest(next(macs), as_bytes(r["signature"])) if r["key_id"] == PENDING_MAC_KEY_ID
        else _signed_intact(signers[r["key_id"]], r)
        for r in rows
    ]  # fmt: skip


def _signed_intact(signer: Ed25519PublicKey | None, row: Row) -> bool:
    """A waiting entry written before the MAC seal: it carries an Ed25519 signature by an audit key."""
    if signer is None:
        return False
    message = pending_message(row["at"], row["event"], row["lender_id"], row["subject"], row["details"], row["key_id"])
    try:
        signer.verify(as_bytes(row["signature"]), message)
    except AuthsvcError:
        raise
    except (InvalidSignature, ValueError):
        return False
    return True


def as_bytes(value: Any) -> bytes:
    # A tampered row may hold anything (SQLite stores '' as text): never let that crash the verifier.
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)


@dataclass(frozen=True)
class Pending:
    count: int
    tampered: list[int]


async def read_pending(tx: Tx, keys: KeyStore) -> Pending:
    rows = await tables.all_pending(tx)
    intact = await pending_intact_many(keys, rows)
    return Pending(len(rows), [r["id"] for r, ok in zip(rows, intact, strict=True) if not ok])


async def pending_count(tx: Tx) -> int:
    return await tables.pending_count(tx)


async def read_all(tx: Tx) -> tuple[list[Entry], Head]:
    entries = [
        Entry(
            seq=r["seq"],
            at=r["at"],
            event=r["event"],
            lender_id=r["lender_id"],
            subject=r["subject"],
            details=r["details"],
            key_id=r["key_id"],
            prev_hash=as_bytes(r["prev_hash"]),
            entry_hash=as_bytes(r["entry_hash"]),
            signature=as_bytes(r["signature"]),
        )
        for r in await tables.chain_rows(tx)
    ]
    return entries, await current_head(tx) or MISSING_HEAD  # verify_chain reports a missing one


async def current_head(tx: Tx) -> Head | None:
    """The database's signed head (the newest, shared by every host); None before anything was chained."""
    h = await tables.head_row(tx)
    if h is None:
        return None
    return Head(int(h["seq"]), as_bytes(h["entry_hash"]), str(h["at"]), str(h["key_id"]), as_bytes(h["signature"]))
