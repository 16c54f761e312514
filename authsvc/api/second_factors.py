"""One-time codes and passwords as steps of an identification (R-2.2, R-6.5, R-7.3a), and the SMS
gateways' delivery receipts.

    POST /v1/identifications/{id}/otp         send a code to the client's registered phone: SMS, or a
                                              verification call that reads it out (R-NB.4)
    POST /v1/identifications/{id}/otp/verify  {"factor": "sms" | "voice" | "totp" | "hotp", "code"}
    POST /v1/identifications/{id}/password    {"password"} (cabinet log-in, R-6.5)
    POST /callbacks/sms                       delivery receipt from a gateway (signed when configured)

A wrong, expired, used or unknown code, and a client paused after wrong answers, all get the same
422 ``otp_rejected`` (with ``retry_after``); the spent try is committed before answering.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.factor_steps import (
    CODE_REFUSALS,
    DEVICE_SIGNALS,
    SIGNAL_POLICY,
    IpField,
    OtpCode,
    StepResult,
    client_ip,
    device_signals,
    json_answer,
    read_optional,
    step_result,
)
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import IDENT_ID, Operation, Operations
from authsvc.api.state import DB, FACTORS, FLOWS, KEYS
from authsvc.errors import AuthsvcError, Unauthorized, ValidationFailed
from authsvc.flows.recorder import Attempt, StepRecorder
from authsvc.flows.session import StepOutcome
from authsvc.flows.signals import DeviceSignals
from authsvc.methods import otp, password_login, sms_queue, tokens
from authsvc.methods.otp import CodeCheck
from authsvc.store.identifications import Identification

OTP_TEXT = "Ваш код подтверждения: {code}. Никому не сообщайте его."


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["sms", "voice"] = Field("sms", description="voice: a call reads the code out (R-NB.4)")
    client_ip: IpField = None


class SendOut(BaseModel):
    identification_id: str
    channel: Literal["sms", "voice"]
    phone: str = Field(description="masked")
    expires_at: datetime
    resend_after: datetime
    message_id: str = Field(description="outbox id of the queued SMS")


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factor: Literal["sms", "voice", "totp", "hotp"] = Field("sms", description="sms and voice: the code sent")
    code: OtpCode
    client_ip: IpField = None


class ReceiptOut(BaseModel):
    matched: bool = Field(description="whether the receipt matched a message sent and changed it")


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Annotated[str, Field(min_length=1, max_length=4096)]
    client_ip: IpField = None


async def send_code(request: web.Request) -> web.Response:
    body: SendIn = await read_optional(request, SendIn)
    # No client_ip: the request comes from the lender's server, no end user's address (issue 11.8).
    ip = client_ip(body.client_ip, request) if body.client_ip is not None else None
    out = await send_otp(
        request.app, current_lender(request).id, request.match_info["identification_id"], body.channel, ip
    )
    return json_answer(out, 202)


async def send_otp(
    app: web.Application, lender_id: str, ident_id: str, channel: Literal["sms", "voice"], ip: str | None
) -> SendOut:
    """Send a code for the lender's open identification (the lender's API and the hosted page both call it)."""
    factors = app[FACTORS]
    ident = await app[FLOWS].open_for(lender_id, ident_id)
    async with app[DB].transaction() as tx:
        sent = await otp.send_identification_code(tx, app[KEYS], factors, ident, text=OTP_TEXT, ip=ip, channel=channel)
    otp.count_issued(channel, "identification")
    factors.outbox_bell.set()
    return SendOut(
        identification_id=ident.id,
        channel=channel,
        phone=sent.phone,
        expires_at=sent.expires_at,
        resend_after=sent.resend_after,
        message_id=sent.outbox_id,
    )


def _failure(check: CodeCheck) -> AuthsvcError | None:
    try:
        check.raise_for_failure()
    except AuthsvcError as exc:
        return exc
    return None


async def verify_otp(
    app: web.Application,
    lender_id: str,
    ident_id: str,
    factor: Literal["sms", "voice", "totp", "hotp"],
    code: str,
    ip: str | None,
    device: DeviceSignals | None = None,
) -> StepOutcome:
    """A one-time code as a step of the identification (the lender's API and the hosted page both call it)."""
    ident_id = ident_id[:64]
    # The hot path (thousands a second): store `Statement`s on a plain connection: one read (the
    # identification with its live code or the client's token, the abuse counters and how many steps it has),
    # one write (the code's use, or the token's counter, together with the step and audit rows — and, when
    # the read found no step and this one decides the identification, its end: `Flows.step`'s
    # ``first_step``), else the flow's judgement after it — all on one pooled connection.
    async with app[DB].one_connection():
        factors, keys = app[FACTORS], app[KEYS]
        found: Identification | None = None
        seen: otp.Seen | None = None
        seen_token: tokens.SeenToken | None = None
        async with app[DB].autocommit() as tx:
            if factor in ("sms", "voice"):
                found, seen = await otp.read_identification(tx, keys, lender_id=lender_id, ident_id=ident_id, ip=ip)
            else:
                found, seen_token = await tokens.read_identification(
                    tx, keys, lender_id=lender_id, ident_id=ident_id, kind=factor, ip=ip
                )

        async def work(ident: Identification, records: StepRecorder) -> Attempt:
            try:
                check = await verify(ident, records)
            except AuthsvcError as exc:
                otp.count_verification(factor, None, exc)
                raise
            otp.count_verification(factor, check)
            return Attempt(check.ok, written=True, error=_failure(check))

        async def verify(ident: Identification, records: StepRecorder) -> CodeCheck:
            records.details["factor"] = factor
            async with app[DB].autocommit() as tx:
                if factor in ("sms", "voice"):
                    return await otp.verify_code(
                        tx,
                        keys,
                        factors,
                        client_id=ident.client_id,
                        binding=otp.identification_binding(ident.id, ident.operation.value),
                        code=code,
                        ip=ip,
                        records=records,
                        seen=seen,
                    )
                return await tokens.verify_token(
                    tx,
                    keys,
                    factors,
                    kind="totp" if factor == "totp" else "hotp",
                    lender_id=lender_id,
                    client_id=ident.client_id,
                    code=code,
                    ip=ip,
                    records=records,
                    seen=seen_token if found is not None and found.client_id == ident.client_id else None,
                )

        # No step yet: a login's code completes it alone, its end written without reading the steps back.
        read = seen if seen is not None else seen_token
        first = read is not None and read.steps_taken == 0
        return await app[FLOWS].step(lender_id, ident_id, f"otp_{factor}", work, device, found=found, first_step=first)


async def verify_code(request: web.Request) -> web.Response:
    body: VerifyIn = parse(VerifyIn, await read_body(request))
    # No client_ip: the request comes from the lender's server, no end user's address (issue 11.8).
    ip = client_ip(body.client_ip, request) if body.client_ip is not None else None
    done = await verify_otp(
        request.app,
        current_lender(request).id,
        request.match_info["identification_id"],
        body.factor,
        body.code,
        ip,
        device_signals(request),
    )
    return json_answer(step_result(done))


async def verify_password(request: web.Request) -> web.Response:
    factors = request.app[FACTORS]
    keys = request.app[KEYS]
    lender = current_lender(request)
    body: PasswordIn = parse(PasswordIn, await read_body(request))
    # No client_ip: the request comes from the lender's server, no end user's address (issue 11.8).
    ip = client_ip(body.client_ip, request) if body.client_ip is not None else None

    async def work(ident: Identification, records: StepRecorder) -> Attempt:
        if ident.operation.value != "login":
            raise ValidationFailed(
                "a password is a step of a login identification (R-6.5)", code=error_codes.WRONG_OPERATION
            )
        async with request.app[DB].transaction() as tx:
            check, rehashed = await password_login.verify_password(
                tx, keys, factors, lender_id=lender.id, client_id=ident.client_id, password=body.password, ip=ip
            )
            await tx.write(await records(check.ok, {"rehashed": rehashed}))
        error = None
        if not check.ok:
            error = ValidationFailed(
                "the password is wrong" + (f"; wait {check.retry_after} s" if check.retry_after else ""),
                code=error_codes.PASSWORD_REJECTED,
                retry_after=check.retry_after,
            )
        return Attempt(check.ok, written=True, error=error)

    done = await request.app[FLOWS].step(
        lender.id, request.match_info["identification_id"], "password", work, device_signals(request)
    )
    return json_answer(step_result(done))


async def sms_receipt(request: web.Request) -> web.Response:
    factors = request.app[FACTORS]
    if not factors.settings.sms_receipt_secret:
        # Unsigned receipts could mark any message failed and make us send it again: refuse them.
        raise Unauthorized("delivery receipts are accepted only when signed", code=error_codes.RECEIPTS_NOT_CONFIGURED)
    body = await request.read()
    matched = await sms_queue.apply_receipt(request.app[DB], factors, body, request.headers.get("X-Signature"))
    return json_answer(ReceiptOut(matched=matched))


# The codes sending and checking a code answer (the hosted page's OTP step answers them too).
SEND_ERRORS = (
    error_codes.CLIENT_NOT_FOUND,
    error_codes.IDENTIFICATION_NOT_FOUND,
    error_codes.IDENTIFICATION_CLOSED,
    error_codes.BAD_CLIENT_IP,
    error_codes.OTP_BAD_DIGITS,
    error_codes.OTP_KEY_TOO_SHORT,
    error_codes.OTP_RESEND_TOO_SOON,
    error_codes.OTP_SEND_LIMITED,
    error_codes.CONFIG_ERROR,
    error_codes.RECORD_TAMPERED,
)
VERIFY_ERRORS = (
    error_codes.IDENTIFICATION_NOT_FOUND,
    error_codes.IDENTIFICATION_CLOSED,
    error_codes.BAD_CLIENT_IP,
    *error_codes.OTP_CODE_FAULTS,
    error_codes.OTP_ALREADY_USED,
    error_codes.FACTOR_SUSPENDED,
    error_codes.CLIENT_NOT_FOUND,
    error_codes.CONFIG_ERROR,
    error_codes.RECORD_TAMPERED,
)


def register(ops: Operations) -> None:
    tags = ("second factors",)
    ops.add(
        Operation(
            "POST",
            "/v1/identifications/{identification_id}/otp",
            send_code,
            "sendOtp",
            "Send a one-time code by SMS to the client's registered phone",
            body=SendIn,
            responses={202: SendOut, 404: None, 409: None, 429: None},
            params=(IDENT_ID,),
            tags=tags,
            idempotent=True,
            errors=SEND_ERRORS,
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/identifications/{identification_id}/otp/verify",
            verify_code,
            "verifyOtp",
            "Verify a one-time code (SMS, authenticator app or hardware token) as a step",
            body=VerifyIn,
            responses={200: StepResult, 404: None, 409: None, 422: None, 429: None},
            params=(IDENT_ID, DEVICE_SIGNALS),
            tags=tags,
            errors=(*error_codes.STEP_GATES, *VERIFY_ERRORS),
            beyond_schema=(*SIGNAL_POLICY, *CODE_REFUSALS, error_codes.WRONG_OPERATION),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/identifications/{identification_id}/password",
            verify_password,
            "verifyPassword",
            "Verify the client's cabinet password as a step of a login (R-6.5)",
            body=PasswordIn,
            responses={200: StepResult, 404: None, 409: None, 422: None, 429: None},
            params=(IDENT_ID, DEVICE_SIGNALS),
            tags=tags,
            errors=(
                *error_codes.STEP_GATES,
                error_codes.CLIENT_NOT_FOUND,
                error_codes.BAD_CLIENT_IP,
                error_codes.PASSWORD_HASH_INVALID,
                error_codes.PASSWORD_REJECTED,
                error_codes.WRONG_OPERATION,
                error_codes.OTP_VERIFY_LIMITED,
                error_codes.FACTOR_SUSPENDED,
                error_codes.CONFIG_ERROR,
                error_codes.RECORD_TAMPERED,
            ),
            beyond_schema=(*SIGNAL_POLICY, error_codes.PASSWORD_REJECTED, error_codes.WRONG_OPERATION),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/callbacks/sms",
            sms_receipt,
            "smsReceipt",
            "Delivery receipt from an SMS gateway",
            responses={200: ReceiptOut, 400: None, 401: None},
            auth=False,
            tags=tags,
            errors=(
                error_codes.BAD_RECEIPT,
                error_codes.BAD_RECEIPT_SIGNATURE,
                error_codes.RECEIPTS_NOT_CONFIGURED,
                error_codes.CONFIG_ERROR,
            ),
        )
    )
