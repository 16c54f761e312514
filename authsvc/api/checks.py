"""Outside registries as steps of an identification, and the bureau report of an application.

    POST /v1/identifications/{id}/telco           phone held by the client's IIN (R-108.1)
    POST /v1/identifications/{id}/cdao            {"image_base64"}: face vs. state photo (R-7.2)
    POST /v1/identifications/{id}/bureau-refusal  no voluntary refusal of loans on file (R-NB.6)
    POST /v1/identifications/{id}/payout-account  IBAN / card belongs to the client (R-NB.2); with no body,
                                                  the IBAN on file, else the card on file
    POST /v1/clients/{id}/loan-applications       report an application to the bureau (R-NB.7) and
                                                  tell the client by SMS

The outside call is made before any write: when the party is down, slow or garbled the answer is a 503
problem with a stable code (upstream_timeout, upstream_unreachable, upstream_bad_response) and nothing
was recorded, so the caller simply retries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.factor_steps import (
    DEVICE_SIGNALS,
    SIGNAL_POLICY,
    StepResult,
    device_signals,
    json_answer,
    read_optional,
    step_result,
)
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import CLIENT_ID, IDENT_ID, Operation, Operations
from authsvc.api.state import DB, FACTORS, FLOWS, KEYS, LIVENESS
from authsvc.cabinet.identifiers import CARD_PATTERN, IBAN_PATTERN
from authsvc.cabinet.models import checked_bin, checked_iban
from authsvc.errors import Conflict, NotFound, ValidationFailed
from authsvc.flows.recorder import Attempt, StepRecorder, StepWork
from authsvc.methods import bureau, cdao, contact, payout, sms_queue, telco
from authsvc.store import evidence
from authsvc.store.identifications import Identification


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CdaoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_base64: Annotated[
        str | None,
        Field(
            None,
            min_length=1,
            description="JPEG or PNG of a live image; omit it to send the best frame of this identification's "
            "passed liveness capture",
        ),
    ] = None


class PayoutIn(BaseModel):
    # One instrument at most (all members are optional; none: the IBAN on file).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"maxProperties": 1})
    # The caller's mistakes are found here, before the bank or the bureau is asked.
    iban: Annotated[
        str | None,
        Field(
            None,
            max_length=34,
            description="KZ IBAN (ISO 13616, 20 characters)",
            examples=["KZ86125KZT5004100100"],
            json_schema_extra={"pattern": IBAN_PATTERN},
        ),
        checked_iban,
    ] = None
    card_number: Annotated[str | None, Field(None, max_length=23, json_schema_extra={"pattern": CARD_PATTERN})] = None
    card_token: Annotated[str | None, Field(None, max_length=64, description="the bank's token")] = None


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    application_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    lender_bin: Annotated[
        str,
        Field(pattern=r"^\d{12}$", description="the lender's BIN (check digit verified)", examples=["971240001315"]),
        checked_bin,
    ]
    amount: Annotated[int, Field(gt=0, le=10**11, description="whole tenge")]
    submitted_at: AwareDatetime = Field(description="when the client applied; the same on a retried report")
    channel: Literal["online", "terminal"] = "online"
    identification_id: Annotated[
        str | None,
        Field(
            None,
            max_length=64,
            description="a pending loan_contract identification of this client: records that the client was told "
            "of the application (its application_notice step, R-NB.7)",
        ),
    ] = None


class ApplicationOut(BaseModel):
    application_id: str
    status: str
    refusal_on_file: bool
    notification_id: str | None = Field(description="outbox id of the SMS to the client (first report only)")


async def _person(request: web.Request, ident: Identification) -> contact.Contact:
    async with request.app[DB].autocommit() as tx:
        return await contact.load(tx, request.app[KEYS], ident.lender_id, ident.client_id)


async def _step(request: web.Request, method: str, work: StepWork) -> web.Response:
    done = await request.app[FLOWS].step(
        current_lender(request).id, request.match_info["identification_id"], method, work, device_signals(request)
    )
    return json_answer(step_result(done))


async def telco_step(request: web.Request) -> web.Response:
    await read_optional(request, Empty)

    async def work(ident: Identification, _records: StepRecorder) -> Attempt:
        person = await _person(request, ident)
        verdict = await telco.check_phone(
            request.app[DB], request.app[KEYS], request.app[FACTORS], iin=person.iin, phone=person.phone
        )
        return Attempt(verdict.passed, verdict.details())

    return await _step(request, "telco", work)


async def cdao_step(request: web.Request) -> web.Response:
    body: CdaoIn = parse(CdaoIn, await read_body(request))

    async def work(ident: Identification, records: StepRecorder) -> Attempt:
        person = await _person(request, ident)
        if body.image_base64 is None:
            # The liveness step proved this frame live (R-7.3b); the CDAO then matches it to the state register.
            best = await request.app[LIVENESS].best_frame(ident.id)
            if best is None:
                raise ValidationFailed(
                    "no passed liveness capture (or its frame is past retention): send image_base64 or pass "
                    "liveness first",
                    code=error_codes.NO_LIVE_CAPTURE,
                )
            image = best
        else:
            try:
                image = base64.b64decode(body.image_base64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValidationFailed("image_base64 is not valid base64", code=error_codes.BAD_BASE64) from exc
        try:
            verdict = await cdao.identify_face(request.app[FACTORS], iin=person.iin, image=image, request_id=ident.id)
        except cdao.PERSON_SIDE as exc:
            return Attempt(False, cdao.refusal_details(exc), error=exc)
        async with request.app[DB].transaction() as tx:
            await request.app[FLOWS].guard(tx, ident.lender_id, ident.id)
            # one capture identifies once; a second submission of the same image is a replay.
            if not await evidence.claim(tx, "cdao_image", hashlib.sha256(image).digest(), ident.id):
                raise Conflict("this image was already used for an identification", code=error_codes.EVIDENCE_REUSED)
            await tx.write(await records(verdict.passed, verdict.details()))
        return Attempt(verdict.passed, written=True)

    return await _step(request, "cdao", work)


async def refusal_step(request: web.Request) -> web.Response:
    await read_optional(request, Empty)

    async def work(ident: Identification, _records: StepRecorder) -> Attempt:
        person = await _person(request, ident)
        try:
            await bureau.ensure_no_refusal(request.app[FACTORS], iin=person.iin)
        except bureau.VoluntaryRefusal as exc:
            return Attempt(False, {"refusal": True, "reasons": ["voluntary_refusal"]}, error=exc)
        return Attempt(True, {"refusal": False})

    return await _step(request, "bureau_refusal", work)


async def payout_step(request: web.Request) -> web.Response:
    body: PayoutIn = await read_optional(request, PayoutIn)
    given = [v for v in (body.iban, body.card_number, body.card_token) if v]
    if len(given) > 1:
        raise ValidationFailed("give one of iban, card_number, card_token", code=error_codes.ONE_PAYMENT_INSTRUMENT)

    async def work(ident: Identification, _records: StepRecorder) -> Attempt:
        person = await _person(request, ident)
        iban, card_number = body.iban, body.card_number
        if not given:  # what is on file: the IBAN, else the card (its number unsealed only here)
            iban = person.iban
            card_number = None if iban else person.card_number
        if not (iban or card_number or body.card_token):
            if person.card_on_file:  # registered before card numbers were kept: only the one-way token is
                raise ValidationFailed(
                    "the client's card on file was registered before card numbers were kept (only its one-way "
                    "token is stored, which the bank cannot resolve): give card_number or the bank's card_token, "
                    "or change the client's card",
                    code=error_codes.PAYOUT_CARD_NOT_KEPT,
                )
            raise ValidationFailed(
                "the client has no IBAN or card on file: give iban, card_number or the bank's card_token",
                code=error_codes.PAYOUT_INSTRUMENT_MISSING,
            )
        ownership = await payout.confirm_account(
            request.app[FACTORS], iin=person.iin, iban=iban, card_number=card_number, card_token=body.card_token
        )
        why = payout.refusal(ownership)
        details = {"kind": ownership.kind, "owner_match": ownership.owner_match, "status": ownership.status}
        error = None
        if why is not None:
            error = ValidationFailed(
                "the account or card does not belong to the client"
                if why == "payout_account_not_owned"
                else "the account or card is not open for payments",
                code=why,
            )
        return Attempt(why is None, details, error=error)

    return await _step(request, "payout_account", work)


async def report_application(request: web.Request) -> web.Response:
    factors = request.app[FACTORS]
    lender = current_lender(request)
    body: ApplicationIn = parse(ApplicationIn, await read_body(request))
    client_id = request.match_info["client_id"][:64]
    flows = request.app[FLOWS]
    ident = None
    if body.identification_id is not None:
        ident = await flows.open_for(lender.id, body.identification_id)
        if ident.client_id != client_id:
            raise NotFound("no such identification of this client", code=error_codes.IDENTIFICATION_NOT_FOUND)
    async with request.app[DB].autocommit() as tx:
        person = await contact.load(tx, request.app[KEYS], lender.id, client_id)
    receipt = await bureau.report_application(
        factors,
        application_id=body.application_id,
        iin=person.iin,
        lender_bin=body.lender_bin,
        amount=body.amount,
        submitted_at=body.submitted_at,
        channel=body.channel,
    )
    async with request.app[DB].transaction() as tx:
        note_id, queued = await sms_queue.record_application(
            tx,
            request.app[KEYS],
            lender_id=lender.id,
            lender_name=lender.name,
            client_id=client_id,
            application_id=body.application_id,
            amount=body.amount,
            refusal_on_file=receipt.refusal_on_file,
        )
    factors.outbox_bell.set()
    if ident is not None:
        # R-NB.7 / R-23.2: the client is told of the application (the SMS is queued, now or on a first report).
        async def work(ident: Identification, _records: StepRecorder) -> Attempt:
            return Attempt(True, {"application_id": body.application_id, "notification_id": note_id})

        await flows.step(lender.id, ident.id, "application_notice", work, device_signals(request))
    out = ApplicationOut(
        application_id=receipt.application_id,
        status=receipt.status,
        refusal_on_file=receipt.refusal_on_file,
        notification_id=note_id if queued else None,
    )
    return json_answer(out, 201)


def register(ops: Operations) -> None:
    # The codes each operation answers besides the common ones (routing.codes_of adds those).
    answers = {
        "telcoStep": (
            error_codes.CLIENT_NOT_FOUND,
            error_codes.IDENTIFICATION_NOT_FOUND,
            error_codes.IDENTIFICATION_CLOSED,
            error_codes.CONFIG_ERROR,
            error_codes.RECORD_TAMPERED,
            *error_codes.UPSTREAM_FAILURES,
        ),
        "cdaoStep": (
            error_codes.CLIENT_NOT_FOUND,
            error_codes.IDENTIFICATION_NOT_FOUND,
            error_codes.EVIDENCE_REUSED,
            error_codes.IDENTIFICATION_CLOSED,
            error_codes.BAD_BASE64,
            error_codes.IMAGE_MISSING,
            error_codes.NO_LIVE_CAPTURE,
            error_codes.CONFIG_ERROR,
            error_codes.RECORD_TAMPERED,
            error_codes.CDAO_PERSON_NOT_FOUND,
            error_codes.CDAO_NO_PHOTO_ON_FILE,
            error_codes.CDAO_POOR_QUALITY,
            error_codes.CDAO_PHOTO_TOO_LARGE,
            error_codes.UPSTREAM_UNAVAILABLE,
        ),
        "bureauRefusalStep": (
            error_codes.CLIENT_NOT_FOUND,
            error_codes.IDENTIFICATION_NOT_FOUND,
            error_codes.IDENTIFICATION_CLOSED,
            error_codes.VOLUNTARY_REFUSAL,
            error_codes.INVALID_IIN,
            error_codes.CONFIG_ERROR,
            error_codes.RECORD_TAMPERED,
            *error_codes.UPSTREAM_FAILURES,
        ),
        "payoutAccountStep": (
            error_codes.CLIENT_NOT_FOUND,
            error_codes.IDENTIFICATION_NOT_FOUND,
            error_codes.IDENTIFICATION_CLOSED,
            error_codes.ONE_PAYMENT_INSTRUMENT,
            error_codes.INVALID_FORMAT,  # the IBAN (checked before the bank is asked)
            error_codes.BAD_CHECKSUM,
            error_codes.PAYOUT_ACCOUNT_INACTIVE,
            error_codes.PAYOUT_ACCOUNT_NOT_OWNED,
            error_codes.PAYOUT_INSTRUMENT_MISSING,
            error_codes.PAYOUT_CARD_NOT_KEPT,
            error_codes.CONFIG_ERROR,
            error_codes.RECORD_TAMPERED,
            *error_codes.UPSTREAM_FAILURES,
        ),
    }
    tags = ("outside registries",)
    steps = (
        (
            "telco",
            telco_step,
            "telcoStep",
            "Check with the mobile operator that the phone is the client's (R-108.1)",
            Empty,
        ),
        ("cdao", cdao_step, "cdaoStep", "Compare a live image with the state photo register (R-7.2)", CdaoIn),
        (
            "bureau-refusal",
            refusal_step,
            "bureauRefusalStep",
            "Check the credit bureau for a voluntary refusal of loans (R-NB.6)",
            Empty,
        ),
        (
            "payout-account",
            payout_step,
            "payoutAccountStep",
            "Confirm the payout IBAN or card belongs to the client (R-NB.2)",
            PayoutIn,
        ),
    )
    for suffix, handler, op_id, summary, model in steps:
        ops.add(
            Operation(
                "POST",
                f"/v1/identifications/{{identification_id}}/{suffix}",
                handler,
                op_id,
                summary,
                body=model,
                responses={200: StepResult, 404: None, 409: None, 422: None, 502: None, 503: None},
                params=(IDENT_ID, DEVICE_SIGNALS),
                tags=tags,
                errors=(*error_codes.STEP_GATES, *answers[op_id]),
                # the payout IBAN's or card's check digits
                beyond_schema=(*SIGNAL_POLICY, *((error_codes.BAD_CHECKSUM,) if model is PayoutIn else ())),
            )
        )
    ops.add(
        Operation(
            "POST",
            "/v1/clients/{client_id}/loan-applications",
            report_application,
            "reportLoanApplication",
            "Report a loan application to the credit bureau and notify the client (R-NB.7)",
            body=ApplicationIn,
            idempotent=True,
            responses={201: ApplicationOut, 404: None, 409: None, 502: None, 503: None},
            params=(
                CLIENT_ID,
                DEVICE_SIGNALS,
            ),
            tags=tags,
            errors=(
                *error_codes.STEP_GATES,
                error_codes.CLIENT_NOT_FOUND,
                error_codes.BUREAU_APPLICATION_CONFLICT,
                error_codes.BAD_APPLICATION_ID,
                error_codes.INVALID_FORMAT,  # lender_bin (checked before the bureau is asked)
                error_codes.BAD_CHECKSUM,
                error_codes.CONFIG_ERROR,
                error_codes.RECORD_TAMPERED,
                *error_codes.UPSTREAM_FAILURES,
            ),
            beyond_schema=(*SIGNAL_POLICY, error_codes.BAD_CHECKSUM),  # lender_bin's check digit
        )
    )
