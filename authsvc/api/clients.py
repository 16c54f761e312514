"""/v1/clients: the client registry (R-6.1–R-6.7)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from authsvc.api.body import parse, read_body
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import Operation, OperationRegistry, Param
from authsvc.api.state import KEYS, REGISTRY
from authsvc.cabinet.models import (
    ClientIn,
    ClientList,
    ClientOut,
    ClientPatch,
    IndividualIn,
    LegalEntityIn,
    Lookup,
)
from authsvc.cabinet.service import request_mac
from authsvc.errors import BadRequest, NotFound, ValidationFailed

IDEMPOTENCY_HEADER = "Idempotency-Key"
CLIENT_ID = Param("client_id", "path", "client id", schema={"type": "string", "maxLength": 64})
IDEMPOTENCY = Param(
    IDEMPOTENCY_HEADER,
    "header",
    "makes a retried registration safe: the same key returns the first answer",
    required=False,
    schema={"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x21-\\x7e]+$"},
)


def _context(request: web.Request) -> dict[str, Any]:
    ctx: dict[str, Any] = {"test_pki": request.app[REGISTRY].test_pki}
    if request.app[REGISTRY].today is not None:
        ctx["today"] = request.app[REGISTRY].today
    return ctx


def _client_id(request: web.Request) -> str:
    client_id = request.match_info["client_id"]
    if len(client_id) > 64:
        raise NotFound("no such client", code="client_not_found")
    return client_id


async def create_client(request: web.Request) -> web.Response:
    lender = current_lender(request)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not (0 < len(key) <= 200 and key.isprintable() and key.isascii() and " " not in key):
        raise BadRequest("Idempotency-Key must be 1-200 visible ASCII characters", code="bad_idempotency_key")
    raw = await read_body(request)
    payload: IndividualIn | LegalEntityIn = parse(ClientIn, raw, _context(request))
    status, body, replayed = await request.app[REGISTRY].register(
        lender.id, payload, idempotency_key=key, request_mac=request_mac(request.app[KEYS], lender.id, raw)
    )
    resp = web.Response(status=status, body=body, content_type="application/json")
    if replayed:
        resp.headers["Idempotent-Replayed"] = "true"
    resp.headers["Location"] = f"/v1/clients/{json.loads(body)['id']}"
    return resp


async def get_client(request: web.Request) -> web.Response:
    out = await request.app[REGISTRY].get(current_lender(request).id, _client_id(request))
    return web.json_response(text=out.model_dump_json())


async def patch_client(request: web.Request) -> web.Response:
    raw = await read_body(request)
    try:
        keys = json.loads(raw)
    except ValueError:
        keys = None
    if isinstance(keys, dict) and ({"iin", "bin"} & keys.keys()):
        raise ValidationFailed("IIN and BIN can never be changed (R-6.7)", code="iin_immutable")
    patch: ClientPatch = parse(ClientPatch, raw)
    out = await request.app[REGISTRY].change_contact(current_lender(request).id, _client_id(request), patch)
    return web.json_response(text=out.model_dump_json())


async def lookup_clients(request: web.Request) -> web.Response:
    query: Lookup = parse(Lookup, await read_body(request))
    found = await request.app[REGISTRY].lookup(current_lender(request).id, query.iin)
    return web.json_response(text=ClientList(items=found).model_dump_json())


def register(ops: OperationRegistry) -> None:
    ops.add(
        Operation(
            "POST",
            "/v1/clients",
            create_client,
            "createClient",
            "Register an individual (R-6.1) or a legal entity (R-6.2); answers the masked record",
            body=ClientIn,
            responses={201: ClientOut, 409: None},
            params=(IDEMPOTENCY,),
            tags=("clients",),
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
        )
    )
