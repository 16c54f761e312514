"""Configuration changes are security events (R-12.1): at start-up the effective settings (secrets
redacted) are compared with the last recorded snapshot, and a difference is audited by setting name."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from authsvc.audit.events import AuditEvent
from authsvc.config import Settings, explain
from authsvc.crypto.keystore import KeyStore
from authsvc.store import audit
from authsvc.store.schema import audit_log, audit_pending


def snapshot(settings: Settings) -> dict[str, Any]:
    return {f"{s.section}.{s.name}": s.value for s in explain(settings)}


async def _last_snapshot(conn: AsyncConnection) -> dict[str, Any] | None:
    for table, order in ((audit_pending, audit_pending.c.id), (audit_log, audit_log.c.seq)):
        query = select(table.c.details).where(table.c.event == AuditEvent.CONFIG_CHANGED.value)
        row = (await conn.execute(query.order_by(order.desc()).limit(1))).first()
        if row is not None:
            recorded: dict[str, Any] = json.loads(row.details)["settings"]
            return recorded
    return None


async def record_if_changed(conn: AsyncConnection, keys: KeyStore, settings: Settings) -> list[str]:
    """Audit the settings that differ from the last snapshot (all of them the first time); returns their names."""
    current = json.loads(json.dumps(snapshot(settings), default=str))
    previous = await _last_snapshot(conn)
    changed = sorted(k for k in current.keys() | (previous or {}).keys() if (previous or {}).get(k) != current.get(k))
    if changed:
        await audit.append(conn, keys, AuditEvent.CONFIG_CHANGED, details={"changed": changed, "settings": current})
    return changed
