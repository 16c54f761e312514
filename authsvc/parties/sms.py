"""SMS delivery of one-time codes (R-NB.3, R-23.2) through one or more gateways, with failover.

Contract (simulators/sms/app.py speaks it): ``POST /send`` {to, text, sender, callback_url,
client_ref} → {message_id, status, gateway}; ``GET /status/{id}`` → {message_id, status, delivered_at,
error, ...}; receipts POSTed to callback_url, signed ``X-Signature: sha256=<hex HMAC-SHA256>``.

Sending is made idempotent by ``client_ref`` (the gateway answers a repeat with the first message), so
a gateway is retried under its own retry policy. When a gateway still fails (timeout, unreachable,
5xx, garbage) the next one is tried; a 4xx (bad number) is not failed over. A timed-out gateway may
still deliver, so the client can get the same text twice: harmless for a one-time code, and better
than none. A failed delivery receipt can be answered by :meth:`SmsClient.send` with ``skip`` set to
the gateway that failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError

from authsvc import error_codes
from authsvc.errors import BadRequest, ConfigError, Unauthorized, UpstreamUnavailable
from authsvc.parties.jsonapi import Endpoint, JsonApi


class DeliveryStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    message_id: str
    status: Literal["accepted", "delivered", "failed"]
    delivered_at: datetime | None = None
    error: str | None = None

    @property
    def final(self) -> bool:
        return self.status != "accepted"


class _Accepted(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    message_id: str
    status: Literal["accepted", "delivered", "failed"]


@dataclass(frozen=True)
class SmsSent:
    message_id: str
    gateway: str  # Endpoint.name of the gateway that took it
    skipped: tuple[tuple[str, str], ...] = ()  # (gateway, error code) of gateways that failed first


class SmsClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        gateways: Sequence[Endpoint],
        *,
        sender: str,
        callback_url: str | None = None,
        receipt_secret: bytes | None = None,
    ) -> None:
        if not gateways:
            raise ConfigError("at least one SMS gateway is needed")
        names = [g.name for g in gateways]
        if len(set(names)) != len(names):
            raise ConfigError("SMS gateways need distinct names")
        self._apis = {g.name: JsonApi(session, g) for g in gateways}
        self._sender = sender
        self._callback_url = callback_url
        self._receipt_secret = receipt_secret

    async def send(self, to: str, text: str, *, client_ref: str, skip: Collection[str] = ()) -> SmsSent:
        """Send ``text`` to ``to`` (E.164) through the first gateway that takes it.

        ``client_ref`` must be unique per message (e.g. the challenge id) and the same on a resend of
        it. Raises UpstreamRejected (a 4xx: bad number, bad sender) or, when every gateway failed,
        the last gateway's UpstreamUnavailable with ``skipped`` listing them all.
        """
        body: dict[str, str] = {"to": to, "text": text, "sender": self._sender, "client_ref": client_ref}
        if self._callback_url:
            body["callback_url"] = self._callback_url
        skipped: list[tuple[str, str]] = []
        last: UpstreamUnavailable | None = None
        for name, api in self._apis.items():
            if name in skip:
                continue
            try:
                answer = await api.call("POST", "/send", body, idempotent=True)
                if answer.status not in (200, 202):
                    raise api.rejected(answer)
                accepted = api.parse(answer, _Accepted)
            except UpstreamUnavailable as exc:
                if 400 <= exc.extra.get("upstream_status", 0) < 500:
                    raise
                skipped.append((name, exc.code))
                last = exc
                continue
            return SmsSent(accepted.message_id, name, tuple(skipped))
        if last is None:
            raise ConfigError("every SMS gateway was skipped")
        last.extra["skipped"] = skipped
        raise last

    async def status(self, sent: SmsSent) -> DeliveryStatus:
        """Poll the gateway that took the message for its delivery status."""
        api = self._apis[sent.gateway]
        answer = await api.call("GET", f"/status/{quote(sent.message_id, safe='')}", idempotent=True)
        if answer.status != 200:
            raise api.rejected(answer)
        return api.parse(answer, DeliveryStatus)

    async def await_final(self, sent: SmsSent, *, within: float, interval: float = 0.5) -> DeliveryStatus:
        """Poll until the message is delivered or failed, or ``within`` seconds pass (then the last
        status, still ``accepted``, is returned): for deployments that get no receipt callbacks."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            current = await self.status(sent)
            if current.final or loop.time() + interval > deadline:
                return current
            await asyncio.sleep(interval)

    def parse_receipt(self, body: bytes, signature: str | None) -> DeliveryStatus:
        """A delivery receipt a gateway POSTed to our callback URL.

        With a receipt secret configured, the ``X-Signature`` header must be the body's HMAC:
        otherwise Unauthorized(code=error_codes.BAD_RECEIPT_SIGNATURE). A body that is not a receipt is
        BadRequest(code=error_codes.BAD_RECEIPT).
        """
        if self._receipt_secret is not None:
            expected = "sha256=" + hmac.new(self._receipt_secret, body, hashlib.sha256).hexdigest()
            if signature is None or not hmac.compare_digest(expected.encode(), signature.encode()):
                raise Unauthorized(
                    "delivery receipt signature is missing or wrong", code=error_codes.BAD_RECEIPT_SIGNATURE
                )
        try:
            return DeliveryStatus.model_validate_json(body)
        except ValidationError as exc:
            raise BadRequest("not a delivery receipt", code=error_codes.BAD_RECEIPT) from exc
