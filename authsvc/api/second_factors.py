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
    IDENT_ID,
    StepRecorder,
    StepResult,
    client_ip,
    json_answer,
    pending,
    read_optional,
    record,
    still_pending,
)
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import Operation, Operations
from authsvc.api.state import DB, FACTORS, KEYS
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.errors import Unauthorized, ValidationFailed
from authsvc.methods import otp, password_login, sms_queue, tokens
from authsvc.methods.otp import CodeCheck

OTP_TEXT = "Ваш код подтверждения: {code}. Никому не сообщайте его."
IpField = Annotated[str | None, Field(None, max_length=45, description="the end user's IP address")]


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
    code: Annotated[str, Field(min_length=1, max_length=20)]
    client_ip: IpField = None


class ReceiptOut(BaseModel):
    matched: bool = Field(description="whether the receipt matched a message sent and changed it")


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Annotated[str, Field(min_length=1, max_length=4096)]
    client_ip: IpField = None


async def send_code(request: web.Request) -> web.Response:
    factors = request.app[FACTORS]
    lender = current_lender(request)
    body: SendIn = await read_optional(request, SendIn)
    # No client_ip: the request comes from the lender's server, no end user's address (issue 11.8).
    ip = client_ip(body.client_ip, request) if body.client_ip is not None else None
    async with request.app[DB].transaction() as tx:
        ident = await pending(tx, lender.id, request)
        sent = await otp.issue_code(
            tx,
            request.app[KEYS],
            factors,
            lender_id=lender.id,
            client_id=ident.client_id,
            binding=otp.identification_binding(ident.id, ident.operation.value),
            text=OTP_TEXT,
            ip=ip,
            channel=body.channel,
        )
        await audit.append(
            tx,
            request.app[KEYS],
            AuditEvent.OTP_SENT,
            lender_id=lender.id,
            subject=ident.id,
            details={"channel": body.channel, "outbox_id": sent.outbox_id},
        )
    factors.outbox_bell.set()
    out = SendOut(
        identification_id=ident.id,
        channel=body.channel,
        phone=sent.phone,
        expires_at=sent.expires_at,
        resend_after=sent.resend_after,
        message_id=sent.outbox_id,
    )
    return json_answer(out, 202)


async def verify_code(request: web.Request) -> web.Response:
    factors = request.app[FACTORS]
    lender = current_lender(request)
    body: VerifyIn = parse(VerifyIn, await read_body(request))
    # No client_ip: the request comes from the lender's server, no end user's address (issue 11.8).
    ip = client_ip(body.client_ip, request) if body.client_ip is not None else None
    check: CodeCheck
    if body.factor in ("sms", "voice"):
        # The hot path (thousands a second): store `Statement`s on a plain connection, each write one
        # atomic statement (the code's use together with the step and audit rows).
        async with request.app[DB].autocommit() as tx:
            found, seen = await otp.read_identification(
                tx, request.app[KEYS], lender_id=lender.id, ident_id=request.match_info["identification_id"][:64], ip=ip
            )
            ident = still_pending(found)
            recorder = StepRecorder(request.app[KEYS], ident, f"otp_{body.factor}", {"factor": body.factor})
            check = await otp.verify_code(
                tx,
                request.app[KEYS],
                factors,
                client_id=ident.client_id,
                binding=otp.identification_binding(ident.id, ident.operation.value),
                code=body.code,
                ip=ip,
                records=recorder,
                seen=seen,
            )
            result = recorder.result()
    else:
        async with request.app[DB].transaction() as tx:
            ident = await pending(tx, lender.id, request)
            if body.factor == "totp":
                check = await tokens.verify_totp_factor(
                    tx,
                    request.app[KEYS],
                    factors,
                    lender_id=lender.id,
                    client_id=ident.client_id,
                    code=body.code,
                    ip=ip,
                )
            else:
                check = await tokens.verify_hotp_factor(
                    tx,
                    request.app[KEYS],
                    factors,
                    lender_id=lender.id,
                    client_id=ident.client_id,
                    code=body.code,
                    ip=ip,
                )
            result = await record(tx, request.app[KEYS], ident, f"otp_{body.factor}", check.ok, {"factor": body.factor})
    check.raise_for_failure()
    return json_answer(result)


async def verify_password(request: web.Request) -> web.Response:
    factors = request.app[FACTORS]
    lender = current_lender(request)
    body: PasswordIn = parse(PasswordIn, await read_body(request))
    # No client_ip: the request comes from the lender's server, no end user's address (issue 11.8).
    ip = client_ip(body.client_ip, request) if body.client_ip is not None else None
    async with request.app[DB].transaction() as tx:
        ident = await pending(tx, lender.id, request)
        if ident.operation.value != "login":
            raise ValidationFailed(
                "a password is a step of a login identification (R-6.5)", code=error_codes.WRONG_OPERATION
            )
        check, rehashed = await password_login.verify_password(
            tx,
            request.app[KEYS],
            factors,
            lender_id=lender.id,
            client_id=ident.client_id,
            password=body.password,
            ip=ip,
        )
        result = await record(tx, request.app[KEYS], ident, "password", check.ok, {"rehashed": rehashed})
    if not check.ok:
        raise ValidationFailed(
            "the password is wrong" + (f"; wait {check.retry_after} s" if check.retry_after else ""),
            code=error_codes.PASSWORD_REJECTED,
            retry_after=check.retry_after,
        )
    return json_answer(result)


async def sms_receipt(request: web.Request) -> web.Response:
    factors = request.app[FACTORS]
    if not factors.settings.sms_receipt_secret:
        # Unsigned receipts could mark any message failed and make us send it again: refuse them.
        raise Unauthorized("delivery receipts are accepted only when signed", code=error_codes.RECEIPTS_NOT_CONFIGURED)
    body = await request.read()
    matched = await sms_queue.apply_receipt(request.app[DB], factors, body, request.headers.get("X-Signature"))
    return json_answer(ReceiptOut(matched=matched))


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
            errors=(
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
            ),
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
            params=(IDENT_ID,),
            tags=tags,
            errors=(
                error_codes.IDENTIFICATION_NOT_FOUND,
                error_codes.IDENTIFICATION_CLOSED,
                error_codes.BAD_CLIENT_IP,
                *error_codes.OTP_CODE_FAULTS,
                error_codes.OTP_ALREADY_USED,
                error_codes.FACTOR_SUSPENDED,
                error_codes.CLIENT_NOT_FOUND,
                error_codes.CONFIG_ERROR,
                error_codes.RECORD_TAMPERED,
            ),
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
            params=(IDENT_ID,),
            tags=tags,
            errors=(
                error_codes.CLIENT_NOT_FOUND,
                error_codes.IDENTIFICATION_NOT_FOUND,
                error_codes.IDENTIFICATION_CLOSED,
                error_codes.BAD_CLIENT_IP,
                error_codes.PASSWORD_HASH_INVALID,
                error_codes.PASSWORD_REJECTED,
                error_codes.WRONG_OPERATION,
                error_codes.OTP_VERIFY_LIMITED,
                error_codes.FACTOR_SUSPENDED,
                error_codes.CONFIG_ERROR,
                error_codes.RECORD_TAMPERED,
            ),
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
