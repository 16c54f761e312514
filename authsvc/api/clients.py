"""/v1/clients: the client registry (R-6.1–R-6.7)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import CLIENT_ID, Operation, Operations
from authsvc.api.state import CLIENT_REGISTRY
from authsvc.cabinet.models import (
    ClientIn,
    ClientList,
    ClientOut,
    ClientPatch,
    IndividualIn,
    LegalEntityIn,
    Lookup,
)
from authsvc.errors import NotFound, ValidationFailed
from authsvc.methods.face_references import DOCUMENT_ERRORS

# What the schema's patterns cannot say about an identifier: check digits, a birth date not after today, a
# 29 February of a year that had none; and about a file: what its bytes are (the photo's quality, R-6.1).
IDENTIFIER_REFUSALS = (error_codes.BAD_CHECKSUM, error_codes.BIRTH_DATE_IN_FUTURE, error_codes.INVALID_FORMAT)
MEDIA_REFUSALS = (
    error_codes.CONTENT_TYPE_MISMATCH,
    error_codes.CORRUPT_IMAGE,
    error_codes.IMAGE_TOO_LARGE,
    error_codes.IMAGE_TOO_SMALL,
    error_codes.PHOTO_REJECTED,
    error_codes.UNSUPPORTED_FILE_TYPE,
)


def _context(request: web.Request) -> dict[str, Any]:
    ctx: dict[str, Any] = {"test_pki": request.app[CLIENT_REGISTRY].test_pki}
    if request.app[CLIENT_REGISTRY].today is not None:
        ctx["today"] = request.app[CLIENT_REGISTRY].today
    return ctx


def _client_id(request: web.Request) -> str:
    client_id = request.match_info["client_id"]
    if len(client_id) > 64:
        raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
    return client_id


async def create_client(request: web.Request) -> web.Response:
    payload: IndividualIn | LegalEntityIn = parse(ClientIn, await read_body(request), _context(request))
    body = await request.app[CLIENT_REGISTRY].register(current_lender(request).id, payload)
    resp = web.Response(status=201, body=body, content_type="application/json")
    resp.headers["Location"] = f"/v1/clients/{json.loads(body)['id']}"
    return resp


async def get_client(request: web.Request) -> web.Response:
    out = await request.app[CLIENT_REGISTRY].get(current_lender(request).id, _client_id(request))
    return web.json_response(text=out.model_dump_json())


async def patch_client(request: web.Request) -> web.Response:
    raw = await read_body(request)
    try:
        keys = json.loads(raw)
    except ValueError:
        keys = None
    if isinstance(keys, dict) and ({"iin", "bin"} & keys.keys()):
        raise ValidationFailed("IIN and BIN can never be changed (R-6.7)", code=error_codes.IIN_IMMUTABLE)
    patch: ClientPatch = parse(ClientPatch, raw)
    out = await request.app[CLIENT_REGISTRY].change_contact(current_lender(request).id, _client_id(request), patch)
    return web.json_response(text=out.model_dump_json())


async def lookup_clients(request: web.Request) -> web.Response:
    query: Lookup = parse(Lookup, await read_body(request))
    found = await request.app[CLIENT_REGISTRY].lookup(current_lender(request).id, query.iin)
    return web.json_response(text=ClientList(items=found).model_dump_json())


def register(ops: Operations) -> None:
    ops.add(
        Operation(
            "POST",
            "/v1/clients",
            create_client,
            "createClient",
            "Register an individual (R-6.1) or a legal entity (R-6.2), optionally with the identity document's image "
            "(its portrait is checked and encoded for the liveness match, R-7.3b(i)); answers the masked record",
            body=ClientIn,
            responses={201: ClientOut, 409: None},
            tags=("clients",),
            idempotent=True,
            errors=(
                error_codes.INVALID_FORMAT,
                error_codes.BAD_CHECKSUM,
                error_codes.BIRTH_DATE_IN_FUTURE,
                error_codes.INVALID_PHONE,
                error_codes.NOT_MOBILE,
                error_codes.DOCUMENT_EXPIRED,
                error_codes.DOCUMENTS_MISSING,
                error_codes.PAYOUT_DETAILS_REQUIRED,
                error_codes.DUPLICATE_CLIENT,
                error_codes.BAD_BASE64,
                error_codes.CONTENT_TYPE_MISMATCH,
                error_codes.CORRUPT_IMAGE,
                error_codes.EMPTY_FILE,
                error_codes.FILE_TOO_LARGE,
                error_codes.IMAGE_TOO_LARGE,
                error_codes.IMAGE_TOO_SMALL,
                error_codes.PHOTO_REJECTED,
                error_codes.TOO_MANY_DOCUMENTS,
                error_codes.UNSUPPORTED_FILE_TYPE,
                *DOCUMENT_ERRORS,
            ),
            beyond_schema=(
                *IDENTIFIER_REFUSALS,
                *MEDIA_REFUSALS,
                error_codes.DOCUMENT_EXPIRED,
                error_codes.DOCUMENTS_MISSING,
            ),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/clients/lookup",
            lookup_clients,
            "lookupClients",
            "Find this lender's client by IIN or BIN (keyed-hash index; the number stays out of URLs and logs)",
            body=Lookup,
            responses={200: ClientList},
            tags=("clients",),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/clients/{client_id}",
            get_client,
            "getClient",
            "The client, masked",
            responses={200: ClientOut, 404: None},
            params=(CLIENT_ID,),
            tags=("clients",),
            errors=(error_codes.CLIENT_NOT_FOUND,),
        )
    )
    ops.add(
        Operation(
            "PATCH",
            "/v1/clients/{client_id}",
            patch_client,
            "changeClientContact",
            "Change phone or bank details with a completed change_contact identification (R-6.6); IIN/BIN never (R-6.7)",
            body=ClientPatch,
            responses={200: ClientOut, 404: None, 409: None},
            params=(CLIENT_ID,),
            tags=("clients",),
            errors=(
                error_codes.INVALID_FORMAT,
                error_codes.BAD_CHECKSUM,
                error_codes.INVALID_PHONE,
                error_codes.NOT_MOBILE,
                error_codes.NOTHING_TO_CHANGE,
                error_codes.CLIENT_NOT_FOUND,
                error_codes.CONCURRENT_UPDATE,
                error_codes.IDENTIFICATION_REQUIRED,
                error_codes.IIN_IMMUTABLE,
                error_codes.RECORD_TAMPERED,
            ),
            beyond_schema=IDENTIFIER_REFUSALS,
        )
    )
