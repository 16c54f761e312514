"""/v1/ncanode/*: NCANode 3.x's verification requests and answers (KZ-PKI.md §4), so an integrator that calls
NCANode switches by changing the base URL to ``https://<service>/v1/ncanode`` (and adding the lender's
``Authorization: Bearer`` key, as on every /v1 call). The translation is ``authsvc.pki.ncanode``; these
handlers only parse, call the verifier as ``authsvc.api.eds`` does, and answer.
"""

from __future__ import annotations

import json

from aiohttp import web

from authsvc import error_codes
from authsvc.api import eds as eds_api
from authsvc.api.body import parse, read_body
from authsvc.api.routing import Operation, Operations
from authsvc.api.state import VERIFIER
from authsvc.methods import eds
from authsvc.pki import ncanode
from authsvc.pki.service import order_for


def _answer(body: dict[str, object]) -> web.Response:
    return web.json_response(body, dumps=lambda v: json.dumps(v, ensure_ascii=False))


async def cms_verify(request: web.Request) -> web.Response:
    body: ncanode.CmsVerifyRequest = parse(ncanode.CmsVerifyRequest, await read_body(request))
    content = eds.decode_b64(body.data, "data") if body.data else None
    verifier = request.app[VERIFIER]
    report = await verifier.verify_cms(
        eds.decode_der(ncanode.unwrap_pem(body.cms), "cms"),
        content=content,
        revocation=order_for(ncanode.revocation_of(body)),
    )
    return _answer(ncanode.cms_response(report))


async def xml_verify(request: web.Request) -> web.Response:
    body: ncanode.XmlVerifyRequest = parse(ncanode.XmlVerifyRequest, await read_body(request))
    verifier = request.app[VERIFIER]
    report = await verifier.verify_xml(body.xml.encode("utf-8"), revocation=order_for(ncanode.revocation_of(body)))
    return _answer(ncanode.xml_response(report))


async def x509_info(request: web.Request) -> web.Response:
    body: ncanode.X509InfoRequest = parse(ncanode.X509InfoRequest, await read_body(request))
    verifier = request.app[VERIFIER]
    ders = [
        eds.decode_der(ncanode.unwrap_pem(cert), f"certs[{i}]") for i, cert in enumerate(body.certs)
    ]  # all decoded before any work
    order = order_for(ncanode.revocation_of(body))
    reports = [await verifier.certificate(der, revocation=order) for der in ders]
    return _answer(ncanode.x509_response(reports))


# What the verifier can refuse before it gives a verdict (the same as /v1/eds/*, which share its code).
_VERIFIER = (
    error_codes.BAD_ENCODING,
    error_codes.BAD_CERTIFICATE,
    error_codes.UNSUPPORTED_ALGORITHM,
    error_codes.GOST_UNAVAILABLE,
    error_codes.UNVERIFIABLE_INPUT,
    error_codes.TRUST_NOT_READY,
    error_codes.WORKERS_UNAVAILABLE,
)
_ERRORS = {
    "ncanodeCmsVerify": (error_codes.BAD_BASE64, error_codes.BAD_CMS, *_VERIFIER),
    "ncanodeXmlVerify": (error_codes.BAD_XML, *_VERIFIER),
    "ncanodeX509Info": _VERIFIER,
}


def register(ops: Operations) -> None:
    for path, handler, op_id, summary, model in (
        ("/v1/ncanode/cms/verify", cms_verify, "ncanodeCmsVerify", "NCANode /cms/verify", ncanode.CmsVerifyRequest),
        ("/v1/ncanode/xml/verify", xml_verify, "ncanodeXmlVerify", "NCANode /xml/verify", ncanode.XmlVerifyRequest),
        ("/v1/ncanode/x509/info", x509_info, "ncanodeX509Info", "NCANode /x509/info", ncanode.X509InfoRequest),
    ):
        ops.add(
            Operation(
                "POST",
                path,
                handler,
                op_id,
                summary,
                body=model,
                responses={200: ncanode.VerificationResponse, 503: None},
                tags=("ncanode",),
                errors=_ERRORS[op_id],
                beyond_schema=eds_api.CONTENT_REFUSALS,
            )
        )
