"""The background task that links waiting audit entries into the chain (see authsvc.store.audit).

While entries keep arriving it chains them in rounds every `BUSY_INTERVAL_S` (at once again when a round
was full), and it slows down when idle; every service process runs one, and the head-row lock lets only
one of them chain a given entry. A failed round is retried. A round costs a handful of statements
whatever its size, so fewer, fuller rounds leave more of the core to requests: at 20 ms rounds the
chainer took a tenth of a core under a one-time-code load of 1,000 verifications a second.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from authsvc.crypto.keystore import KeyStore
from authsvc.store import audit
from authsvc.store.db import Database

log = logging.getLogger("authsvc.audit")

BUSY_INTERVAL_S = 0.1
IDLE_INTERVAL_S = 0.5


async def run_chainer(db: AsyncEngine | Database, keys: KeyStore) -> None:
    interval = IDLE_INTERVAL_S
    while True:
        await asyncio.sleep(interval)
        try:
            chained = await audit.chain_pending(db, keys)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("audit chaining failed; will retry")
            chained = 0
        if chained >= audit.CHAIN_BATCH:
            interval = 0  # more are waiting
        else:
            interval = BUSY_INTERVAL_S if chained else min(IDLE_INTERVAL_S, max(interval, BUSY_INTERVAL_S) * 2)
