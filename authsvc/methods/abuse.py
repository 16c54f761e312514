"""Abuse limits on one-time codes, on top of `authsvc.store.throttle`.

Sending (SMS pumping): fixed-window caps per client, per phone number, per end-user IP and per lender.
Verifying (guessing): a cap per IP, and wrong answers counted per (client, IP): after a few free ones
each further one imposes a doubling delay, capped at `verify_delay_max_s` — never a permanent lock, and
an attacker on another address cannot slow the real client down. A blocked, unknown or wrong case is
answered alike (`rejected`), so answers reveal neither accounts nor lock state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from authsvc import error_codes
from authsvc.config import FactorSettings
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, RateLimited, ValidationFailed
from authsvc.store import throttle
from authsvc.store.db import Tx

VERIFY_WINDOW_S = 60


def _scope_value(kind: str, *parts: str) -> str:
    return kind + chr(0) + chr(0).join(parts)


def _scope(kind: str, mac: bytes) -> str:
    """A throttle key naming nobody: the kind and a keyed hash of the values."""
    return f"{kind}:{mac.hex()[:48]}"


async def count_send(
    tx: Tx,
    keys: KeyStore,
    s: FactorSettings,
    *,
    lender_id: str,
    client_id: str,
    phone: str,
    ip: str | None,
) -> None:
    """Count one code sent against every cap at once; raises RateLimited(code=error_codes.OTP_SEND_LIMITED) over
    any of them (the caller's transaction then rolls back, so a refused send counts nowhere).

    ``ip`` None: the lender did not say where the end user is. The request's own address is then the lender's
    server, shared by all its clients (issue 11.8: one client's sends would use up everyone's), so the
    per-address cap is left out and the client, phone and lender caps bound what is known."""
    caps = [
        ("send-client", client_id, s.send_limit_per_client),
        ("send-phone", phone, s.send_limit_per_phone),
        ("send-lender", lender_id, s.send_limit_per_lender),
    ]
    if ip is not None:
        caps.append(("send-ip", ip, s.send_limit_per_ip))
    macs = await keys.aindex_macs("throttle", [_scope_value(kind, value) for kind, value, _ in caps])  # one hop
    limits = {_scope(kind, mac): limit for (kind, _, limit), mac in zip(caps, macs, strict=True)}
    wait = await throttle.count_many(tx, limits, window_s=s.send_window_s)
    if wait:
        raise RateLimited(
            "too many codes were requested; try again later", retry_after=wait, code=error_codes.OTP_SEND_LIMITED
        )


UNKNOWN_ADDRESS = "-"  # the failure scope's address part when the lender named no end-user address
ANON_PREFIX = throttle.ANON_PREFIX  # the per-address cap's counter when the address is unknown: the client's own


def _fail_value(ip: str) -> str:
    return "verify-fail" + chr(0) + ip


def _ip_key(mac: bytes) -> str:
    return mac.hex()[:24]


async def ip_mac(keys: KeyStore, ip: str | None) -> str:
    """The keyed hash of an end user's address that failure scopes carry (24 hex digits)."""
    if ip is None:
        return UNKNOWN_ADDRESS
    return _ip_key(await keys.aindex_mac("throttle", _fail_value(ip)))


async def _guess_scope(keys: KeyStore, client_id: str, ip: str | None) -> str:
    return throttle.failure_scope(client_id, await ip_mac(keys, ip))


@dataclass(frozen=True)
class Gate:
    wait: int  # seconds the (client, IP) pair must still wait after wrong answers; 0: check the answer
    had_failures: bool  # a right answer then has something to forgive

    def __bool__(self) -> bool:
        return self.wait > 0


@dataclass(frozen=True)
class Address:
    """Where a verification comes from, as the throttles know it: the end user's address (keyed) and the
    counting window; with the client and the lender it names every scope an attempt counts in."""

    ip: str | None  # None: the lender did not name the end user's address
    scope: str | None  # the per-address cap's counter (None: the client's own, `ANON_PREFIX`)
    mac: str  # the keyed address in the (client, address) failure scope
    window_start: int
    now: float

    @classmethod
    async def of(cls, keys: KeyStore, ip: str | None) -> Address:
        """The address keyed off the event loop where the key store's device keys it."""
        if ip is None:
            scope_of, mac = None, UNKNOWN_ADDRESS
        else:  # both keyed hashes in one trip to the device
            ip_scope, fail = await keys.aindex_macs("throttle", [_scope_value("verify-ip", ip), _fail_value(ip)])
            scope_of, mac = _scope("verify-ip", ip_scope), _ip_key(fail)
        now = time.time()
        return cls(ip, scope_of, mac, throttle.window_of(now, VERIFY_WINDOW_S), now)

    def scopes(self, *, client_id: str) -> list[str]:
        """The caps' counters, in `VERIFY_CAPS` order (`throttle.id_scope_sql` builds the same in SQL). Without
        an address the per-address counter is the client's own: the lender's server is no end user's address."""
        return [self.scope or ANON_PREFIX + client_id, throttle.id_scope(throttle.VERIFY_CLIENT, client_id)]

    def count(self, *, client_id: str) -> dict[str, Any]:
        """Parameters of `COUNT_ATTEMPT` that count this attempt in every cap."""
        scopes = self.scopes(client_id=client_id)
        return {"window_start": self.window_start} | {f"scope{i}": sc for i, sc in enumerate(scopes)}


# The lender's verifications are capped by its API rate limit (`[rate_limit]`, counted in process memory and
# shared through the database every 200 ms): a counter row per lender here would make every verification
# of that lender wait on one row lock (measured: 2,023 → 1,895 verifications/s).
VERIFY_CAPS = ("address", "client")
COUNT_ATTEMPT = throttle.count_statement(len(VERIFY_CAPS))
UNCOUNT_ATTEMPT = throttle.uncount_statement(len(VERIFY_CAPS))  # an attempt that turned out to be none


def gate(s: FactorSettings, at: Address, seen: throttle.Peek) -> Gate:
    """RateLimited when the address, the client or the lender is over its cap of verifications in the
    window; else the (client, address) pair's Gate: a true Gate means "paused: answer rejected without
    checking"."""
    limits = (s.verify_limit_per_ip, s.verify_limit_per_client)
    for cap, counted, limit in zip(VERIFY_CAPS, seen.counts, limits, strict=True):
        if counted >= limit:
            wait = max(1, int(at.window_start + VERIFY_WINDOW_S - at.now + 0.999))
            raise RateLimited(
                f"too many verifications for this {cap}", retry_after=wait, code=error_codes.OTP_VERIFY_LIMITED
            )
    return Gate(seen.paused_for(at.now), seen.failures > 0)


async def before_verify(tx: Tx, keys: KeyStore, s: FactorSettings, *, client_id: str, ip: str | None) -> Gate:
    """`gate` the attempt, then count it against every cap."""
    at = await Address.of(keys, ip)
    scopes = at.scopes(client_id=client_id)
    failures = throttle.failure_scope(client_id, at.mac)
    seen = await throttle.peek_at(tx, scopes, failures, window_start=at.window_start)
    answer = gate(s, at, seen)
    await tx.run(COUNT_ATTEMPT, **at.count(client_id=client_id))
    return answer


async def after_verify(
    tx: Tx, keys: KeyStore, s: FactorSettings, *, client_id: str, ip: str | None, ok: bool, gate: Gate
) -> int:
    """Record the outcome; returns the delay a wrong answer imposed (0 after a right one)."""
    if ok:
        if gate.had_failures:  # a clean record has nothing to clear: no keyed hash to compute either
            await throttle.succeed(tx, await _guess_scope(keys, client_id, ip))
        return 0
    return await throttle.fail(
        tx,
        await _guess_scope(keys, client_id, ip),
        free=s.verify_free_failures,
        base_s=s.verify_delay_base_s,
        max_s=s.verify_delay_max_s,
    )


def already_used() -> Conflict:
    """A right code that lost the race to its own twin, or was accepted a moment before (issue 11.7): not a
    guess, so it counts as no failure anywhere."""
    return Conflict("this code was accepted once already", code=error_codes.OTP_ALREADY_USED)


def rejected(retry_after: int) -> ValidationFailed:
    """The one answer to a wrong, expired, used, unknown or paused verification."""
    return ValidationFailed(
        "the code is wrong, expired or already used"
        + (f"; wait {retry_after} s before the next try" if retry_after else ""),
        code=error_codes.OTP_REJECTED,
        retry_after=retry_after,
    )
