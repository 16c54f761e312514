"""JSON-over-HTTP calls to outside parties, on top of :mod:`authsvc.parties.http`.

:class:`JsonApi` adds to :class:`~authsvc.parties.http.HttpClient` what the JSON parties (CDAO,
telco, SMS gateways, credit bureau, bank) share: a base URL, an optional bearer API key, JSON bodies,
and typed answers. Failures keep the stable codes of ``http.py`` and add two:

    upstream_timeout       no answer in time (after the retries allowed)
    upstream_unreachable   connection refused, reset or dropped
    upstream_bad_response  5xx, a 2xx whose body is not a JSON object, or JSON of the wrong shape
    upstream_rejected      the party refused the request with a 4xx this client has no meaning for
                           (502: our request or our integration is wrong, retrying will not help)

Retries happen only for calls marked idempotent (reads, and writes the party de-duplicates by an id
we send); a 2xx with a broken body is retried like a 5xx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ValidationError

from authsvc import error_codes
from authsvc.errors import ConfigError, UpstreamUnavailable
from authsvc.parties.http import HttpClient, HttpResponse, RetryPolicy

M = TypeVar("M", bound=BaseModel)
_DESCRIBE = {
    "upstream_timeout": "did not answer in time",
    "upstream_unreachable": "could not be reached",
    "upstream_bad_response": "answered with an error or an unusable body",
}


class UpstreamRejected(UpstreamUnavailable):
    """The outside party answered 4xx to something it should have accepted."""

    status = 502
    code = error_codes.UPSTREAM_REJECTED
    title = "Outside party rejected the request"


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one outside party; the lead's config builds these."""

    base_url: str
    name: str = "upstream"
    timeout: float = 5.0
    connect_timeout: float = 2.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    api_key: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{self.name}: base URL must be http(s)://host[:port][/path]")
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ConfigError(f"{self.name}: timeouts must be positive")


@dataclass(frozen=True)
class Answer:
    """A 2xx or 4xx answer: its status, its JSON object, and the party's error code if any."""

    status: int
    body: dict[str, Any]

    @property
    def error_code(self) -> str | None:
        error = self.body.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, str) else None

    @property
    def error_message(self) -> str:
        error = self.body.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        return message if isinstance(message, str) else f"HTTP {self.status}"


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _acceptable(response: HttpResponse) -> bool:
    return _json_object(response.body) is not None


class JsonApi:
    """One outside party's JSON API."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._http = HttpClient(
            session,
            timeout=endpoint.timeout,
            connect_timeout=endpoint.connect_timeout,
            retry=endpoint.retry,
            max_body=1024 * 1024,
            party=endpoint.name,
        )

    def _url(self, path: str) -> str:
        return self.endpoint.base_url.rstrip("/") + "/" + path.lstrip("/")

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, idempotent: bool) -> Answer:
        """Send and return the 2xx/4xx answer; raise UpstreamUnavailable for everything else."""
        headers = {"Accept": "application/json"}
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method, self._url(path), data=data, headers=headers, idempotent=idempotent, accept=_acceptable
            )
        except UpstreamUnavailable as exc:
            # http.py's detail names the URL, whose path may hold an IIN: keep it out of problem
            # documents and of logged tracebacks (hence no chained cause); keep the stable code.
            what = _DESCRIBE.get(exc.code, "failed")
            raise UpstreamUnavailable(
                f"{self.endpoint.name} {what}", code=exc.code, upstream=self.endpoint.name
            ) from None
        parsed = _json_object(response.body)
        if parsed is None:
            if 200 <= response.status < 300:
                raise self.bad_response("the answer is not a JSON object")
            parsed = {}
        if not (200 <= response.status < 300 or 400 <= response.status < 500):
            raise self.bad_response(f"unexpected HTTP {response.status}")
        return Answer(response.status, parsed)

    def parse(self, answer: Answer, model: type[M]) -> M:
        """The answer's body as ``model``; a body of the wrong shape is upstream_bad_response."""
        try:
            return model.model_validate(answer.body)
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
            raise self.bad_response(f"the answer lacks or mistypes {', '.join(fields)}") from exc

    def bad_response(self, detail: str) -> UpstreamUnavailable:
        return UpstreamUnavailable(
            f"{self.endpoint.name}: {detail}", code=error_codes.UPSTREAM_BAD_RESPONSE, upstream=self.endpoint.name
        )

    def rejected(self, answer: Answer) -> UpstreamRejected:
        return UpstreamRejected(
            f"{self.endpoint.name} refused the request: {answer.error_message}",
            upstream=self.endpoint.name,
            upstream_status=answer.status,
            upstream_code=answer.error_code,
        )
