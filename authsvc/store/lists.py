"""Grey and black list entries and feed cursors. Identifiers arrive here already as keyed hashes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, insert, or_, select, update

from authsvc.store.db import Row, Statement, Tx
from authsvc.store.errors import Duplicate
from authsvc.store.schema import list_entries, list_feeds

NATIONAL = "national"


@dataclass(frozen=True)
class EntryRow:
    id: str
    scope: str
    list: str
    kind: str
    value_mac: bytes
    source: str
    source_ref: str
    reason: str
    added_at: datetime
    expires_at: datetime | None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _row(r: Row) -> EntryRow:
    added = _aware(r["added_at"])
    assert added is not None
    return EntryRow(
        id=r["id"],
        scope=r["scope"],
        list=r["list"],
        kind=r["kind"],
        value_mac=bytes(r["value_mac"]),
        source=r["source"],
        source_ref=r["source_ref"],
        reason=r["reason"],
        added_at=added,
        expires_at=_aware(r["expires_at"]),
    )


def _values(row: EntryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "scope": row.scope,
        "list": row.list,
        "kind": row.kind,
        "value_mac": row.value_mac,
        "source": row.source,
        "source_ref": row.source_ref,
        "reason": row.reason,
        "added_at": row.added_at,
        "expires_at": row.expires_at,
    }


async def insert_entry(tx: Tx, row: EntryRow) -> None:
    """Raises `Duplicate` when the same scope and source already list this value on this list."""
    await tx.run(insert(list_entries).values(**_values(row)))


def _matching(kinds: Sequence[Any], macs: Sequence[Any], scopes: Sequence[Any], now: Any) -> Select[Any]:
    # kind IN … AND value_mac IN … walks the (kind, value_mac) index on both databases (a row-value IN does
    # not on SQLite); the exact pairs are kept after the read.
    return (
        select(list_entries)
        .where(
            list_entries.c.kind.in_(kinds),
            list_entries.c.value_mac.in_(macs),
            list_entries.c.scope.in_(scopes),
            or_(list_entries.c.expires_at.is_(None), list_entries.c.expires_at > now),
        )
        .order_by(list_entries.c.added_at, list_entries.c.id)
    )


# Fixed slots, compiled once: an identification carries at most one value of each of the four kinds, seen
# by at most two scopes (national and the lender's); unused slots repeat a used one.
_KEY_SLOTS, _SCOPE_SLOTS = 4, 2
_MATCHING = Statement(
    _matching(
        [bindparam(f"k{i}") for i in range(_KEY_SLOTS)],
        [bindparam(f"m{i}") for i in range(_KEY_SLOTS)],
        [bindparam(f"s{i}") for i in range(_SCOPE_SLOTS)],
        bindparam("now"),
    )
)


def _slots(prefix: str, values: Sequence[Any], n: int) -> dict[str, Any]:
    return {f"{prefix}{i}": values[min(i, len(values) - 1)] for i in range(n)}


async def matching(tx: Tx, keys: Sequence[tuple[str, bytes]], scopes: Sequence[str], now: datetime) -> list[EntryRow]:
    """Unexpired entries of these scopes for any (kind, value_mac)."""
    if not keys or not scopes:
        return []
    kinds, macs = sorted({k for k, _ in keys}), [m for _, m in keys]
    if len(macs) <= _KEY_SLOTS and len(scopes) <= _SCOPE_SLOTS:
        slots = {**_slots("k", kinds, _KEY_SLOTS), **_slots("m", macs, _KEY_SLOTS), **_slots("s", scopes, _SCOPE_SLOTS)}
        rows = await tx.all(_MATCHING, now=now, **slots)
    else:  # more than an identification carries: built for this call
        rows = await tx.all(_matching(kinds, macs, list(scopes), now))
    wanted = set(keys)
    return [_row(r) for r in rows if (r["kind"], bytes(r["value_mac"])) in wanted]


async def get(tx: Tx, entry_id: str) -> EntryRow | None:
    r = await tx.one(select(list_entries).where(list_entries.c.id == entry_id))
    return None if r is None else _row(r)


async def of_scope(
    tx: Tx, scope: str, *, source: str | None = None, list_name: str | None = None, limit: int = 100
) -> list[EntryRow]:
    query = select(list_entries).where(list_entries.c.scope == scope)
    if source is not None:
        query = query.where(list_entries.c.source == source)
    if list_name is not None:
        query = query.where(list_entries.c.list == list_name)
    rows = await tx.all(query.order_by(list_entries.c.added_at.desc(), list_entries.c.id).limit(limit))
    return [_row(r) for r in rows]


async def remove(tx: Tx, entry_id: str) -> bool:
    return await tx.run(delete(list_entries).where(list_entries.c.id == entry_id)) == 1


async def remove_by_source(tx: Tx, source: str, source_ref: str, scope: str | None = None) -> int:
    """Delete what one source put on the lists (an incident's entries, one AFC entry)."""
    query = delete(list_entries).where(list_entries.c.source == source, list_entries.c.source_ref == source_ref)
    if scope is not None:
        query = query.where(list_entries.c.scope == scope)
    return await tx.run(query)


async def purge_expired(tx: Tx, now: datetime) -> int:
    return await tx.run(delete(list_entries).where(list_entries.c.expires_at <= now))


async def feed_cursor(tx: Tx, source: str) -> str | None:
    value = await tx.scalar(select(list_feeds.c.cursor).where(list_feeds.c.source == source))
    return None if value is None else str(value)


async def move_cursor(tx: Tx, source: str, old: str | None, new: str) -> bool:
    """Compare-and-set: False when another process moved the cursor since ``old`` was read."""
    now = datetime.now(UTC)
    if old is None:
        try:
            async with tx.savepoint():
                await tx.run(insert(list_feeds).values(source=source, cursor=new, updated_at=now))
        except Duplicate:
            return False
        return True
    changed = await tx.run(
        update(list_feeds)
        .where(list_feeds.c.source == source, list_feeds.c.cursor == old)
        .values(cursor=new, updated_at=now)
    )
    return changed == 1
