"""Enrolling second factors: TOTP authenticator apps, HOTP hardware tokens, cabinet passwords.

POST /v1/clients/{id}/totp            new authenticator secret; the otpauth:// URI is shown once
POST /v1/clients/{id}/totp/confirm    {"code"}: the first code proves the app; activates it
POST /v1/tokens                       import a hardware token {serial, seed_hex | seed_base32, ...}
POST /v1/tokens/{serial}/assign       {"client_id"}
POST /v1/tokens/{serial}/resync       {"first", "second"}: two consecutive codes (RFC 4226 §7.4)
PUT  /v1/clients/{id}/password        {"password"} under the policy (R-6.5)
"""

from __future__ import annotations

import binascii
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api import token_lifecycle
from authsvc.api.body import parse, read_body
from authsvc.api.factor_steps import CODE_REFUSALS, IpField, OtpCode, client_ip, json_answer, known_client
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import CLIENT_ID, Operation, Operations, Param
from authsvc.api.state import DB, FACTORS, KEYS
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.cabinet.models import given
from authsvc.errors import NotFound, ValidationFailed
from authsvc.methods import password_login, tokens
from authsvc.methods.otp_codes import MIN_KEY_BYTES, parse_base32_secret
from authsvc.store import clients as client_store
from authsvc.store import tokens as token_store

SERIAL = Param("serial", "path", "token serial number", schema={"type": "string", "maxLength": 64})


class TotpOut(BaseModel):
    token_id: str
    otpauth_uri: str = Field(description="show as a QR code now; it is not stored in readable form")


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: OtpCode
    client_ip: IpField = None


class TokenState(BaseModel):
    token_id: str
    status: str


# Base32 as parse_base32_secret reads it: whole groups of 8, then a tail of a length base32 can end with.
BASE32_PATTERN = "^(?:[A-Za-z2-7]{8})*(?:[A-Za-z2-7]{2}|[A-Za-z2-7]{4}|[A-Za-z2-7]{5}|[A-Za-z2-7]{7})?$"


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=given("seed_hex", "seed_base32", exactly=True))
    serial: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", examples=["HW-000123"])]
    # The patterns are the document's; the handler answers otp_bad_secret (or otp_key_too_short) itself.
    seed_hex: Annotated[
        str | None,
        Field(
            None,
            max_length=256,
            examples=["3132333435363738393031323334353637383930"],
            json_schema_extra={"pattern": f"^(?:[0-9a-fA-F]{{2}}){{{MIN_KEY_BYTES},128}}$"},
        ),
    ] = None
    seed_base32: Annotated[
        str | None,
        Field(
            None, max_length=256, json_schema_extra={"pattern": BASE32_PATTERN, "minLength": -(-MIN_KEY_BYTES * 8 // 5)}
        ),
    ] = None
    algorithm: Literal["SHA1", "SHA256", "SHA512"] = "SHA1"
    digits: Literal[6, 7, 8] = 6
    counter: Annotated[int, Field(ge=0, lt=2**62)] = 0


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: Annotated[str, Field(min_length=1, max_length=64)]


class ResyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first: OtpCode
    second: OtpCode


class PasswordSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Annotated[str, Field(min_length=1, max_length=4096)]


async def enrol_totp(request: web.Request) -> web.Response:
    lender = current_lender(request)
    client_id = await known_client(request)
    async with request.app[DB].transaction() as tx:
        enrolment = await tokens.enrol_totp(
            tx, request.app[KEYS], request.app[FACTORS], lender_id=lender.id, client_id=client_id
        )
        await audit.append(
            tx,
            request.app[KEYS],
            AuditEvent.TOTP_ENROLLED,
            lender_id=lender.id,
            subject=client_id,
            details={"token_id": enrolment.token_id, "stage": "issued"},
        )
    return json_answer(TotpOut(token_id=enrolment.token_id, otpauth_uri=enrolment.uri), 201)


async def confirm_totp(request: web.Request) -> web.Response:
    lender = current_lender(request)
    client_id = await known_client(request)
    body: CodeIn = parse(CodeIn, await read_body(request))
    async with request.app[DB].transaction() as tx:
        check = await tokens.verify_token(
            tx,
            request.app[KEYS],
            request.app[FACTORS],
            kind="totp",
            lender_id=lender.id,
            client_id=client_id,
            code=body.code,
            ip=client_ip(body.client_ip, request) if body.client_ip is not None else None,
            confirming=True,
        )
        if check.ok:
            await audit.append(
                tx,
                request.app[KEYS],
                AuditEvent.TOTP_ENROLLED,
                lender_id=lender.id,
                subject=client_id,
                details={"token_id": check.code_id, "stage": "confirmed"},
            )
    check.raise_for_failure()
    assert check.code_id is not None
    return json_answer(TokenState(token_id=check.code_id, status="active"))


def _seed(body: TokenIn) -> bytes:
    if (body.seed_hex is None) == (body.seed_base32 is None):
        raise ValidationFailed("give exactly one of seed_hex, seed_base32", code=error_codes.TOKEN_SEED_MISSING)
    if body.seed_base32 is not None:
        return parse_base32_secret(body.seed_base32)
    try:
        return bytes.fromhex(body.seed_hex or "")
    except (ValueError, binascii.Error) as exc:
        raise ValidationFailed("seed_hex is not hexadecimal", code=error_codes.OTP_BAD_SECRET) from exc


async def import_token(request: web.Request) -> web.Response:
    lender = current_lender(request)
    body: TokenIn = parse(TokenIn, await read_body(request))
    seed = _seed(body)
    async with request.app[DB].transaction() as tx:
        token_id = await tokens.import_hotp(
            tx,
            request.app[KEYS],
            lender_id=lender.id,
            serial=body.serial,
            seed=seed,
            digits=body.digits,
            algorithm=body.algorithm,
            counter=body.counter,
        )
        await audit.append(
            tx,
            request.app[KEYS],
            AuditEvent.TOKEN_IMPORTED,
            lender_id=lender.id,
            subject=token_id,
            details={"serial": body.serial},
        )
    return json_answer(TokenState(token_id=token_id, status="unassigned"), 201)


async def assign_token(request: web.Request) -> web.Response:
    lender = current_lender(request)
    body: AssignIn = parse(AssignIn, await read_body(request))
    async with request.app[DB].transaction() as tx:
        if await client_store.get(tx, lender.id, body.client_id) is None:
            raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
        token_id = await tokens.assign_hotp(
            tx,
            request.app[KEYS],
            lender_id=lender.id,
            serial=request.match_info["serial"][:64],
            client_id=body.client_id,
        )
        await audit.append(
            tx, request.app[KEYS], AuditEvent.TOKEN_ASSIGNED, lender_id=lender.id, subject=token_id, details={}
        )
    return json_answer(TokenState(token_id=token_id, status="active"))


async def resync_token(request: web.Request) -> web.Response:
    lender = current_lender(request)
    body: ResyncIn = parse(ResyncIn, await read_body(request))
    serial = request.match_info["serial"][:64]
    async with request.app[DB].transaction() as tx:
        ok = await tokens.resync_hotp_token(
            tx, request.app[KEYS], lender_id=lender.id, serial=serial, first=body.first, second=body.second
        )
        token = await token_store.by_serial(tx, request.app[KEYS], lender.id, serial)
        assert token is not None
        if ok:
            await audit.append(
                tx, request.app[KEYS], AuditEvent.TOKEN_RESYNCED, lender_id=lender.id, subject=token.id, details={}
            )
    if not ok:
        raise ValidationFailed(
            "the two codes are not consecutive codes of this token", code=error_codes.TOKEN_RESYNC_FAILED
        )
    return json_answer(TokenState(token_id=token.id, status=token.status))


async def set_password(request: web.Request) -> web.Response:
    lender = current_lender(request)
    client_id = await known_client(request)
    body: PasswordSetIn = parse(PasswordSetIn, await read_body(request))
    async with request.app[DB].transaction() as tx:
        await password_login.set_password(
            tx,
            request.app[KEYS],
            request.app[FACTORS],
            lender_id=lender.id,
            client_id=client_id,
            password=body.password,
        )
        await audit.append(
            tx, request.app[KEYS], AuditEvent.PASSWORD_SET, lender_id=lender.id, subject=client_id, details={}
        )
    return web.Response(status=204)


def register(ops: Operations) -> None:
    token_lifecycle.register(ops)  # the lifecycle after enrolment (issue 16), in its own module
    # The codes each operation answers besides the common ones (routing.codes_of adds those).
    answers = {
        "enrolTotp": (
            error_codes.CLIENT_NOT_FOUND,
            error_codes.TOTP_ALREADY_ENROLLED,
            error_codes.OTP_BAD_ALGORITHM,
            error_codes.OTP_BAD_DIGITS,
            error_codes.OTP_BAD_LABEL,
            error_codes.OTP_KEY_TOO_SHORT,
            error_codes.CONFIG_ERROR,
            error_codes.RECORD_TAMPERED,
        ),
        "confirmTotp": (
            error_codes.CLIENT_NOT_FOUND,
            error_codes.BAD_CLIENT_IP,
            *error_codes.OTP_CODE_FAULTS,
            error_codes.OTP_ALREADY_USED,
            error_codes.FACTOR_SUSPENDED,
            error_codes.CONFIG_ERROR,
            error_codes.RECORD_TAMPERED,
        ),
        "importToken": (
            error_codes.TOKEN_EXISTS,
            error_codes.OTP_BAD_ALGORITHM,
            error_codes.OTP_BAD_COUNTER,
            error_codes.OTP_BAD_DIGITS,
            error_codes.OTP_BAD_SECRET,
            error_codes.OTP_KEY_TOO_SHORT,
            error_codes.TOKEN_SEED_MISSING,
        ),
        "assignToken": (
            error_codes.CLIENT_NOT_FOUND,
            error_codes.TOKEN_NOT_FOUND,
            error_codes.TOKEN_ASSIGNED,
            error_codes.RECORD_TAMPERED,
        ),
        "resyncToken": (
            error_codes.TOKEN_NOT_FOUND,
            error_codes.OTP_BAD_ALGORITHM,
            error_codes.OTP_BAD_COUNTER,
            error_codes.OTP_BAD_DIGITS,
            error_codes.OTP_KEY_TOO_SHORT,
            error_codes.OTP_MALFORMED,
            error_codes.TOKEN_RESYNC_FAILED,
            error_codes.RECORD_TAMPERED,
        ),
        "setPassword": (
            error_codes.CLIENT_NOT_FOUND,
            error_codes.PASSWORD_COMMON,
            error_codes.PASSWORD_CONTAINS_PERSONAL_DATA,
            error_codes.PASSWORD_REPETITIVE,
            error_codes.PASSWORD_TOO_LONG,
            error_codes.PASSWORD_TOO_SHORT,
            error_codes.CONFIG_ERROR,
            error_codes.RECORD_TAMPERED,
        ),
    }
    # What a well-formed request can still be refused for: a wrong code, a password the policy refuses.
    refusals = {
        "confirmTotp": CODE_REFUSALS,
        "resyncToken": CODE_REFUSALS,
        "setPassword": (
            error_codes.PASSWORD_TOO_SHORT,
            error_codes.PASSWORD_TOO_LONG,
            error_codes.PASSWORD_REPETITIVE,
            error_codes.PASSWORD_COMMON,
            error_codes.PASSWORD_CONTAINS_PERSONAL_DATA,
        ),
    }
    tags = ("second factors",)
    for method, path, handler, op_id, summary, body, responses, params in (
        (
            "POST",
            "/v1/clients/{client_id}/totp",
            enrol_totp,
            "enrolTotp",
            "Enrol an authenticator app (RFC 6238)",
            None,
            {201: TotpOut, 404: None, 409: None},
            (CLIENT_ID,),
        ),
        (
            "POST",
            "/v1/clients/{client_id}/totp/confirm",
            confirm_totp,
            "confirmTotp",
            "Activate the authenticator with its first code",
            CodeIn,
            {200: TokenState, 404: None, 409: None, 422: None},
            (CLIENT_ID,),
        ),
        (
            "POST",
            "/v1/tokens",
            import_token,
            "importToken",
            "Import an HOTP hardware token (RFC 4226)",
            TokenIn,
            {201: TokenState, 409: None},
            (),
        ),
        (
            "POST",
            "/v1/tokens/{serial}/assign",
            assign_token,
            "assignToken",
            "Give a hardware token to a client",
            AssignIn,
            {200: TokenState, 404: None, 409: None},
            (SERIAL,),
        ),
        (
            "POST",
            "/v1/tokens/{serial}/resync",
            resync_token,
            "resyncToken",
            "Resynchronise a hardware token from two consecutive codes",
            ResyncIn,
            {200: TokenState, 404: None},
            (SERIAL,),
        ),
        (
            "PUT",
            "/v1/clients/{client_id}/password",
            set_password,
            "setPassword",
            "Set the client's cabinet password (R-6.5)",
            PasswordSetIn,
            {204: None, 404: None},
            (CLIENT_ID,),
        ),
    ):
        ops.add(
            Operation(
                method,
                path,
                handler,
                op_id,
                summary,
                body=body,
                responses=responses,
                params=params,
                tags=tags,
                errors=answers[op_id],
                beyond_schema=refusals.get(op_id, ()),
            )
        )
