"""Hosted-page links: issue, open once (binding a browser session), find by session.

The token in the URL and the session cookie never reach the database, only their keyed hashes
(``KeyStore.index_mac``). Opening is one conditional UPDATE: of two browsers racing with the same link,
exactly one gets the session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from authsvc.crypto.keystore import KeyStore
from authsvc.store.db import Row, Tx
from authsvc.store.schema import flow_links


@dataclass(frozen=True)
class Link:
    id: str
    identification_id: str
    lender_id: str
    return_url: str | None
    locale: str
    created_at: datetime
    expires_at: datetime
    opened_at: datetime | None
    session_expires_at: datetime | None


async def token_mac(keys: KeyStore, token: str) -> bytes:
    return await keys.aindex_mac("flow_link", token)


async def session_mac(keys: KeyStore, session: str) -> bytes:
    return await keys.aindex_mac("flow_session", session)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _link(row: Row) -> Link:
    return Link(
        row["id"],
        row["identification_id"],
        row["lender_id"],
        row["return_url"],
        row["locale"],
        _aware(row["created_at"]) or datetime.now(UTC),
        _aware(row["expires_at"]) or datetime.now(UTC),
        _aware(row["opened_at"]),
        _aware(row["session_expires_at"]),
    )


async def issue(
    tx: Tx,
    keys: KeyStore,
    *,
    identification_id: str,
    lender_id: str,
    token: str,
    ttl_s: int,
    return_url: str | None,
    locale: str,
) -> Link:
    now = datetime.now(UTC)
    link = Link(
        str(uuid.uuid4()),
        identification_id,
        lender_id,
        return_url,
        locale,
        now,
        now + timedelta(seconds=ttl_s),
        None,
        None,
    )
    await tx.run(
        flow_links.insert().values(
            id=link.id,
            identification_id=identification_id,
            lender_id=lender_id,
            token_mac=await token_mac(keys, token),
            return_url=return_url,
            locale=locale,
            created_at=now,
            expires_at=link.expires_at,
        )
    )
    return link


async def by_token(tx: Tx, keys: KeyStore, token: str) -> Link | None:
    row = await tx.one(select(flow_links).where(flow_links.c.token_mac == await token_mac(keys, token)))
    return None if row is None else _link(row)


async def open_once(tx: Tx, keys: KeyStore, link_id: str, session: str, session_ttl_s: int) -> bool:
    """Bind the browser's session to an unopened, unexpired link; False if it was opened or ran out."""
    now = datetime.now(UTC)
    changed = await tx.run(
        update(flow_links)
        .where(flow_links.c.id == link_id, flow_links.c.opened_at.is_(None), flow_links.c.expires_at > now)
        .values(
            opened_at=now,
            session_mac=await session_mac(keys, session),
            session_expires_at=now + timedelta(seconds=session_ttl_s),
        )
    )
    return changed == 1


async def by_session(tx: Tx, keys: KeyStore, session: str) -> Link | None:
    row = await tx.one(select(flow_links).where(flow_links.c.session_mac == await session_mac(keys, session)))
    return None if row is None else _link(row)
