"""Pulling the Anti-fraud centre's national list feed into the lists (R-NB.8).

Each page is fetched outside any transaction, then applied with the cursor moved by compare-and-set in the
same transaction: if another process applied that page meanwhile, this one's transaction rolls back and
nothing is applied twice.
"""

from __future__ import annotations

import logging
from typing import Final

from authsvc.crypto.keystore import KeyStore
from authsvc.lists.service import FeedChange, apply_feed_change
from authsvc.parties.afc import AfcClient
from authsvc.store import lists as store
from authsvc.store.db import Database

log = logging.getLogger("authsvc.lists")
SOURCE: Final = "afc"
MAX_PAGES: Final = 50  # per round: a long backlog is caught up over several rounds


class _Moved(Exception):
    """The cursor moved under us: another process applied this page."""


async def pull(db: Database, keys: KeyStore, afc: AfcClient) -> int:
    """Apply every change since the stored cursor; returns how many were applied (UpstreamUnavailable
    when the AFC does not answer: the cursor stays, the next round retries)."""
    applied = 0
    for _ in range(MAX_PAGES):
        async with db.autocommit() as tx:
            cursor = await store.feed_cursor(tx, SOURCE)
        page = await afc.changes(cursor)
        try:
            async with db.transaction() as tx:
                for change in page.changes:
                    ok = await apply_feed_change(
                        tx,
                        keys,
                        FeedChange(
                            op=change.op,
                            entry_id=change.entry_id,
                            list=change.list,
                            kind=change.kind,
                            value=change.value,
                            reason=change.reason,
                            added_at=change.added_at,
                            expires_at=change.expires_at,
                        ),
                    )
                    if ok:
                        applied += 1
                    else:
                        log.warning("AFC change skipped", extra={"entry_id": change.entry_id, "kind": change.kind})
                if page.cursor != cursor and not await store.move_cursor(tx, SOURCE, cursor, page.cursor):
                    raise _Moved
        except _Moved:
            continue
        if not page.more:
            break
    return applied
