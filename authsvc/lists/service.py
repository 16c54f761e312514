"""Checking and changing the grey and black lists (R-NB.8).

`hits` is what the identification flow calls on every identification: the entries (national, and the
lender's own when ``lender_id`` is given) that list any of the identifiers it carries. The lender's own
entries are added and removed through `add` and `remove`, each with an audit entry in the same
transaction; incidents put a client's identifiers on the grey list with `list_for_incident`; the AFC feed
applies its changes with `apply_feed_change`. Values are never stored: only `identifiers.value_mac`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from authsvc import error_codes
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound, ValidationFailed
from authsvc.lists.identifiers import KINDS, normalise, value_mac
from authsvc.store import lists as store
from authsvc.store.db import Tx
from authsvc.store.errors import Duplicate

ListName = Literal["grey", "black"]
LISTS: Final = ("grey", "black")
NATIONAL: Final = store.NATIONAL
AFC: Final = "afc"
LENDER: Final = "lender"
INCIDENT: Final = "incident"
MAX_TERM: Final = timedelta(days=36525)  # beyond this an expiry is a typo (and beyond some drivers' range)
ENTRY_ADDED: Final = AuditEvent.LIST_ENTRY_ADDED
ENTRY_REMOVED: Final = AuditEvent.LIST_ENTRY_REMOVED


@dataclass(frozen=True)
class Identifiers:
    """What an identification knows about the person and the device; any may be missing."""

    phone: str | None = None
    iin: str | None = None
    device_id: str | None = None
    iban: str | None = None

    @classmethod
    def of(cls, values: Mapping[str, str | None]) -> Identifiers:
        return cls(**{k: values.get(k) for k in KINDS})

    def items(self) -> Iterable[tuple[str, str]]:
        for kind in KINDS:
            value = getattr(self, kind)
            if value:
                yield kind, value


@dataclass(frozen=True)
class Hit:
    kind: str  # phone | iin | device_id | iban
    list: str  # grey | black
    source: str  # incident | afc | lender
    reason: str
    scope: str  # "national" or "lender"
    entry_id: str
    source_ref: str | None  # the incident id for an incident's entry, the AFC's entry id
    expires_at: datetime | None


@dataclass(frozen=True)
class Entry:
    """A list entry as the lender sees it (the value itself is not kept)."""

    id: str
    list: str
    kind: str
    source: str
    source_ref: str | None
    reason: str
    scope: str
    added_at: datetime
    expires_at: datetime | None


def _entry(row: store.EntryRow) -> Entry:
    return Entry(
        id=row.id,
        list=row.list,
        kind=row.kind,
        source=row.source,
        source_ref=row.source_ref or None,
        reason=row.reason,
        scope=NATIONAL if row.scope == NATIONAL else LENDER,
        added_at=row.added_at,
        expires_at=row.expires_at,
    )


async def _keys_of(keys: KeyStore, identifiers: Identifiers, *, strict: bool) -> list[tuple[str, bytes]]:
    out = []
    for kind, value in identifiers.items():
        try:
            canonical = normalise(kind, value)
        except ValidationFailed:
            if strict:
                raise
            continue  # a malformed identifier cannot be listed: nothing to find for it
        out.append((kind, await value_mac(keys, kind, canonical)))
    return out


async def hits(tx: Tx, keys: KeyStore, identifiers: Identifiers, *, lender_id: str | None = None) -> list[Hit]:
    """Every unexpired entry listing one of ``identifiers``: national ones, and ``lender_id``'s own.
    Black hits come first. Malformed identifiers simply match nothing."""
    scopes = [NATIONAL] if lender_id is None else [NATIONAL, lender_id]
    rows = await store.matching(tx, await _keys_of(keys, identifiers, strict=False), scopes, datetime.now(UTC))
    found = [
        Hit(
            kind=r.kind,
            list=r.list,
            source=r.source,
            reason=r.reason,
            scope=NATIONAL if r.scope == NATIONAL else LENDER,
            entry_id=r.id,
            source_ref=r.source_ref or None,
            expires_at=r.expires_at,
        )
        for r in rows
    ]
    return sorted(found, key=lambda h: h.list != "black")


async def lookup(tx: Tx, keys: KeyStore, lender_id: str, kind: str, value: str) -> list[Entry]:
    """The entries visible to ``lender_id`` (national and its own) listing one value (422 if malformed)."""
    mac = await _keys_of(keys, Identifiers.of({kind: value}), strict=True)
    rows = await store.matching(tx, mac, [NATIONAL, lender_id], datetime.now(UTC))
    return [_entry(r) for r in rows]


async def add(
    tx: Tx,
    keys: KeyStore,
    lender_id: str,
    *,
    list_name: str,
    kind: str,
    value: str,
    reason: str,
    expires_at: datetime | None,
) -> Entry:
    """A lender's own entry (409 when it already lists this value on this list)."""
    mac = await value_mac(keys, kind, normalise(kind, value))
    now = datetime.now(UTC)
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed("expires_at is in the past", code=error_codes.LIST_BAD_EXPIRY)
    if expires_at is not None and expires_at > now + MAX_TERM:
        raise ValidationFailed("expires_at is more than 100 years away", code=error_codes.LIST_BAD_EXPIRY)
    row = store.EntryRow(str(uuid.uuid4()), lender_id, list_name, kind, mac, LENDER, "", reason, now, expires_at)
    try:
        async with tx.savepoint():
            await store.insert_entry(tx, row)
    except Duplicate as exc:
        raise Conflict("this value is on that list already", code=error_codes.LIST_ENTRY_EXISTS) from exc
    await audit.append(
        tx, keys, ENTRY_ADDED, lender_id=lender_id, subject=row.id, details=_details(row) | {"by": "lender"}
    )
    return _entry(row)


async def entry(tx: Tx, lender_id: str, entry_id: str) -> Entry:
    row = await store.get(tx, entry_id)
    if row is None or row.scope not in (NATIONAL, lender_id):
        raise NotFound("no such list entry", code=error_codes.LIST_ENTRY_NOT_FOUND)
    return _entry(row)


async def entries(tx: Tx, lender_id: str, *, list_name: str | None = None, limit: int = 100) -> list[Entry]:
    """The lender's own entries (its own and its incidents'), newest first."""
    return [_entry(r) for r in await store.of_scope(tx, lender_id, list_name=list_name, limit=limit)]


async def remove(tx: Tx, keys: KeyStore, lender_id: str, entry_id: str) -> None:
    """Remove one of the lender's own entries; an incident's or the AFC's entries are not the lender's to
    remove (409): closing the incident removes its entries, the AFC's feed removes its own."""
    row = await store.get(tx, entry_id)
    if row is None or row.scope not in (NATIONAL, lender_id):
        raise NotFound("no such list entry", code=error_codes.LIST_ENTRY_NOT_FOUND)
    if row.source != LENDER or row.scope != lender_id:
        raise Conflict(
            f"this entry comes from {'the Anti-fraud centre' if row.source == AFC else 'an incident'}",
            code=error_codes.LIST_ENTRY_NOT_MANAGED,
        )
    await store.remove(tx, entry_id)
    await audit.append(
        tx, keys, ENTRY_REMOVED, lender_id=lender_id, subject=entry_id, details=_details(row) | {"by": "lender"}
    )


def _details(row: store.EntryRow) -> dict[str, Any]:
    # No value, no hash of it: ids, the list and where the entry came from.
    return {"list": row.list, "kind": row.kind, "source": row.source, "source_ref": row.source_ref or None}


async def list_for_incident(
    tx: Tx, keys: KeyStore, lender_id: str, incident_id: str, identifiers: Identifiers, reason: str
) -> int:
    """Put the client's identifiers on the lender's grey list while the incident is open."""
    now, added = datetime.now(UTC), 0
    for kind, mac in await _keys_of(keys, identifiers, strict=False):
        row = store.EntryRow(str(uuid.uuid4()), lender_id, "grey", kind, mac, INCIDENT, incident_id, reason, now, None)
        await store.insert_entry(tx, row)
        await audit.append(
            tx, keys, ENTRY_ADDED, lender_id=lender_id, subject=row.id, details=_details(row) | {"by": "incident"}
        )
        added += 1
    return added


async def unlist_incident(tx: Tx, keys: KeyStore, lender_id: str, incident_id: str) -> int:
    removed = await store.remove_by_source(tx, INCIDENT, incident_id, scope=lender_id)
    if removed:
        await audit.append(
            tx,
            keys,
            ENTRY_REMOVED,
            lender_id=lender_id,
            subject=incident_id,
            details={"source": INCIDENT, "source_ref": incident_id, "entries": removed, "by": "incident_closed"},
        )
    return removed


@dataclass(frozen=True)
class FeedChange:
    """One change of the Anti-fraud centre's national lists."""

    op: Literal["add", "remove"]
    entry_id: str
    list: str = "grey"
    kind: str = "phone"
    value: str = ""
    reason: str = ""
    added_at: datetime | None = None
    expires_at: datetime | None = None


async def apply_feed_change(tx: Tx, keys: KeyStore, change: FeedChange) -> bool:
    """Apply one AFC change to the national lists; replaying it is harmless. False when the change could
    not be applied (an identifier the service cannot normalise, a list or kind it does not know)."""
    await store.remove_by_source(tx, AFC, change.entry_id, scope=NATIONAL)
    if change.op == "remove":
        await audit.append(tx, keys, ENTRY_REMOVED, subject=change.entry_id, details={"source": AFC, "by": AFC})
        return True
    if change.list not in LISTS or change.kind not in KINDS:
        return False
    try:
        canonical = normalise(change.kind, change.value)
    except ValidationFailed:
        return False
    row = store.EntryRow(
        str(uuid.uuid4()),
        NATIONAL,
        change.list,
        change.kind,
        await value_mac(keys, change.kind, canonical),
        AFC,
        change.entry_id,
        change.reason[:200] or "Anti-fraud centre",
        change.added_at or datetime.now(UTC),
        change.expires_at,
    )
    await store.insert_entry(tx, row)
    await audit.append(tx, keys, ENTRY_ADDED, subject=row.id, details=_details(row) | {"by": AFC})
    return True
