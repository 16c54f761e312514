"""SMS gateway simulator, with verification calls (R-NB.3, R-NB.4); run two for failover.

Contract (JSON; errors ``{"error": {"code", "message"}}``; optional ``Authorization: Bearer``)::

    POST /send     {"to": "+77771234567", "text": "...", "sender": "DemoMFO",
                    "callback_url": "http://.../receipt" (optional), "client_ref": "..." (optional)}
                   -> 202 {"message_id", "status": "accepted", "gateway"}
                   A repeated client_ref with the same to/text answers the first message (200) and
                   sends nothing; with other to/text it is 409 client_ref_conflict.
                   400: missing_field, invalid_number, text_too_long, bad_sender, bad_callback_url.
    GET  /status/{message_id} -> {"message_id", "to", "status": accepted|delivered|failed,
                                  "submitted_at", "delivered_at", "error", "gateway"}    (404 not_found)
    GET  /messages?to=+7...&client_ref=...
                              -> {"messages": [{... , "text", "sender", "client_ref"}]}, oldest first: the
                                  inbox (tests and the demo read the "sent" code here; both filters optional)

Ids: ``message_id`` here is the *gateway's* id (``gw-a-000001``). The service's ``message_id`` (the one
``POST /v1/identifications/{id}/otp`` answers) is its outbox id, which it sends as ``client_ref``: find
the SMS the service sent with ``GET /messages?client_ref=<the service's message_id>``.

Delivery: ``delivery_delay_ms`` after acceptance a message becomes ``delivered``, or ``failed`` with
error ``unreachable`` for a population phone that is switched off. If the request named a
callback_url the gateway POSTs the receipt there: ``{"message_id", "status", "delivered_at",
"error", "gateway"}``, signed in ``X-Signature: sha256=<hex HMAC-SHA256(callback_secret, body)>``
when a callback secret is configured.

Verification calls are documented in :mod:`simulators.sms.calls`; fault injection in
:mod:`simulators.common`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from simulators.common import JsonError, make_app, read_json, require_str
from simulators.population import Population, build_population, normalize_phone
from simulators.roster import add_population_routes
from simulators.sms import calls

log = logging.getLogger(__name__)
MAX_TEXT: Final = 1000  # about six concatenated Cyrillic SMS parts; longer is refused


@dataclass
class Message:
    message_id: str
    to: str
    text: str
    sender: str
    gateway: str
    submitted_at: str
    status: Literal["accepted", "delivered", "failed"] = "accepted"
    delivered_at: str | None = None
    error: str | None = None
    callback_url: str | None = field(default=None, repr=False)
    client_ref: str | None = field(default=None, repr=False)

    def public(self, *, with_text: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data.pop("callback_url")
        if not with_text:
            data.pop("text")
            data.pop("sender")
            data.pop("client_ref")
        return data


@dataclass
class Gateway:
    name: str
    population: Population
    delivery_delay_ms: int
    callback_secret: bytes | None
    messages: dict[str, Message] = field(default_factory=dict)
    by_ref: dict[str, Message] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    session: aiohttp.ClientSession | None = None
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def reachable(self, phone: str) -> bool:
        person = self.population.by_phone.get(phone)
        return person is None or person.phone.deliverable


GATEWAY: Final = web.AppKey("gateway", Gateway)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_phone(body: dict[str, Any]) -> str:
    to = normalize_phone(require_str(body, "to"))
    if to is None:
        raise JsonError(400, "invalid_number", "'to' is not a Kazakh mobile number")
    return to


def parse_callback(body: dict[str, Any]) -> str | None:
    url = body.get("callback_url")
    if url is None:
        return None
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise JsonError(400, "bad_callback_url", "'callback_url' must be an http(s) URL")
    return url


async def post_callback(gateway: Gateway, url: str, payload: dict[str, Any]) -> None:
    """Deliver a receipt once; a receiver that is down loses it (the sender can still poll)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if gateway.callback_secret:
        digest = hmac.new(gateway.callback_secret, body, hashlib.sha256).hexdigest()
        headers["X-Signature"] = f"sha256={digest}"
    assert gateway.session is not None
    try:
        async with gateway.session.post(url, data=body, headers=headers) as resp:
            await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.info("receipt callback to %s failed: %s", url, exc)


async def deliver(gateway: Gateway, message: Message) -> None:
    await asyncio.sleep(gateway.delivery_delay_ms / 1000)
    if gateway.reachable(message.to):
        message.status, message.delivered_at = "delivered", now_iso()
    else:
        message.status, message.error = "failed", "unreachable"
    if message.callback_url:
        await post_callback(gateway, message.callback_url, message.public())


async def send(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    body = await read_json(request)
    to = parse_phone(body)
    text = require_str(body, "text")
    sender = require_str(body, "sender")
    if len(text) > MAX_TEXT:
        raise JsonError(400, "text_too_long", f"'text' is limited to {MAX_TEXT} characters")
    if len(sender) > 11 or not sender.isascii() or not sender.isalnum():
        raise JsonError(400, "bad_sender", "'sender' is 1-11 Latin letters or digits")
    callback = parse_callback(body)
    ref = body.get("client_ref")
    if ref is not None and not isinstance(ref, str):
        raise JsonError(400, "missing_field", "'client_ref' must be a string")
    if ref and ref in gateway.by_ref:
        first = gateway.by_ref[ref]
        if (first.to, first.text) != (to, text):
            raise JsonError(409, "client_ref_conflict", "client_ref was used for another message")
        return web.json_response({"message_id": first.message_id, "status": first.status, "gateway": gateway.name})
    message = Message(
        message_id=f"{gateway.name}-{next(gateway.ids):06d}",
        to=to,
        text=text,
        sender=sender,
        gateway=gateway.name,
        submitted_at=now_iso(),
        callback_url=callback,
        client_ref=ref,
    )
    gateway.messages[message.message_id] = message
    if ref:
        gateway.by_ref[ref] = message
    gateway.spawn(deliver(gateway, message))
    return web.json_response(
        {"message_id": message.message_id, "status": "accepted", "gateway": gateway.name}, status=202
    )


async def status(request: web.Request) -> web.Response:
    message = request.app[GATEWAY].messages.get(request.match_info["message_id"])
    if message is None:
        raise JsonError(404, "not_found", "no such message")
    return web.json_response(message.public())


async def list_messages(request: web.Request) -> web.Response:
    to = request.query.get("to")
    wanted = normalize_phone(to) if to else None
    if to and wanted is None:
        raise JsonError(400, "invalid_number", "'to' is not a Kazakh mobile number")
    ref = request.query.get("client_ref")
    found = [
        m.public(with_text=True)
        for m in request.app[GATEWAY].messages.values()
        if (wanted is None or m.to == wanted) and (ref is None or m.client_ref == ref)
    ]
    return web.json_response({"messages": found})


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    gateway = app[GATEWAY]
    gateway.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    yield
    for task in list(gateway.tasks):
        task.cancel()
    await asyncio.gather(*gateway.tasks, return_exceptions=True)
    await gateway.session.close()


def create_app(
    *,
    name: str = "gw-a",
    delivery_delay_ms: int = 200,
    callback_secret: str | None = None,
    api_key: str | None = None,
    population: Population | None = None,
) -> web.Application:
    """An SMS gateway named ``name`` (message ids start with it)."""
    app = make_app(api_key)
    population = population or build_population()
    app[GATEWAY] = Gateway(
        name=name,
        population=population,
        delivery_delay_ms=delivery_delay_ms,
        callback_secret=callback_secret.encode() if callback_secret else None,
    )
    app.cleanup_ctx.append(_client_session)
    app.router.add_post("/send", send)
    app.router.add_get("/status/{message_id}", status)
    app.router.add_get("/messages", list_messages)
    calls.add_routes(app, name=name, population=population)
    add_population_routes(app, population)
    return app
