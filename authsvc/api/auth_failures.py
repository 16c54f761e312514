"""Failed lender authentications: throttled by source and audited as counts (R-12.1, issue 11 §9).

Writing an audit row for every request without a valid key let one client write 488 rows a second and slow
every lender's requests fourfold. Instead, per source address and fixed window:

* the first failure is audited at once (``auth.failed``, count 1), so a lone failure is on record at once;
* later failures of the window are only counted, and written as one ``auth.failed`` row with their count
  (and how many were refused unheard) when the window is over or the service stops;
* past ``limit`` failures the source is *throttled*: a request from it that does not carry a key this
  process has recently seen succeed is answered 429 at once, before any database look-up. A lender behind
  the same address (a NAT, a proxy) keeps working with its known key.

So a flood costs at most two audit rows per source per window and no database work. Counts are per process
(every service process runs one): the budget is ``limit`` per process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.crypto.keystore import KeyStore
from authsvc.store.db import Database

log = logging.getLogger("authsvc.http")

MAX_SOURCES = 10_000  # sources tracked per window; beyond it they are counted together as "other"
OTHER = "other"


@dataclass
class _Tally:
    failures: int = 0  # failed authentications (missing or invalid key)
    throttled: int = 0  # refused unheard (429) after the limit
    unwritten: int = 0  # failures not yet in an audit row
    reasons: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    retry_after: int  # 0: go on and authenticate; else answer 429 with this Retry-After
    audit_now: bool  # the first failure of this source in this window: write its row at once


class AuthFailures:
    def __init__(self, db: Database, keys: KeyStore, *, limit: int, window_s: int) -> None:
        self.db, self.keys, self.limit, self.window_s = db, keys, limit, window_s
        self._window = 0
        self._tallies: dict[str, _Tally] = {}
        self._closed: list[tuple[int, dict[str, _Tally]]] = []  # windows over, rows not yet written

    def _roll(self, now: float) -> int:
        window = int(now // self.window_s) * self.window_s
        if window != self._window:
            if self._tallies:
                self._closed.append((self._window, self._tallies))
            self._window, self._tallies = window, {}
        return window

    def _tally(self, source: str) -> _Tally:
        tally = self._tallies.get(source)
        if tally is None:
            if len(self._tallies) >= MAX_SOURCES:
                source = OTHER
                tally = self._tallies.get(OTHER)
            if tally is None:
                tally = self._tallies[source] = _Tally()
        return tally

    def retry_after(self, source: str, now: float | None = None) -> int:
        """Seconds to wait when ``source`` is over its failure budget (0: not throttled)."""
        now = time.time() if now is None else now
        window = self._roll(now)
        tally = self._tallies.get(source)
        if tally is None and len(self._tallies) >= MAX_SOURCES:
            tally = self._tallies.get(OTHER)
        if tally is None or tally.failures < self.limit:
            return 0
        return max(1, int(window + self.window_s - now + 0.999))

    def refused(self, source: str, now: float | None = None) -> None:
        """A request from a throttled source, answered 429 without looking at its key."""
        self._roll(time.time() if now is None else now)
        self._tally(source).throttled += 1

    def failed(self, source: str, reason: str, route: str, now: float | None = None) -> bool:
        """Count one failed authentication; True when it is the source's first in the window (audit it now)."""
        self._roll(time.time() if now is None else now)
        tally = self._tally(source)
        tally.failures += 1
        tally.reasons[reason] = tally.reasons.get(reason, 0) + 1
        if len(tally.routes) < 20 or route in tally.routes:
            tally.routes[route] = tally.routes.get(route, 0) + 1
        if tally.failures == 1:
            return True
        tally.unwritten += 1
        return False

    async def audit_first(self, source: str, reason: str, route: str) -> None:
        async with self.db.transaction() as tx:
            await audit.append(
                tx,
                self.keys,
                AuditEvent.AUTH_FAILED,
                details={"peer": source, "reason": reason, "route": route, "count": 1},
            )

    async def flush(self, now: float | None = None, *, everything: bool = False) -> int:
        """Write one counted row per source for each window that is over (all of them when ``everything``);
        returns how many rows were written."""
        self._roll(time.time() if now is None else now)
        closed, self._closed = self._closed, []
        if everything and self._tallies:
            closed.append((self._window, self._tallies))
            self._tallies = {}
        rows = [(w, s, t) for w, tallies in closed for s, t in tallies.items() if t.unwritten or t.throttled]
        if not rows:
            return 0
        try:
            async with self.db.transaction() as tx:
                for window, source, tally in rows:
                    await audit.append(
                        tx,
                        self.keys,
                        AuditEvent.AUTH_FAILED,
                        details={
                            "peer": source,
                            "window_start": window,
                            "window_s": self.window_s,
                            "count": tally.unwritten,  # beside the first, audited at once
                            "failures_in_window": tally.failures,
                            "throttled": tally.throttled,
                            "reasons": tally.reasons,
                            "routes": tally.routes,
                        },
                    )
        except Exception:
            self._closed = closed + self._closed  # try again next time
            raise
        return len(rows)

    async def run(self, every_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writing counted authentication failures failed; will retry")
