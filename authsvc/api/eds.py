"""/v1/eds/*: stand-alone EDS verification (a superset of NCANode's answers, KZ-PKI.md §4), and the EDS
identification step /v1/identifications/{id}/eds (R-7.1, R-12.3).

Verdicts — expired, revoked, untrusted, tampered — are 200 with ``valid: false`` and named reasons; only
unreadable input is a 422 (codes ``bad_encoding``, ``bad_cms``, ``bad_xml``, ``bad_certificate``,
``unsupported_algorithm``, ``unverifiable_input``). ``validation_time`` is honoured only when
``[pki] test_mode_time_allowed`` is on (test PKI: the NCA fixtures have all expired).

The EDS step: ``POST /v1/identifications/{id}/eds/challenge`` issues the bytes to sign (base64); the client
signs them (NCALayer ``createCMSSignatureFromBase64``, attached or detached) and the lender posts the CMS
(plus ``data``, the same bytes, when detached) to ``POST /v1/identifications/{id}/eds``. A failed check is
200 with ``outcome: failed``; a replayed CMS or challenge is 409 ``replay`` (the attempt is still recorded).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.factor_steps import DEVICE_SIGNALS, SIGNAL_POLICY, device_signals
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import IDENT_ID, Operation, Operations
from authsvc.api.state import EDS, FLOWS, SETTINGS, VERIFIER
from authsvc.errors import Conflict, ValidationFailed
from authsvc.flows.recorder import Attempt, StepRecorder
from authsvc.flows.session import StepOutcome
from authsvc.flows.signals import DeviceSignals
from authsvc.methods import eds
from authsvc.pki.service import (
    CertificateReport,
    CmsReport,
    RevocationChoice,
    XmlReport,
    order_for,
)
from authsvc.store.identifications import Identification

MAX_B64 = 12 * 1024 * 1024
RevocationSource = Literal["OCSP", "CRL", "ocsp", "crl"]
B64 = Annotated[str, Field(min_length=1, max_length=MAX_B64)]


class _VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revocation_check: list[RevocationSource] | None = Field(
        None,
        max_length=2,
        description='revocation sources in order, as NCANode\'s revocationCheck (["OCSP","CRL"]); [] = none; '
        "absent = the deployment's policy",
    )
    validation_time: datetime | None = Field(
        None, description="judge certificates at this moment (only when the service runs in test mode)"
    )


class CmsVerifyIn(_VerifyIn):
    cms: B64 = Field(description="CMS SignedData: base64, PEM or base64 of DER")
    data: B64 | None = Field(None, description="base64 of the signed content, for a detached CMS")


class XmlVerifyIn(_VerifyIn):
    xml: Annotated[str, Field(min_length=1, max_length=MAX_B64)] = Field(description="signed XML document")


class CertificateIn(_VerifyIn):
    certificate: Annotated[str, Field(min_length=1, max_length=1024 * 1024)] = Field(
        description="X.509 certificate: base64 of DER, or PEM"
    )


class ChallengeOut(BaseModel):
    challenge_id: str
    data: str = Field(description="base64 of the bytes to sign (createCMSSignatureFromBase64's argument)")
    expires_at: datetime


class EdsStepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cms: B64 = Field(description="the client's CMS over the challenge (base64/PEM), attached or detached")
    data: Annotated[str, Field(min_length=1, max_length=1024)] | None = Field(
        None, description="base64 of the challenge, when the CMS is detached"
    )


class EdsStepOut(BaseModel):
    step_id: str
    method: Literal["eds"] = "eds"
    outcome: Literal["passed", "failed"]
    reasons: list[str]
    details: dict[str, Any]
    identification_status: str = Field(description="pending, completed, failed or expired after this step")
    next_methods: list[str] = Field(description="step methods that would still make progress")


def _options(request: web.Request, body: _VerifyIn) -> tuple[datetime | None, RevocationChoice]:
    if body.validation_time is not None and not request.app[SETTINGS].pki.test_mode_time_allowed:
        raise ValidationFailed(
            "validation_time is accepted only in test mode ([pki] test_mode_time_allowed)",
            code=error_codes.VALIDATION_TIME_NOT_ALLOWED,
        )
    if body.validation_time is not None and body.validation_time.tzinfo is None:
        raise ValidationFailed("validation_time needs a time zone", code=error_codes.VALIDATION_TIME_NAIVE)
    order: RevocationChoice = "policy"
    if body.revocation_check is not None:
        order = order_for(["ocsp" if s.upper() == "OCSP" else "crl" for s in body.revocation_check])
    return body.validation_time, order


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


async def verify_cms(request: web.Request) -> web.Response:
    body: CmsVerifyIn = parse(CmsVerifyIn, await read_body(request))
    at, order = _options(request, body)
    content = eds.decode_b64(body.data, "detached content") if body.data is not None else None
    verifier = request.app[VERIFIER]
    report = await verifier.verify_cms(
        eds.decode_der(body.cms, "CMS signature"), content=content, at=at, revocation=order
    )
    return _json(report)


async def verify_xml(request: web.Request) -> web.Response:
    body: XmlVerifyIn = parse(XmlVerifyIn, await read_body(request))
    at, order = _options(request, body)
    verifier = request.app[VERIFIER]
    report = await verifier.verify_xml(body.xml.encode("utf-8"), at=at, revocation=order)
    return _json(report)


async def x509_info(request: web.Request) -> web.Response:
    body: CertificateIn = parse(CertificateIn, await read_body(request))
    at, order = _options(request, body)
    verifier = request.app[VERIFIER]
    der = eds.decode_der(body.certificate, "certificate")
    report = await verifier.certificate(der, at=at, revocation=order)
    return _json(report)


async def eds_challenge(request: web.Request) -> web.Response:
    ident = await request.app[FLOWS].open_for(current_lender(request).id, request.match_info["identification_id"])
    issued = await request.app[EDS].issue_challenge(ident)
    out = ChallengeOut(challenge_id=issued.id, data=eds.encode(issued.data), expires_at=issued.expires_at)
    return _json(out, 201)


async def submit_eds(
    app: web.Application,
    lender_id: str,
    ident_id: str,
    cms: str,
    data: str | None,
    device: DeviceSignals | None = None,
) -> StepOutcome:
    """The EDS step through the flow (the lender's API and the hosted page both call it); a replayed CMS or
    challenge is recorded, then answered 409 ``replay``."""
    method = app[EDS]

    async def work(ident: Identification, records: StepRecorder) -> Attempt:
        outcome = await method.submit(ident, cms, data, records)
        replayed = [r for r in outcome.reasons if r in ("evidence_reused", "challenge_used")]
        error = None
        if replayed:
            error = Conflict(
                "this signature or challenge was already used (R-12.3)",
                code=error_codes.REPLAY,
                reasons=outcome.reasons,
                step_id=records.recorded().id,
            )
        return Attempt(outcome.outcome == "passed", outcome.details, written=True, error=error)

    return await app[FLOWS].step(lender_id, ident_id, eds.METHOD, work, device)


async def eds_step(request: web.Request) -> web.Response:
    body: EdsStepIn = parse(EdsStepIn, await read_body(request))
    done = await submit_eds(
        request.app,
        current_lender(request).id,
        request.match_info["identification_id"],
        body.cms,
        body.data,
        device_signals(request),
    )
    view = done.view
    return _json(
        EdsStepOut(
            step_id=done.step.id,
            outcome=done.step.outcome,
            reasons=list(done.step.details.get("reasons", [])),
            details=done.step.details,
            identification_status=view.ident.status.value,
            next_methods=list(view.judgement.next_methods) if view.ident.status.value == "pending" else [],
        )
    )


# What a signature, certificate or signed document can be refused for once it matches the schema: its
# bytes do not parse as what they claim, or name what the verifier cannot check (x-refused-beyond-schema).
CONTENT_REFUSALS = (
    error_codes.BAD_BASE64,
    error_codes.BAD_CERTIFICATE,
    error_codes.BAD_CMS,
    error_codes.BAD_ENCODING,
    error_codes.BAD_XML,
    error_codes.UNSUPPORTED_ALGORITHM,
    error_codes.UNVERIFIABLE_INPUT,
)
# validation_time is honoured only where the service runs in test mode (a deployment's setting).
VERIFY_REFUSALS = (*CONTENT_REFUSALS, error_codes.VALIDATION_TIME_NOT_ALLOWED)
# The codes submitting the EDS step answers (the hosted page's EDS step answers them too).
SUBMIT_ERRORS = (
    error_codes.CLIENT_NOT_FOUND,
    error_codes.IDENTIFICATION_NOT_FOUND,
    error_codes.IDENTIFICATION_CLOSED,
    error_codes.REPLAY,
    error_codes.BAD_BASE64,
    error_codes.BAD_CERTIFICATE,
    error_codes.BAD_CMS,
    error_codes.BAD_ENCODING,
    error_codes.GOST_UNAVAILABLE,
    error_codes.UNSUPPORTED_ALGORITHM,
    error_codes.UNVERIFIABLE_INPUT,
    error_codes.RECORD_TAMPERED,
    error_codes.TRUST_NOT_READY,
    error_codes.WORKERS_UNAVAILABLE,
)


def register(ops: Operations) -> None:
    # The codes each operation answers besides the common ones (routing.codes_of adds those).
    answers = {
        "verifyCms": (
            error_codes.BAD_BASE64,
            error_codes.BAD_CERTIFICATE,
            error_codes.BAD_CMS,
            error_codes.BAD_ENCODING,
            error_codes.GOST_UNAVAILABLE,
            error_codes.UNSUPPORTED_ALGORITHM,
            error_codes.UNVERIFIABLE_INPUT,
            error_codes.VALIDATION_TIME_NAIVE,
            error_codes.VALIDATION_TIME_NOT_ALLOWED,
            error_codes.TRUST_NOT_READY,
            error_codes.WORKERS_UNAVAILABLE,
        ),
        "verifyXml": (
            # The pool's XML parser and the certificates inside the signature (found by fuzzing).
            error_codes.BAD_XML,
            error_codes.BAD_ENCODING,
            error_codes.BAD_CERTIFICATE,
            error_codes.UNSUPPORTED_ALGORITHM,
            error_codes.GOST_UNAVAILABLE,
            error_codes.UNVERIFIABLE_INPUT,
            error_codes.VALIDATION_TIME_NAIVE,
            error_codes.VALIDATION_TIME_NOT_ALLOWED,
            error_codes.TRUST_NOT_READY,
            error_codes.WORKERS_UNAVAILABLE,
        ),
        "x509Info": (
            error_codes.BAD_ENCODING,
            error_codes.BAD_CERTIFICATE,
            error_codes.UNSUPPORTED_ALGORITHM,
            error_codes.UNVERIFIABLE_INPUT,
            error_codes.VALIDATION_TIME_NAIVE,
            error_codes.VALIDATION_TIME_NOT_ALLOWED,
            error_codes.TRUST_NOT_READY,
            error_codes.WORKERS_UNAVAILABLE,
        ),
    }
    for path, handler, op_id, summary, model, out in (
        (
            "/v1/eds/cms/verify",
            verify_cms,
            "verifyCms",
            "Verify a CMS signature (attached or detached)",
            CmsVerifyIn,
            CmsReport,
        ),
        (
            "/v1/eds/xml/verify",
            verify_xml,
            "verifyXml",
            "Verify the XMLDSig signatures of a document",
            XmlVerifyIn,
            XmlReport,
        ),
        (
            "/v1/eds/x509/info",
            x509_info,
            "x509Info",
            "Describe and validate a certificate",
            CertificateIn,
            CertificateReport,
        ),
    ):
        ops.add(
            Operation(
                "POST",
                path,
                handler,
                op_id,
                summary,
                body=model,
                responses={200: out, 503: None},
                tags=("eds",),
                errors=answers[op_id],
                beyond_schema=VERIFY_REFUSALS,
            )
        )
    ops.add(
        Operation(
            "POST",
            "/v1/identifications/{identification_id}/eds/challenge",
            eds_challenge,
            "issueEdsChallenge",
            "Issue the single-use challenge the client signs with its EDS",
            responses={201: ChallengeOut, 404: None, 409: None},
            params=(IDENT_ID,),
            tags=("identifications",),
            errors=(
                error_codes.IDENTIFICATION_NOT_FOUND,
                error_codes.IDENTIFICATION_CLOSED,
            ),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/identifications/{identification_id}/eds",
            eds_step,
            "submitEds",
            "Submit the client's CMS over the challenge (EDS identification step)",
            body=EdsStepIn,
            responses={200: EdsStepOut, 404: None, 409: None, 503: None},
            params=(IDENT_ID, DEVICE_SIGNALS),
            tags=("identifications",),
            errors=(*error_codes.STEP_GATES, *SUBMIT_ERRORS),
            beyond_schema=(*CONTENT_REFUSALS, *SIGNAL_POLICY),
        )
    )
