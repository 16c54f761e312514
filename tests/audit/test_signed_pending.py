"""Waiting audit entries written before the MAC seal carry an Ed25519 signature by an audit key (R-12.1): the
chainer still checks them — intact, edited, or signed by a key the store does not hold."""

from __future__ import annotations

import asyncio
from typing import Any

from authsvc.audit.chain import pending_message
from authsvc.audit.records import PENDING_MAC_KEY_ID, aentry, now_iso, pending_intact_many
from authsvc.crypto.local_keys import LocalKeyStore


def _signed_row(keys: LocalKeyStore, key_id: str, details: str = '{"n":1}') -> dict[str, Any]:
    row: dict[str, Any] = {"at": now_iso(), "event": "client.registered", "lender_id": "L1", "subject": "c1"}
    row |= {"details": details, "key_id": key_id}
    message = pending_message(row["at"], row["event"], row["lender_id"], row["subject"], row["details"], key_id)
    row["signature"] = keys.sign_audit(message)
    return row


def test_old_signed_entries_are_checked_beside_mac_sealed_ones() -> None:
    keys = LocalKeyStore.generate()
    intact = _signed_row(keys, keys.audit_key_id)
    edited = _signed_row(keys, keys.audit_key_id) | {"details": '{"n":2}'}
    stranger = _signed_row(keys, "ffffffffffffffff")
    sealed = asyncio.run(aentry(keys, "client.registered", lender_id="L1", subject="c2")).values
    assert sealed["key_id"] == PENDING_MAC_KEY_ID
    verdicts = asyncio.run(pending_intact_many(keys, [intact, sealed, edited, stranger]))
    assert verdicts == [True, True, False, False]
