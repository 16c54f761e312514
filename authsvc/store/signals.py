"""Device and session signals recorded with a step (R-NB.5, R-AF.1).

The integrity flags are kept in the clear (they are about the phone, not the person); the device id only as
a keyed hash (what the grey and black lists compare); geolocation and the rest sealed under the row's own
data key, since a location is personal data (R-12.2).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.store.db import Insert, Tx
from authsvc.store.schema import identification_signals

SEALED_FIELD = "signals"


async def row(
    keys: KeyStore,
    identification_id: str,
    method: str,
    flags: Mapping[str, bool],
    device_mac: bytes | None,
    private: Mapping[str, Any] | None,
) -> Insert:
    """The row recording one step's signals (for `Tx.write`, beside the step it came with), its data key
    wrapped off the event loop where the key store's device wraps it."""
    row_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "id": row_id,
        "identification_id": identification_id,
        "method": method,
        "flags": json.dumps(dict(flags), sort_keys=True),
        "device_mac": device_mac,
        "kek_id": None,
        "data_key": None,
        "sealed": None,
        "created_at": datetime.now(UTC),
    }
    if private:
        cipher, wrapped = await RecordCipher.anew(keys, row_id)
        values |= {
            "kek_id": wrapped.kek_id,
            "data_key": wrapped.wrapped,
            "sealed": cipher.seal_json(SEALED_FIELD, private),
        }
    return Insert(identification_signals, values)


async def of(tx: Tx, keys: KeyStore, identification_id: str) -> list[dict[str, Any]]:
    """The signals of an identification, oldest first, opened (for the lender that owns it)."""
    rows = await tx.all(
        select(identification_signals)
        .where(identification_signals.c.identification_id == identification_id)
        .order_by(identification_signals.c.created_at, identification_signals.c.id)
    )
    out = []
    for r in rows:
        private = None
        if r["sealed"] is not None:
            cipher = await RecordCipher.aopen(keys, r["id"], WrappedKey(r["kek_id"], bytes(r["data_key"])))
            private = cipher.unseal_json(SEALED_FIELD, bytes(r["sealed"]))
        out.append({"method": r["method"], "flags": json.loads(r["flags"]), "private": private})
    return out
