"""Idempotency-Key for every operation declared ``idempotent=True`` (`authsvc.api.routing.Operation`).

A lender retrying a POST after a timeout must not create a second client, identification or contract, nor
send a second SMS. With ``Idempotency-Key: <1-200 visible ASCII>`` on such an operation:

- the first request claims the key (a committed row keyed by lender and key, holding a keyed fingerprint of
  method, path and body) and runs; a success (status < 400) is stored — status, body, Location and content
  type — and any later request with the key and the same fingerprint gets that answer again, marked
  ``Idempotent-Replayed: true``, without running the handler;
- the same key with a different method, path or body is refused: 409 ``idempotency_key_reused``;
- a failed request (an error answer or exception) forgets the key, so a corrected retry may use it;
- concurrent twins: one runs, the others wait for it (in this process on a future, across processes by
  polling the row, up to ``WAIT_S``) and replay its answer, or get 409 ``idempotency_in_progress`` when it
  takes longer;
- a claim left PENDING by a process that died is taken over after ``LEASE_S``. The answer is stored after
  the handler's own transaction commits, so a crash between the two lets a retry after the lease run the
  request again (the handlers' own uniqueness rules, e.g. one client per IIN, still hold then).

Keys are per lender and remembered for ``security.idempotency_ttl_s`` (housekeeping purges them).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from authsvc import error_codes
from authsvc.api.body import read_raw
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import IDEMPOTENCY_HEADER
from authsvc.api.state import DB, KEYS, OPERATIONS
from authsvc.errors import BadRequest, Conflict
from authsvc.store import idempotency
from authsvc.store.errors import Duplicate

log = logging.getLogger("authsvc.idempotency")
REPLAYED_HEADER = "Idempotent-Replayed"
LEASE_S = 120.0  # longer than any request may run: a PENDING claim this old was left by a dead process
WAIT_S = 10.0  # how long a twin waits for the first request before answering 409 idempotency_in_progress
_POLL_S = (0.01, 0.02, 0.05, 0.1, 0.2)
# Headers of the first answer that a replay repeats (the rest are per response: date, request id, length).
_KEPT = ("Content-Type", "Location")


def valid_key(key: str) -> bool:
    return 0 < len(key) <= 200 and key.isascii() and key.isprintable() and " " not in key


async def fingerprint(request: web.Request, lender_id: str, body: bytes) -> bytes:
    """Keyed hash of what makes two requests the same one: lender, method, path and body."""
    what = f"{lender_id}:{request.method} {request.path}:{hashlib.sha256(body).hexdigest()}"
    return await request.app[KEYS].aindex_mac("idempotency", what)


def idempotency_middleware() -> Middleware:
    """The guard, after authentication; one per application (it holds the requests running here)."""
    running: dict[tuple[str, str], asyncio.Future[None]] = {}

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return await handler(request)
        op = request.app[OPERATIONS].get(request.match_info.route.name)
        if op is None or not op.idempotent:
            return await handler(request)
        if not valid_key(key):
            raise BadRequest(
                "Idempotency-Key must be 1-200 visible ASCII characters", code=error_codes.BAD_IDEMPOTENCY_KEY
            )
        lender_id = current_lender(request).id
        mac = await fingerprint(request, lender_id, await read_raw(request))
        slot = (lender_id, key)
        deadline = asyncio.get_running_loop().time() + WAIT_S
        polls = 0
        while True:
            here = running.get(slot)
            if here is not None:  # a twin runs in this process: wait for it, then look again
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(here), max(0.0, deadline - asyncio.get_running_loop().time()))
                if asyncio.get_running_loop().time() >= deadline and not here.done():
                    raise _in_progress()
                continue
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            running[slot] = done
            try:
                answer = await _claim_or_replay(request, lender_id, key, mac)
                if answer is True:
                    return await _run(request, handler, lender_id, key)
                if isinstance(answer, web.Response):
                    return answer
            finally:
                running.pop(slot, None)
                done.set_result(None)
            # Another process holds the key: poll until it finishes or the wait is over.
            if asyncio.get_running_loop().time() >= deadline:
                raise _in_progress()
            await asyncio.sleep(_POLL_S[min(polls, len(_POLL_S) - 1)])
            polls += 1

    return guard


def _in_progress() -> Conflict:
    return Conflict(
        "a request with this Idempotency-Key is still in progress", code=error_codes.IDEMPOTENCY_IN_PROGRESS
    )


async def _claim_or_replay(request: web.Request, lender_id: str, key: str, mac: bytes) -> bool | web.Response | None:
    """True: this request owns the key; a Response: the stored answer; None: another process runs it."""
    db = request.app[DB]
    try:
        async with db.transaction() as tx:
            await idempotency.claim(tx, lender_id, key, mac)
        return True
    except Duplicate:
        pass
    async with db.autocommit() as tx:
        stored = await idempotency.fetch(tx, lender_id, key)
    if stored is None:
        return None  # forgotten meanwhile (the first request failed): claim again next round
    if stored.request_mac != mac:
        raise Conflict("this Idempotency-Key was used for a different request", code=error_codes.IDEMPOTENCY_KEY_REUSED)
    if stored.status != idempotency.PENDING:
        response = web.Response(status=stored.status, body=stored.body, headers=stored.headers)
        response.headers[REPLAYED_HEADER] = "true"
        return response
    stale = datetime.now(UTC) - timedelta(seconds=LEASE_S)
    if stored.created_at < stale:
        async with db.transaction() as tx:
            if await idempotency.take_over(tx, lender_id, key, claimed_before=stale):
                log.warning("idempotency key taken over from a request that never finished")
                return True
    return None


async def _run(request: web.Request, handler: Handler, lender_id: str, key: str) -> web.StreamResponse:
    db = request.app[DB]
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        raise  # whether the write committed is unknown: the claim lapses after LEASE_S
    except BaseException:
        await _release(request, lender_id, key)
        raise
    if response.status >= 400 or not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        await _release(request, lender_id, key)
        return response
    headers = {name: response.headers[name] for name in _KEPT if name in response.headers}
    async with db.transaction() as tx:
        await idempotency.complete(tx, lender_id, key, response.status, response.body, headers)
    return response


async def _release(request: web.Request, lender_id: str, key: str) -> None:
    try:
        async with request.app[DB].transaction() as tx:
            await idempotency.release(tx, lender_id, key)
    except Exception:  # the failure being answered matters more; the claim lapses after LEASE_S
        log.exception("could not release an idempotency key")
