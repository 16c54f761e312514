"""Cabinet log-in with a password (R-6.5): set under the policy, verify as a step of a `login`.

Hashes are argon2id (`authsvc.methods.passwords`) with the parameters of ``[factors]``; a successful
log-in with a hash made under other parameters stores a fresh one (rehash on login). A client with no
password costs the same argon2 time as a wrong one, and wrong answers go through the abuse limits, so
the answer tells nothing about which clients have a password.
"""

from __future__ import annotations

from authsvc.crypto.keystore import KeyStore
from authsvc.methods import abuse, contact, factor_bound
from authsvc.methods.factors import Factors
from authsvc.methods.otp import CodeCheck
from authsvc.store import passwords
from authsvc.store.db import Tx


async def set_password(
    tx: Tx, keys: KeyStore, factors: Factors, *, lender_id: str, client_id: str, password: str
) -> None:
    """Raises PasswordRejected (422, ``password_<reason>``) when the policy refuses it."""
    person = await contact.load(tx, keys, lender_id, client_id)
    factors.policy.check(password, personal=(person.iin, person.phone, *person.names))
    await passwords.put(tx, client_id, await factors.hasher.ahash(password))


async def verify_password(
    tx: Tx,
    keys: KeyStore,
    factors: Factors,
    *,
    lender_id: str,
    client_id: str,
    password: str,
    ip: str | None = None,
) -> tuple[CodeCheck, bool]:
    """Check the client's password; returns the check and whether the stored hash was renewed."""
    s = factors.settings
    gate = await abuse.before_verify(tx, keys, s, client_id=client_id, ip=ip)
    if gate:
        await factors.hasher.averify_dummy()
        return CodeCheck(False, gate.wait), False
    await contact.load(tx, keys, lender_id, client_id)  # NotFound for another lender's client
    # The per-account bound (issue 16.3): a password's failures count like a token's.
    charged = await factor_bound.charge(tx, s, client_id=client_id, factor="password")
    stored = await passwords.get(tx, client_id)
    if stored is None:
        ok = await factors.hasher.averify_dummy()
    else:
        ok = await factors.hasher.averify(stored, password)
    rehashed = False
    if ok and stored is not None and factors.hasher.needs_rehash(stored):
        rehashed = await passwords.replace(tx, client_id, stored, await factors.hasher.ahash(password))
    outcome: factor_bound.Outcome = "right" if ok else "wrong"
    await factor_bound.settle(
        tx, keys, s, charged, lender_id=lender_id, client_id=client_id, factor="password", outcome=outcome
    )
    wait = await abuse.after_verify(tx, keys, s, client_id=client_id, ip=ip, ok=ok, gate=gate)
    return CodeCheck(ok, wait), rehashed
