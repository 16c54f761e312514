"""Client for the NCA RK PKI services: OCSP, CRL and CA-certificate downloads, time stamps (R-7.1).

KZ-PKI.md §3: the endpoints answer 404s, empty files and HTML "Try again" pages now and then, so every
body is checked for the shape it must have (DER, or PEM for certificates) before it is returned, and an
unusable one is retried like a 5xx. Protocol validation (signatures, nonces) belongs to
:mod:`authsvc.pki.ocsp` / :mod:`authsvc.pki.tsp` / :mod:`authsvc.pki.crl`.
"""

from __future__ import annotations

from typing import Final

from authsvc import error_codes
from authsvc.error_codes import Code
from authsvc.errors import UpstreamUnavailable
from authsvc.parties.http import HttpClient, HttpResponse
from authsvc.pki.der import BadEncoding, decode_binary

__all__ = ["NcaClient"]

OCSP_REQUEST: Final = "application/ocsp-request"
OCSP_RESPONSE: Final = "application/ocsp-response"
TSP_QUERY: Final = "application/timestamp-query"
TSP_REPLY: Final = "application/timestamp-reply"


def _looks_der(response: HttpResponse) -> bool:
    """A non-empty DER SEQUENCE, not an HTML/text page ("Try again") that some NCA hosts return."""
    return response.body[:1] == b"\x30" and not response.content_type.startswith("text/")


def _looks_der_or_pem(response: HttpResponse) -> bool:
    return _looks_der(response) or response.body.lstrip()[:11] == b"-----BEGIN "


class NcaClient:
    """Outbound calls to NCA (or to the NCA simulator, which speaks the same HTTP contract)."""

    def __init__(self, http: HttpClient, *, timeout: float = 10.0, crl_timeout: float = 120.0) -> None:
        self._http = http
        self._timeout = timeout
        self._crl_timeout = crl_timeout  # the GOST CRL is ~19 MB

    @staticmethod
    def _require_ok(response: HttpResponse, what: str, code: Code) -> bytes:
        if response.status != 200:
            raise UpstreamUnavailable(
                f"{what} at {response.url} answered HTTP {response.status}",
                code=code,
                status_code=response.status,
            )
        return response.body

    async def ocsp(self, url: str, request_der: bytes) -> bytes:
        """POST an OCSP request (RFC 6960 A.1); returns the DER response (signature NOT yet checked)."""
        response = await self._http.post(
            url,
            request_der,
            OCSP_REQUEST,
            headers={"Accept": OCSP_RESPONSE},
            time_limit=self._timeout,
            idempotent=True,  # OCSP queries have no side effects
            accept=_looks_der,
            party="nca_ocsp",
        )
        return self._require_ok(response, "OCSP responder", error_codes.OCSP_UNAVAILABLE)

    async def fetch_crl(self, url: str) -> bytes:
        """GET a CRL; returns DER (PEM is decoded). Signature and freshness are the caller's to check."""
        response = await self._http.get(url, time_limit=self._crl_timeout, accept=_looks_der_or_pem, party="nca_crl")
        body = self._require_ok(response, "CRL", error_codes.CRL_DOWNLOAD_FAILED)
        return self._der(body, "CRL", error_codes.CRL_DOWNLOAD_FAILED)

    async def timestamp(self, url: str, request_der: bytes) -> bytes:
        """POST an RFC 3161 TimeStampReq; returns the DER TimeStampResp (not yet validated)."""
        response = await self._http.post(
            url,
            request_der,
            TSP_QUERY,
            headers={"Accept": TSP_REPLY},
            time_limit=self._timeout,
            idempotent=True,  # a repeated query only yields another token
            accept=_looks_der,
            party="nca_tsp",
        )
        return self._require_ok(response, "time-stamp authority", error_codes.TSP_UNAVAILABLE)

    async def fetch_certificate(self, url: str) -> bytes:
        """GET a CA certificate named by an AIA caIssuers URL; DER or PEM in, DER out."""
        response = await self._http.get(url, time_limit=self._timeout, accept=_looks_der_or_pem, party="nca_ca")
        body = self._require_ok(response, "CA certificate", error_codes.CA_CERTIFICATE_UNAVAILABLE)
        return self._der(body, "CA certificate", error_codes.CA_CERTIFICATE_UNAVAILABLE)

    @staticmethod
    def _der(body: bytes, what: str, code: Code) -> bytes:
        try:
            return decode_binary(body, what=what)
        except BadEncoding as exc:
            raise UpstreamUnavailable(f"{what} download is neither DER nor PEM", code=code) from exc
