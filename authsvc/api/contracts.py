"""/v1/contracts: register a loan document, sign it by EDS or one-time code (R-10.1), re-check it (R-12.1).

``POST /v1/contracts`` takes the document (base64) or only its SHA-256 (hex). ``POST /v1/contracts/{id}/sign``
takes ``{"method": "eds", "cms": ...}`` — NCALayer's CMS over the document, attached or detached (a
detached CMS over a hash-only contract must bring ``document``) — or ``{"method": "otp", "code": ...}`` after
``POST /v1/contracts/{id}/code`` sent the client a code bound to the document hash. A rejected signature is
422 ``signature_rejected`` with ``reasons``; a CMS used before is 409 ``replay``. Under a profile that demands
it (nb-2025, bank-2025) the signature names the client's completed loan_contract identification
(``identification_id``; without it 422 ``identification_required``, with one not usable 409
``identification_not_usable``) and uses it once. ``GET /v1/contracts/{id}``
re-verifies the stored document and every signature from stored validation data, offline.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api import eds as eds_api
from authsvc.api.body import parse, read_body
from authsvc.api.factor_steps import CODE_REFUSALS, OtpCode
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import Operation, Operations, Param
from authsvc.api.state import CONTRACTS
from authsvc.cabinet.models import BASE64_PATTERN, given
from authsvc.contracts import service
from authsvc.methods import eds

MAX_DOCUMENT_B64 = 12 * 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


# The pattern is the document's; the service answers bad_base64 itself.
Document = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_DOCUMENT_B64,
        examples=["JVBERi0xLjQK"],  # "%PDF-1.4\n"
        json_schema_extra={"pattern": BASE64_PATTERN},
    ),
]


class ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=given("document", "sha256"))
    client_id: Annotated[str, Field(min_length=1, max_length=64)]
    document: Document | None = Field(None, description="base64 of the contract document")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = Field(
        None, description="SHA-256 of the document (hex), when the document itself is not stored"
    )
    title: Annotated[str, Field(max_length=200)] | None = None


IdentificationRef = Annotated[
    str | None,
    Field(
        None,
        max_length=64,
        description="the completed loan_contract identification this signature uses, once (R-12.3); required "
        "when the lender's loan_contract profile demands it (nb-2025, bank-2025: R-NB.1)",
    ),
]


class EdsSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["eds"]
    cms: Annotated[str, Field(min_length=1, max_length=MAX_DOCUMENT_B64 * 2)]
    document: Document | None = None
    identification_id: IdentificationRef = None


class OtpSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["otp"]
    code: OtpCode
    identification_id: IdentificationRef = None


SignIn = Annotated[EdsSignIn | OtpSignIn, Field(discriminator="method")]


class ContractOut(BaseModel):
    id: str
    client_id: str
    status: str
    sha256: str
    has_document: bool
    title: str | None
    created_at: datetime


class SignatureOut(BaseModel):
    contract_id: str
    signature_id: str
    method: Literal["eds", "otp"]
    details: dict[str, Any] = {}


class CodeOut(BaseModel):
    code_id: str
    expires_at: datetime
    resend_after: datetime
    phone: str = Field(description="masked")


class SignatureCheckOut(BaseModel):
    id: str
    method: str
    signed_at: datetime
    valid: bool
    reasons: list[str]
    details: dict[str, Any]


class LoanStateOut(BaseModel):
    interest_accrual: Literal["suspended", "active"] = Field(description="R-108.2: suspended while an incident is open")
    collection: Literal["suspended", "active"] = Field(description="R-108.2: suspended while an incident is open")
    incidents: list[str] = Field(description="the open incidents that suspend them")


class ContractReportOut(ContractOut):
    valid: bool = Field(description="signed, document intact, and every signature verifies")
    document_intact: bool | None = Field(
        description="the stored document still has the registered hash (None: hash only)"
    )
    signatures: list[SignatureCheckOut]
    loan: LoanStateOut


def _out(contract: service.Contract) -> dict[str, Any]:
    row = contract.row
    return {
        "id": row.id,
        "client_id": row.client_id,
        "status": row.status,
        "sha256": contract.sha256.hex(),
        "has_document": contract.document is not None,
        "title": contract.title,
        "created_at": row.created_at,
    }


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


async def create_contract(request: web.Request) -> web.Response:
    body: ContractIn = parse(ContractIn, await read_body(request))
    document = eds.decode_b64(body.document, "document") if body.document is not None else None
    digest = bytes.fromhex(body.sha256) if body.sha256 is not None and _HEX64.match(body.sha256) else None
    contract = await request.app[CONTRACTS].create(
        current_lender(request).id, body.client_id, document, digest, body.title
    )
    return _json(ContractOut(**_out(contract)), 201)


async def sign_contract(request: web.Request) -> web.Response:
    body: EdsSignIn | OtpSignIn = parse(SignIn, await read_body(request))
    lender, contract_id = current_lender(request).id, request.match_info["contract_id"]
    if isinstance(body, EdsSignIn):
        document = eds.decode_b64(body.document, "document") if body.document is not None else None
        cms = eds.decode_der(body.cms, "CMS signature")
        signature_id, kept = await request.app[CONTRACTS].sign_eds(
            lender, contract_id, cms, document, body.identification_id
        )
        details = {
            "signer_serial": kept.signer_serial,
            "validated_at": kept.validated_at.isoformat(),
            "revocation": [{"source": r.source, "status": r.status} for r in kept.revocation],
        }
        return _json(
            SignatureOut(contract_id=contract_id, signature_id=signature_id, method="eds", details=details), 201
        )
    # The caller is the lender's server, no end user's address: no per-address cap for it (issue 11.8).
    signature_id = await request.app[CONTRACTS].sign_otp(lender, contract_id, body.code, None, body.identification_id)
    return _json(SignatureOut(contract_id=contract_id, signature_id=signature_id, method="otp"), 201)


async def send_code(request: web.Request) -> web.Response:
    sent = await request.app[CONTRACTS].send_code(
        current_lender(request).id,
        request.match_info["contract_id"],
        None,  # issue 11.8, as above
    )
    out = CodeOut(code_id=sent.code_id, expires_at=sent.expires_at, resend_after=sent.resend_after, phone=sent.phone)
    return _json(out, 202)


async def get_contract(request: web.Request) -> web.Response:
    contract, intact, checks = await request.app[CONTRACTS].report(
        current_lender(request).id, request.match_info["contract_id"]
    )
    signatures = [
        SignatureCheckOut(
            id=c.id, method=c.method, signed_at=c.signed_at, valid=c.valid, reasons=c.reasons, details=c.details
        )
        for c in checks
    ]
    valid = bool(signatures) and intact is not False and all(s.valid for s in signatures)
    suspended_by = await request.app[CONTRACTS].suspended_by(current_lender(request).id, contract.row.id)
    state: Literal["suspended", "active"] = "suspended" if suspended_by else "active"
    loan = LoanStateOut(interest_accrual=state, collection=state, incidents=suspended_by)
    return _json(
        ContractReportOut(**_out(contract), valid=valid, document_intact=intact, signatures=signatures, loan=loan)
    )


_ID = (Param("contract_id", "path", "contract id"),)


def register(ops: Operations) -> None:
    ops.add(
        Operation(
            "POST",
            "/v1/contracts",
            create_contract,
            "createContract",
            "Register a loan contract document (or its SHA-256) for a client",
            body=ContractIn,
            responses={201: ContractOut, 404: None},
            tags=("contracts",),
            idempotent=True,
            errors=(
                error_codes.CLIENT_NOT_FOUND,
                error_codes.BAD_BASE64,
                error_codes.DOCUMENT_MISMATCH,
                error_codes.DOCUMENT_REQUIRED,
                error_codes.RECORD_TAMPERED,
            ),
            beyond_schema=(error_codes.DOCUMENT_MISMATCH,),  # the document and a sha256 that is not its own
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/contracts/{contract_id}/sign",
            sign_contract,
            "signContract",
            "Sign the contract: the client's CMS over the document (EDS) or a one-time code",
            body=SignIn,
            responses={201: SignatureOut, 404: None, 409: None, 503: None},
            params=_ID,
            tags=("contracts",),
            idempotent=True,
            errors=(
                error_codes.IDENTIFICATION_REQUIRED,
                error_codes.IDENTIFICATION_NOT_USABLE,
                error_codes.CLIENT_NOT_FOUND,
                error_codes.CONTRACT_NOT_FOUND,
                error_codes.REPLAY,
                error_codes.BAD_BASE64,
                error_codes.BAD_CERTIFICATE,
                error_codes.BAD_CMS,
                error_codes.BAD_ENCODING,
                error_codes.DOCUMENT_MISMATCH,
                error_codes.DOCUMENT_REQUIRED,
                error_codes.GOST_UNAVAILABLE,
                error_codes.OTP_KEY_TOO_SHORT,
                error_codes.OTP_MALFORMED,
                error_codes.OTP_REJECTED,
                error_codes.OTP_ALREADY_USED,
                error_codes.FACTOR_SUSPENDED,
                error_codes.SIGNATURE_REJECTED,
                error_codes.UNSUPPORTED_ALGORITHM,
                error_codes.UNVERIFIABLE_INPUT,
                error_codes.OTP_VERIFY_LIMITED,
                error_codes.RECORD_TAMPERED,
                error_codes.OTP_UNAVAILABLE,
                error_codes.TRUST_NOT_READY,
                error_codes.WORKERS_UNAVAILABLE,
            ),
            beyond_schema=(
                *eds_api.CONTENT_REFUSALS,
                *CODE_REFUSALS,
                error_codes.DOCUMENT_MISMATCH,
                error_codes.SIGNATURE_REJECTED,
            ),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/contracts/{contract_id}/code",
            send_code,
            "sendContractCode",
            "Send the client a one-time code bound to this document",
            responses={202: CodeOut, 404: None, 503: None},
            params=_ID,
            tags=("contracts",),
            idempotent=True,
            errors=(
                error_codes.CLIENT_NOT_FOUND,
                error_codes.CONTRACT_NOT_FOUND,
                error_codes.OTP_BAD_DIGITS,
                error_codes.OTP_KEY_TOO_SHORT,
                error_codes.OTP_RESEND_TOO_SOON,
                error_codes.OTP_SEND_LIMITED,
                error_codes.RECORD_TAMPERED,
                error_codes.OTP_UNAVAILABLE,
            ),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/contracts/{contract_id}",
            get_contract,
            "getContract",
            "Re-verify the contract: document integrity and every signature, offline",
            responses={200: ContractReportOut, 404: None, 409: None},
            params=_ID,
            tags=("contracts",),
            errors=(
                error_codes.CONTRACT_NOT_FOUND,
                error_codes.CONTRACT_ALTERED,
                error_codes.UNVERIFIABLE_INPUT,
                error_codes.RECORD_TAMPERED,
                error_codes.TRUST_NOT_READY,
                error_codes.WORKERS_UNAVAILABLE,
            ),
        )
    )
