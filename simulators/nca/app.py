"""HTTP face of the NCA test-PKI simulator, in NCA's test URL layout (KZ-PKI.md §3):
POST /ocsp/ (and GET /ocsp/<base64>), GET /crl/<name>.crl and /crl/<name>_d.crl, POST /tsp/,
GET /cert/<name>.cer; plus test-only routes: GET /people, GET /people/<id>/<family>.p12|.cer,
POST /admin/issue and POST /admin/revoke."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from simulators.nca import keys, ocsp, tsa
from simulators.nca.admin import issue_from_json, requested_family, revoke_from_json, summary
from simulators.nca.ca import Urls
from simulators.nca.keystore import DEFAULT_PASSWORD, keystore
from simulators.nca.pki import Pki

log = logging.getLogger(__name__)

PKI_KEY = web.AppKey("nca_pki", Pki)
OCSP_NEXT_UPDATE_KEY = web.AppKey("nca_ocsp_next_update", timedelta)
MAX_BODY = 1 << 20
_dumps = functools.partial(json.dumps, ensure_ascii=False)  # names stay readable Cyrillic


def problem(status: int, code: str, detail: str) -> web.Response:
    """RFC 9457 problem document, the same shape the service uses."""
    body = {"type": "about:blank", "title": code.replace("_", " "), "status": status, "detail": detail, "code": code}
    return web.json_response(body, status=status, content_type="application/problem+json")


async def _body(request: web.Request, content_type: str) -> bytes:
    if request.content_type != content_type:
        raise web.HTTPUnsupportedMediaType(text=f"send {content_type}")
    data = await request.read()
    if not data:
        raise web.HTTPBadRequest(text="empty body")
    return data


def _ocsp_answer(request: web.Request, der: bytes) -> web.Response:
    next_update = request.app.get(OCSP_NEXT_UPDATE_KEY)
    body = ocsp.respond(request.app[PKI_KEY], der, next_update=next_update)
    return web.Response(body=body, content_type="application/ocsp-response")


async def ocsp_post(request: web.Request) -> web.Response:
    return _ocsp_answer(request, await _body(request, "application/ocsp-request"))


async def ocsp_get(request: web.Request) -> web.Response:
    """RFC 6960 appendix A.1: GET {url}/{url-encoding of base-64 encoding of the DER request}."""
    try:
        der = base64.b64decode(request.match_info["encoded"], validate=True)
    except (binascii.Error, ValueError):
        return problem(400, "malformed_ocsp_request", "the path is not base64 of a DER OCSPRequest")
    return _ocsp_answer(request, der)


async def tsp_post(request: web.Request) -> web.Response:
    der = await _body(request, "application/timestamp-query")
    family = request.query.get("family")
    body = tsa.respond(request.app[PKI_KEY], der, family=family)
    return web.Response(body=body, content_type="application/timestamp-reply")


async def crl_get(request: web.Request) -> web.Response:
    pki, name = request.app[PKI_KEY], request.match_info["name"]
    kind = "delta" if name.endswith("_d") else "base"
    found = pki.family_by_stem(name.removesuffix("_d"))
    if found is None or (found[1] == "root" and kind == "delta"):
        return problem(404, "unknown_crl", f"no CRL named {name}.crl")
    fam, which = found
    body = pki.crl(fam.family, "root" if which == "root" else kind)
    return web.Response(body=body, content_type="application/pkix-crl")


async def cert_get(request: web.Request) -> web.Response:
    pki, name = request.app[PKI_KEY], request.match_info["name"]
    found = pki.family_by_stem(name)
    if found is None:
        return problem(404, "unknown_certificate", f"no CA certificate named {name}.cer")
    fam, which = found
    cert = fam.root.certificate if which == "root" else fam.intermediate.certificate
    return web.Response(body=cert.dump(), content_type="application/pkix-cert")


async def people_get(request: web.Request) -> web.Response:
    return web.json_response(summary(request.app[PKI_KEY]), dumps=_dumps)


async def person_file(request: web.Request) -> web.Response:
    pki = request.app[PKI_KEY]
    person, family, ext = (request.match_info[k] for k in ("person", "family", "ext"))
    matches = [i for i in pki.person_certificates(person) if i.family == family]
    if not matches:
        return problem(404, "unknown_person", f"no {family} certificate for {person!r}")
    issued = matches[-1]
    if ext == "cer":
        return web.Response(body=issued.certificate.dump(), content_type="application/pkix-cert")
    password = request.query.get("password", DEFAULT_PASSWORD)
    body = keystore(issued, password)
    return web.Response(body=body, content_type="application/x-pkcs12")


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body is not JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


async def admin_issue(request: web.Request) -> web.Response:
    data = await _json(request)
    try:
        # Key generation (RSA: ~0.1-0.3 s) runs off the loop; the PKI itself is only touched on it.
        signer = await asyncio.to_thread(keys.generate, requested_family(data))
        result = issue_from_json(request.app[PKI_KEY], data, signer=signer)
    except (ValueError, TypeError, KeyError) as exc:
        return problem(400, "invalid_issue_request", str(exc))
    return web.json_response(result, status=201, dumps=_dumps)


async def admin_revoke(request: web.Request) -> web.Response:
    try:
        result = revoke_from_json(request.app[PKI_KEY], await _json(request))
    except LookupError as exc:
        return problem(404, "unknown_certificate", str(exc.args[0]))
    except (ValueError, TypeError) as exc:
        return problem(400, "invalid_revoke_request", str(exc))
    return web.json_response(result, dumps=_dumps)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn aiohttp's plain-text HTTP errors into problem documents; never leak a traceback."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason.lower().replace(" ", "_"), exc.text or exc.reason)
    except Exception:  # a simulator bug still answers in the contract's shape
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "simulator_error", "the NCA simulator failed; see its log")
    return response


def create_app(
    *,
    base_url: str,
    state_dir: Path | None = None,
    fixed_time: datetime | None = None,
    ocsp_next_update: timedelta | None = None,
) -> web.Application:
    """The simulator app. `state_dir` keeps keys, certificates and revocations across restarts;
    `fixed_time` pins every clock reading (issuance, OCSP producedAt, CRL thisUpdate, TSA genTime);
    `ocsp_next_update` adds nextUpdate to OCSP answers (NCA sends none)."""
    if fixed_time is not None and fixed_time.tzinfo is None:
        raise ValueError("fixed_time must be timezone-aware")

    def clock() -> datetime:
        return fixed_time if fixed_time is not None else datetime.now(UTC)

    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY)
    app[PKI_KEY] = Pki.open(Urls(base_url), state_dir, clock)
    if ocsp_next_update is not None:
        app[OCSP_NEXT_UPDATE_KEY] = ocsp_next_update
    app.router.add_post("/ocsp/", ocsp_post)
    app.router.add_post("/ocsp", ocsp_post)
    app.router.add_get("/ocsp/{encoded:.+}", ocsp_get)
    app.router.add_post("/tsp/", tsp_post)
    app.router.add_post("/tsp", tsp_post)
    app.router.add_get("/crl/{name}.crl", crl_get)
    app.router.add_get("/cert/{name}.cer", cert_get)
    app.router.add_get("/people", people_get)
    app.router.add_get("/people/{person}/{family}.{ext:p12|cer}", person_file)
    app.router.add_post("/admin/issue", admin_issue)
    app.router.add_post("/admin/revoke", admin_revoke)
    return app
