"""Configuration changes are security events (R-12.1): at start-up the effective settings (secrets
redacted) are compared with the last recorded snapshot, and a difference is audited by setting name."""

from __future__ import annotations

import json
from typing import Any

from authsvc.audit import records
from authsvc.audit.events import AuditEvent
from authsvc.config import Settings, explain
from authsvc.crypto.keystore import KeyStore
from authsvc.store import audit as tables
from authsvc.store.db import Tx


def snapshot(settings: Settings) -> dict[str, Any]:
    return {f"{s.section}.{s.name}": s.value for s in explain(settings)}


async def _last_snapshot(tx: Tx) -> dict[str, Any] | None:
    details = await tables.last_details_of(tx, AuditEvent.CONFIG_CHANGED.value)
    if details is None:
        return None
    recorded: dict[str, Any] = json.loads(details)["settings"]
    return recorded


async def record_if_changed(tx: Tx, keys: KeyStore, settings: Settings) -> list[str]:
    """Audit the settings that differ from the last snapshot (all of them the first time); returns their names."""
    current = json.loads(json.dumps(snapshot(settings), default=str))
    previous = await _last_snapshot(tx)
    changed = sorted(k for k in current.keys() | (previous or {}).keys() if (previous or {}).get(k) != current.get(k))
    if changed:
        await records.append(tx, keys, AuditEvent.CONFIG_CHANGED, details={"changed": changed, "settings": current})
    return changed
