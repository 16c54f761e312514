"""What a lender does with a client's tokens over their life (issue 16.2): disable and enable, revoke,
unassign a hardware token, report one lost (with a temporary authenticator in its place), reset the
authenticator app through a completed identification, and import a vendor's seed file (PSKC, RFC 6030).

Every change is a compare-and-set on the token's status (`authsvc.store.tokens.move`), so two lenders'
operators racing on one token cannot both win, and every change writes its audit entry in the same
transaction (R-12.1). Seeds are sealed like every other secret (`authsvc.store.tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authsvc import error_codes
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound, ValidationFailed
from authsvc.methods import factor_bound, pskc
from authsvc.methods.factors import Factors
from authsvc.methods.otp_codes import hotp, new_secret, otpauth_uri
from authsvc.store import bounds, tokens
from authsvc.store import identifications as idents
from authsvc.store.db import Tx
from authsvc.store.errors import Duplicate

# The operation a completed identification must be for to reset an authenticator: its own, so the profiles
# say what a new authenticator takes (an item-7 method; biometrics under nb-2025, R-23.1) apart from a
# change of phone or account (R-6.6, and the operator's number check, R-108.1), and the signed result names it.
RESET_OPERATION = idents.Operation.FACTOR_RESET
RESET_MAX_AGE_S = 900  # a completed identification is good for a reset this long

# action -> (statuses it starts from, status it ends in, audit event)
MOVES: dict[str, tuple[tuple[str, ...], str, AuditEvent]] = {
    "disable": (("active",), "disabled", AuditEvent.TOKEN_DISABLED),
    "enable": (("disabled",), "active", AuditEvent.TOKEN_ENABLED),
    "revoke": (("pending", "active", "disabled", "unassigned"), "revoked", AuditEvent.TOKEN_REVOKED),
    "unassign": (("active", "disabled"), "unassigned", AuditEvent.TOKEN_UNASSIGNED),
    "lost": (("active", "disabled"), "lost", AuditEvent.TOKEN_LOST),
}


async def _client_token(tx: Tx, keys: KeyStore, lender_id: str, client_id: str, token_id: str) -> tokens.Token:
    token = await tokens.by_id(tx, keys, lender_id, token_id)
    if token is None or token.client_id != client_id:
        raise NotFound("the client has no such token", code=error_codes.TOKEN_NOT_FOUND)
    return token


async def move(tx: Tx, keys: KeyStore, *, lender_id: str, client_id: str, token_id: str, action: str) -> str:
    """Apply ``action`` (a key of `MOVES`) to the client's token; its new status. Conflict(token_wrong_state)
    from a status the action does not start from; unassign is for hardware tokens (with a serial) only."""
    starts, ends, event = MOVES[action]
    token = await _client_token(tx, keys, lender_id, client_id, token_id)
    if action == "unassign" and token.serial is None:
        raise Conflict("only a hardware token can be unassigned; revoke an app", code=error_codes.TOKEN_WRONG_STATE)
    if not await tokens.move(tx, token.id, from_=starts, to=ends, unassign=action == "unassign"):
        raise Conflict(f"a {token.status} token cannot be changed by {action}", code=error_codes.TOKEN_WRONG_STATE)
    details = {"token_id": token.id, "kind": token.kind, "from": token.status, "to": ends}
    await audit.append(tx, keys, event, lender_id=lender_id, subject=client_id, details=details)
    return ends


@dataclass(frozen=True)
class Replacement:
    token_id: str
    uri: str
    expires_at: datetime


async def _temporary_totp(
    tx: Tx, keys: KeyStore, factors: Factors, *, lender_id: str, client_id: str, expires_at: datetime | None
) -> Replacement:
    if await tokens.of_client(tx, keys, lender_id, client_id, "totp", status="active") is not None:
        raise Conflict("the client already has an active authenticator", code=error_codes.TOTP_ALREADY_ENROLLED)
    await tokens.drop_pending(tx, lender_id, client_id, "totp")
    secret = new_secret()
    token_id = await tokens.create(
        tx, keys, lender_id=lender_id, client_id=client_id, kind="totp", secret=secret, expires_at=expires_at
    )
    uri = otpauth_uri(secret, account=token_id[:8], issuer=factors.settings.totp_issuer)
    return Replacement(token_id, uri, expires_at or datetime.max.replace(tzinfo=UTC))


async def report_lost(
    tx: Tx, keys: KeyStore, factors: Factors, *, lender_id: str, client_id: str, token_id: str, replace: bool
) -> Replacement | None:
    """Mark the token lost (final) and, with ``replace``, enrol a temporary authenticator that stops working
    after ``[factors] temporary_token_days`` (confirmed like any enrolment, by its first code)."""
    await move(tx, keys, lender_id=lender_id, client_id=client_id, token_id=token_id, action="lost")
    if not replace:
        return None
    until = datetime.now(UTC) + timedelta(days=factors.settings.temporary_token_days)
    made = await _temporary_totp(tx, keys, factors, lender_id=lender_id, client_id=client_id, expires_at=until)
    details = {"token_id": made.token_id, "replaces": token_id, "expires_at": until.isoformat(), "stage": "issued"}
    await audit.append(tx, keys, AuditEvent.TOTP_ENROLLED, lender_id=lender_id, subject=client_id, details=details)
    return made


async def reset_totp(
    tx: Tx, keys: KeyStore, factors: Factors, *, lender_id: str, client_id: str, identification_id: str
) -> Replacement:
    """Replace the client's authenticator app (revoking the old one, whatever its state) after a completed
    identification of the client for `RESET_OPERATION`, used here once. The new app starts with a clean
    per-account bound (a suspension lifted so is audited and told to the client, as by `factor_bound.reinstate`)."""
    used = await idents.consume(
        tx,
        lender_id=lender_id,
        client_id=client_id,
        ident_id=identification_id,
        operation=RESET_OPERATION,
        max_age_s=RESET_MAX_AGE_S,
    )
    if not used:
        raise Conflict(
            f"the identification is not a completed, unused {RESET_OPERATION.value} identification of this client",
            code=error_codes.IDENTIFICATION_NOT_USABLE,
        )
    await audit.append(
        tx,
        keys,
        AuditEvent.IDENTIFICATION_CONSUMED,
        lender_id=lender_id,
        subject=identification_id,
        details={"operation": RESET_OPERATION.value, "for": "totp.reset"},
    )
    revoked = await tokens.retire_client_totp(tx, lender_id, client_id)
    # A suspended authenticator comes back with the new app like any reinstatement: audited, told by SMS.
    found = await bounds.person_of(tx, client_id)
    if found is not None:
        await factor_bound.lift(
            tx,
            keys,
            lender_id=lender_id,
            client_id=client_id,
            person_mac=found[1],
            factor="totp",
            by="totp_reset",
            identification_id=identification_id,
        )
    made = await _temporary_totp(tx, keys, factors, lender_id=lender_id, client_id=client_id, expires_at=None)
    details = {"revoked": revoked, "token_id": made.token_id, "identification_id": identification_id}
    await audit.append(tx, keys, AuditEvent.TOTP_RESET, lender_id=lender_id, subject=client_id, details=details)
    return made


@dataclass(frozen=True)
class Imported:
    serial: str
    token_id: str
    kind: str


async def import_pskc(
    tx: Tx, keys: KeyStore, *, lender_id: str, document: bytes, pre_shared_key: bytes | None
) -> list[Imported]:
    """Import every HOTP/TOTP key of a PSKC file as an unassigned hardware token, all or nothing.
    Conflict(token_exists) if any serial was imported before."""
    keys_read = pskc.read(document, pre_shared_key)
    done: list[Imported] = []
    for k in keys_read:
        hotp(k.secret, k.counter, digits=k.digits)  # validates seed length and digits
        if k.period <= 0:
            raise ValidationFailed(
                f"PSKC: key {k.serial}: TimeInterval must be positive", code=error_codes.PSKC_INVALID
            )
        try:
            async with tx.savepoint():
                token_id = await tokens.create(
                    tx,
                    keys,
                    lender_id=lender_id,
                    client_id=None,
                    kind=k.kind,
                    secret=k.secret,
                    serial=k.serial,
                    status="unassigned",
                    digits=k.digits,
                    period=k.period,
                    counter=k.counter if k.kind == "hotp" else 0,
                )
        except Duplicate as exc:
            raise Conflict(
                f"a token with serial {k.serial} was imported already", code=error_codes.TOKEN_EXISTS
            ) from exc
        done.append(Imported(k.serial, token_id, k.kind))
    details = {"count": len(done), "serials": [d.serial for d in done][:100]}
    await audit.append(tx, keys, AuditEvent.TOKENS_IMPORTED, lender_id=lender_id, subject=None, details=details)
    return done


async def factor_states(tx: Tx, lender_id: str, client_id: str) -> tuple[list[tokens.Listed], list[bounds.State]]:
    return await tokens.of_client_all(tx, lender_id, client_id), await factor_bound.states(tx, client_id)
