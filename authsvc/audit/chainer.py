"""The background task that links waiting audit entries into the chain (see authsvc.store.audit).

It polls quickly while entries keep arriving and slows down when idle; every service process runs one,
and the head-row lock lets only one of them chain a given entry. A failed round is retried.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from authsvc.crypto.keystore import KeyStore
from authsvc.store import audit

log = logging.getLogger("authsvc.audit")

BUSY_INTERVAL_S = 0.02
IDLE_INTERVAL_S = 0.5


async def run_chainer(engine: AsyncEngine, keys: KeyStore) -> None:
    interval = IDLE_INTERVAL_S
    while True:
        await asyncio.sleep(interval)
        try:
            chained = await audit.chain_pending(engine, keys)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("audit chaining failed; will retry")
            chained = 0
        interval = BUSY_INTERVAL_S if chained else min(IDLE_INTERVAL_S, interval * 2)
