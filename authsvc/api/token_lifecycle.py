"""The life of a client's second factors after enrolment (issue 16): their state, the per-account bound,
and what the lender changes.

GET  /v1/clients/{id}/factors                        tokens (no secrets) and each factor's bound
POST /v1/clients/{id}/factors/{factor}/reinstate     lift a suspension after checking with the client
POST /v1/clients/{id}/tokens/{token_id}/disable      active → disabled (reversible)
POST /v1/clients/{id}/tokens/{token_id}/enable       disabled → active
POST /v1/clients/{id}/tokens/{token_id}/revoke       for good
POST /v1/clients/{id}/tokens/{token_id}/unassign     a hardware token back to the lender's stock
POST /v1/clients/{id}/tokens/{token_id}/lost         for good; {"replace": true} enrols a temporary authenticator
POST /v1/clients/{id}/totp/reset                     {"identification_id"} of a completed factor_reset: a new app
POST /v1/tokens/pskc                                 a vendor's seed file (RFC 6030), all keys or none
"""

from __future__ import annotations

import binascii
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.factor_steps import json_answer, known_client, read_optional
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import CLIENT_ID, Operation, Operations, Param
from authsvc.api.state import DB, FACTORS, KEYS
from authsvc.errors import ValidationFailed
from authsvc.methods import factor_bound, token_lifecycle

TOKEN_ID = Param("token_id", "path", "token id", schema={"type": "string", "maxLength": 64})
FACTOR = Param("factor", "path", "sms, totp, hotp or password", schema={"type": "string", "maxLength": 16})


class TokenOut(BaseModel):
    token_id: str
    kind: str
    serial: str | None
    status: str
    expires_at: datetime | None = Field(None, description="a temporary replacement's end")
    created_at: datetime


class BoundOut(BaseModel):
    factor: str
    consecutive_failures: int
    suspended: bool
    suspended_at: datetime | None


class FactorsOut(BaseModel):
    client_id: str
    failure_limit: int = Field(description="consecutive wrong answers that suspend a factor")
    tokens: list[TokenOut]
    bounds: list[BoundOut] = Field(description="only factors with failures on record")


class ReinstateOut(BaseModel):
    factor: str
    reinstated: bool = Field(
        description="false: the factor was not suspended (failures on record are forgotten all the same, audited)"
    )


class MovedOut(BaseModel):
    token_id: str
    status: str


class LostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    replace: bool = Field(True, description="enrol a temporary authenticator in its place")


class EnrolmentOut(BaseModel):
    token_id: str
    otpauth_uri: str = Field(description="show as a QR code now; it is not stored in readable form")
    expires_at: datetime | None = None


class LostOut(BaseModel):
    token_id: str
    status: str
    replacement: EnrolmentOut | None


class ResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identification_id: Annotated[str, Field(min_length=1, max_length=64)]


class PskcIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: Annotated[str, Field(min_length=1, max_length=4_000_000, description="the PSKC XML document")]
    pre_shared_key_hex: Annotated[
        str | None, Field(None, max_length=64, json_schema_extra={"pattern": "^(?:[0-9a-fA-F]{2}){16,32}$"})
    ] = None


class ImportedOut(BaseModel):
    serial: str
    token_id: str
    kind: str


class PskcOut(BaseModel):
    imported: list[ImportedOut]


async def list_factors(request: web.Request) -> web.Response:
    lender = current_lender(request)
    client_id = await known_client(request)
    async with request.app[DB].autocommit() as tx:
        listed, states = await token_lifecycle.factor_states(tx, lender.id, client_id)
    limit = request.app[FACTORS].settings.factor_failure_limit
    out = FactorsOut(
        client_id=client_id,
        failure_limit=limit,
        tokens=[
            TokenOut(
                token_id=t.id, **{k: getattr(t, k) for k in ("kind", "serial", "status", "expires_at", "created_at")}
            )
            for t in listed
        ],
        bounds=[
            BoundOut(
                factor=st.factor,
                consecutive_failures=st.failures,
                suspended=st.suspended_at is not None or st.failures >= limit,
                suspended_at=st.suspended_at,
            )
            for st in states
            if st.failures or st.suspended_at
        ],
    )
    return json_answer(out)


async def reinstate(request: web.Request) -> web.Response:
    lender = current_lender(request)
    client_id = await known_client(request)
    factor = request.match_info["factor"][:16]
    async with request.app[DB].transaction() as tx:
        done = await factor_bound.reinstate(
            tx, request.app[KEYS], lender_id=lender.id, client_id=client_id, factor=factor, by="lender"
        )
    if done:
        request.app[FACTORS].outbox_bell.set()
    return json_answer(ReinstateOut(factor=factor, reinstated=done))


async def _move(request: web.Request, action: str) -> web.Response:
    lender = current_lender(request)
    client_id = await known_client(request)
    token_id = request.match_info["token_id"][:64]
    async with request.app[DB].transaction() as tx:
        status = await token_lifecycle.move(
            tx, request.app[KEYS], lender_id=lender.id, client_id=client_id, token_id=token_id, action=action
        )
    return json_answer(MovedOut(token_id=token_id, status=status))


async def disable_token(request: web.Request) -> web.Response:
    return await _move(request, "disable")


async def enable_token(request: web.Request) -> web.Response:
    return await _move(request, "enable")


async def revoke_token(request: web.Request) -> web.Response:
    return await _move(request, "revoke")


async def unassign_token(request: web.Request) -> web.Response:
    return await _move(request, "unassign")


async def report_lost(request: web.Request) -> web.Response:
    lender = current_lender(request)
    client_id = await known_client(request)
    token_id = request.match_info["token_id"][:64]
    body: LostIn = await read_optional(request, LostIn)
    async with request.app[DB].transaction() as tx:
        made = await token_lifecycle.report_lost(
            tx,
            request.app[KEYS],
            request.app[FACTORS],
            lender_id=lender.id,
            client_id=client_id,
            token_id=token_id,
            replace=body.replace,
        )
    replacement = (
        EnrolmentOut(token_id=made.token_id, otpauth_uri=made.uri, expires_at=made.expires_at) if made else None
    )
    return json_answer(LostOut(token_id=token_id, status="lost", replacement=replacement))


async def reset_totp(request: web.Request) -> web.Response:
    lender = current_lender(request)
    client_id = await known_client(request)
    body: ResetIn = parse(ResetIn, await read_body(request))
    async with request.app[DB].transaction() as tx:
        made = await token_lifecycle.reset_totp(
            tx,
            request.app[KEYS],
            request.app[FACTORS],
            lender_id=lender.id,
            client_id=client_id,
            identification_id=body.identification_id,
        )
    request.app[FACTORS].outbox_bell.set()  # a lifted suspension is told by SMS
    return json_answer(EnrolmentOut(token_id=made.token_id, otpauth_uri=made.uri), 201)


async def import_pskc(request: web.Request) -> web.Response:
    lender = current_lender(request)
    body: PskcIn = parse(PskcIn, await read_body(request))
    key = None
    if body.pre_shared_key_hex is not None:
        try:
            key = bytes.fromhex(body.pre_shared_key_hex)
        except (ValueError, binascii.Error) as exc:
            raise ValidationFailed("pre_shared_key_hex is not hexadecimal", code=error_codes.PSKC_KEY_REJECTED) from exc
    async with request.app[DB].transaction() as tx:
        done = await token_lifecycle.import_pskc(
            tx, request.app[KEYS], lender_id=lender.id, document=body.document.encode("utf-8"), pre_shared_key=key
        )
    return json_answer(
        PskcOut(imported=[ImportedOut(serial=d.serial, token_id=d.token_id, kind=d.kind) for d in done]), 201
    )


_MOVE_ERRORS = (
    error_codes.CLIENT_NOT_FOUND,
    error_codes.TOKEN_NOT_FOUND,
    error_codes.TOKEN_WRONG_STATE,
    error_codes.RECORD_TAMPERED,
)
_ENROL_ERRORS = (
    error_codes.TOTP_ALREADY_ENROLLED,
    error_codes.OTP_BAD_ALGORITHM,
    error_codes.OTP_BAD_DIGITS,
    error_codes.OTP_BAD_LABEL,
    error_codes.OTP_KEY_TOO_SHORT,
    error_codes.CONFIG_ERROR,
)


def register(ops: Operations) -> None:
    tags = ("second factors",)
    client_tokens = "/v1/clients/{client_id}/tokens/{token_id}"
    table: list[
        tuple[
            str,
            str,
            Callable[[web.Request], Awaitable[web.Response]],
            str,
            str,
            object,
            dict[int, object],
            tuple[Param, ...],
            tuple[error_codes.Code, ...],
        ]
    ] = [
        (
            "GET",
            "/v1/clients/{client_id}/factors",
            list_factors,
            "listFactors",
            "The client's tokens and the per-account bound of each factor",
            None,
            {200: FactorsOut, 404: None},
            (CLIENT_ID,),
            (error_codes.CLIENT_NOT_FOUND,),
        ),
        (
            "POST",
            "/v1/clients/{client_id}/factors/{factor}/reinstate",
            reinstate,
            "reinstateFactor",
            "Lift the suspension of a factor after repeated wrong answers (the client is told by SMS)",
            None,
            {200: ReinstateOut, 404: None},
            (CLIENT_ID, FACTOR),
            (error_codes.CLIENT_NOT_FOUND, error_codes.FACTOR_UNKNOWN, error_codes.RECORD_TAMPERED),
        ),
    ]
    for action, handler, summary in (
        ("disable", disable_token, "Disable a token for now (enable brings it back)"),
        ("enable", enable_token, "Enable a disabled token"),
        ("revoke", revoke_token, "Revoke a token for good"),
        ("unassign", unassign_token, "Take a hardware token back from the client (it can be assigned again)"),
    ):
        table.append(
            (
                "POST",
                f"{client_tokens}/{action}",
                handler,
                f"{action}Token",
                summary,
                None,
                {200: MovedOut, 404: None, 409: None},
                (CLIENT_ID, TOKEN_ID),
                _MOVE_ERRORS,
            )
        )
    table += [
        (
            "POST",
            f"{client_tokens}/lost",
            report_lost,
            "reportTokenLost",
            "Report a token lost (for good), with a temporary authenticator in its place",
            LostIn,
            {200: LostOut, 404: None, 409: None},
            (CLIENT_ID, TOKEN_ID),
            _MOVE_ERRORS + _ENROL_ERRORS,
        ),
        (
            "POST",
            "/v1/clients/{client_id}/totp/reset",
            reset_totp,
            "resetTotp",
            "Replace the client's authenticator app after a completed factor_reset identification (used once)",
            ResetIn,
            {201: EnrolmentOut, 404: None, 409: None},
            (CLIENT_ID,),
            (
                error_codes.CLIENT_NOT_FOUND,
                error_codes.IDENTIFICATION_NOT_USABLE,
                error_codes.RECORD_TAMPERED,
                *_ENROL_ERRORS,
            ),
        ),
        (
            "POST",
            "/v1/tokens/pskc",
            import_pskc,
            "importPskc",
            "Import HOTP/TOTP tokens from a PSKC seed file (RFC 6030), seeds sealed at rest",
            PskcIn,
            {201: PskcOut, 409: None, 422: None},
            (),
            (
                error_codes.PSKC_INVALID,
                error_codes.PSKC_KEY_REJECTED,
                error_codes.TOKEN_EXISTS,
                error_codes.OTP_BAD_DIGITS,
                error_codes.OTP_KEY_TOO_SHORT,
                error_codes.OTP_BAD_COUNTER,
                error_codes.OTP_BAD_ALGORITHM,
            ),
        ),
    ]
    for method, path, run, op_id, summary, body, responses, params, errors in table:
        ops.add(
            Operation(
                method,
                path,
                run,
                op_id,
                summary,
                body=body,
                responses=responses,
                params=params,
                tags=tags,
                errors=errors,
                # the PSKC document's content (its XML, the keys it holds) and its pre-shared key
                beyond_schema=tuple(c for c in errors if c.status == 422) if op_id == "importPskc" else (),
            )
        )
