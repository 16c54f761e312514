"""/v1/webhook: the lender's callback endpoint, its secret, and the history of deliveries.

``PUT /v1/webhook`` {url, events?} creates (201, with the signing ``secret``, shown this once) or changes
(200, no secret) the endpoint; ``GET`` shows it without the secret; ``POST /v1/webhook/rotate-secret``
answers a new secret (the old one signs beside it for ``webhooks.secret_grace_s``); ``DELETE`` removes it
and its unsent deliveries. ``POST /v1/webhook/ping`` queues a test delivery. ``GET /v1/webhook/deliveries``
lists deliveries newest first; ``POST /v1/webhook/deliveries/{id}/redeliver`` sends one again (same id).
How deliveries are signed: `authsvc.webhooks.signing`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import Operation, Operations, Param
from authsvc.api.state import DB, WEBHOOK_BELL, WEBHOOKS
from authsvc.errors import NotFound, ValidationFailed
from authsvc.store import webhooks as store
from authsvc.webhooks import outbox
from authsvc.webhooks.endpoints import MAX_URL, URL_PATTERN, Endpoint
from authsvc.webhooks.events import EVENTS

EventName = Literal[
    "identification.completed",
    "identification.failed",
    "identification.expired",
    "incident.deadline_near",
    "incident.overdue",
]
assert get_args(EventName) == EVENTS, "the API's event names are the package's"
StatusName = Literal["queued", "sending", "delivered", "dead"]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[
        str,
        Field(
            min_length=8,
            max_length=MAX_URL,
            description="https:// URL deliveries are POSTed to",
            examples=["https://lender.example.kz/authsvc/events"],
            json_schema_extra={"pattern": URL_PATTERN},
        ),
    ]
    events: list[EventName] | None = Field(
        None, min_length=1, description="events to receive; omitted or null: every event"
    )


class WebhookOut(BaseModel):
    url: str
    events: list[str] | None = Field(description="null: every event")
    created_at: datetime
    updated_at: datetime
    previous_secret_valid_until: datetime | None = Field(
        description="after a rotation, deliveries are also signed with the previous secret until then"
    )
    secret: str | None = Field(
        None, description="the signing secret: answered only when created or rotated, never again"
    )


class DeliveryOut(BaseModel):
    id: str = Field(description="the delivery id, also the body's id and Authsvc-Delivery; the same on every retry")
    event: str
    status: StatusName
    attempts: int
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None = Field(description="when the next try is due (null once delivered or dead)")
    delivered_at: datetime | None
    last_status: int | None = Field(description="the endpoint's HTTP status on the last try")
    last_error: str | None = Field(description="timeout, unreachable, http_<status>, endpoint_deleted, url_refused")
    payload: dict[str, Any] | None = Field(None, description="the JSON posted (single-delivery reads only)")


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


class PingOut(BaseModel):
    delivery_id: str


def _out(endpoint: Endpoint, secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        url=endpoint.url,
        events=list(endpoint.events) if endpoint.events is not None else None,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
        previous_secret_valid_until=endpoint.previous_secret_until,
        secret=secret,
    )


def _delivery_out(d: store.Delivery, *, with_payload: bool = False) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        event=d.event,
        status=d.status,
        attempts=d.attempts,
        created_at=d.created_at,
        updated_at=d.updated_at,
        next_attempt_at=d.next_attempt_at,
        delivered_at=d.delivered_at,
        last_status=d.last_status,
        last_error=d.last_error,
        payload=json.loads(d.body) if with_payload else None,
    )


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


async def put_webhook(request: web.Request) -> web.Response:
    body: WebhookIn = parse(WebhookIn, await read_body(request))
    endpoint, secret = await request.app[WEBHOOKS].configure(current_lender(request).id, body.url, body.events)
    return _json(_out(endpoint, secret), 201 if secret is not None else 200)


async def get_webhook(request: web.Request) -> web.Response:
    return _json(_out(await request.app[WEBHOOKS].show(current_lender(request).id)))


async def delete_webhook(request: web.Request) -> web.Response:
    await request.app[WEBHOOKS].delete(current_lender(request).id)
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    endpoint, secret = await request.app[WEBHOOKS].rotate(current_lender(request).id)
    return _json(_out(endpoint, secret))


async def ping(request: web.Request) -> web.Response:
    async with request.app[DB].transaction() as tx:
        delivery_id = await outbox.enqueue_ping(tx, current_lender(request).id)
    if delivery_id is None:
        raise NotFound("this lender has no webhook endpoint", code=error_codes.WEBHOOK_NOT_CONFIGURED)
    request.app[WEBHOOK_BELL].set()
    return _json(PingOut(delivery_id=delivery_id), 202)


async def list_deliveries(request: web.Request) -> web.Response:
    query = request.query
    status = query.get("status")
    if status is not None and status not in store.STATUSES:
        raise ValidationFailed(f"status is one of {', '.join(store.STATUSES)}", code=error_codes.VALIDATION_FAILED)
    raw_limit = query.get("limit", "50")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 200:
        raise ValidationFailed("limit is a whole number from 1 to 200", code=error_codes.VALIDATION_FAILED)
    event = query.get("event")
    if event is not None and len(event) > 64:
        raise ValidationFailed("event is at most 64 characters", code=error_codes.VALIDATION_FAILED)
    async with request.app[DB].autocommit() as tx:
        found = await store.deliveries(tx, current_lender(request).id, status=status, event=event, limit=int(raw_limit))
    return _json(DeliveryList(items=[_delivery_out(d) for d in found]))


def _delivery_id(request: web.Request) -> str:
    delivery_id = request.match_info["delivery_id"]
    if len(delivery_id) > 36:
        raise _no_delivery()
    return delivery_id


def _no_delivery() -> NotFound:
    return NotFound("no such delivery", code=error_codes.DELIVERY_NOT_FOUND)


async def get_delivery(request: web.Request) -> web.Response:
    async with request.app[DB].autocommit() as tx:
        found = await store.delivery(tx, current_lender(request).id, _delivery_id(request))
    if found is None:
        raise _no_delivery()
    return _json(_delivery_out(found, with_payload=True))


async def redeliver(request: web.Request) -> web.Response:
    lender_id, delivery_id = current_lender(request).id, _delivery_id(request)
    async with request.app[DB].transaction() as tx:
        if not await store.redeliver(tx, lender_id, delivery_id):
            raise _no_delivery()
        found = await store.delivery(tx, lender_id, delivery_id)
    assert found is not None
    request.app[WEBHOOK_BELL].set()
    return _json(_delivery_out(found), 202)


_DELIVERY_ID = Param("delivery_id", "path", "delivery id", schema={"type": "string", "maxLength": 36})
_LIST_PARAMS = (
    Param("status", "query", "only deliveries in this state", required=False, schema={"enum": list(store.STATUSES)}),
    Param("event", "query", "only deliveries of this event", required=False),
    Param(
        "limit",
        "query",
        "how many, newest first (default 50)",
        required=False,
        schema={"type": "integer", "minimum": 1, "maximum": 200},
    ),
)


def register(ops: Operations) -> None:
    tags = ("webhooks",)
    ops.add(
        Operation(
            "PUT",
            "/v1/webhook",
            put_webhook,
            "putWebhook",
            "Create (answers the signing secret once) or change this lender's callback endpoint",
            body=WebhookIn,
            responses={200: WebhookOut, 201: WebhookOut},
            tags=tags,
            errors=(error_codes.WEBHOOK_URL_REFUSED,),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/webhook",
            get_webhook,
            "getWebhook",
            "This lender's callback endpoint, without its secret",
            responses={200: WebhookOut, 404: None},
            tags=tags,
            errors=(error_codes.WEBHOOK_NOT_CONFIGURED,),
        )
    )
    ops.add(
        Operation(
            "DELETE",
            "/v1/webhook",
            delete_webhook,
            "deleteWebhook",
            "Remove the endpoint; its unsent deliveries are marked dead",
            responses={204: None, 404: None},
            tags=tags,
            errors=(error_codes.WEBHOOK_NOT_CONFIGURED,),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/webhook/rotate-secret",
            rotate_secret,
            "rotateWebhookSecret",
            "A new signing secret (answered once); the previous one keeps signing beside it for the grace period",
            responses={200: WebhookOut, 404: None},
            tags=tags,
            errors=(error_codes.WEBHOOK_NOT_CONFIGURED, error_codes.RECORD_TAMPERED),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/webhook/ping",
            ping,
            "pingWebhook",
            "Queue a test delivery (event webhook.ping) whatever the endpoint subscribed to",
            responses={202: PingOut, 404: None},
            tags=tags,
            errors=(error_codes.WEBHOOK_NOT_CONFIGURED,),
            idempotent=True,
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/webhook/deliveries",
            list_deliveries,
            "listWebhookDeliveries",
            "Deliveries to this lender, newest first, with their state and last outcome",
            responses={200: DeliveryList},
            params=_LIST_PARAMS,
            tags=tags,
            errors=(error_codes.VALIDATION_FAILED,),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/webhook/deliveries/{delivery_id}",
            get_delivery,
            "getWebhookDelivery",
            "One delivery with the JSON it posts",
            responses={200: DeliveryOut, 404: None},
            params=(_DELIVERY_ID,),
            tags=tags,
            errors=(error_codes.DELIVERY_NOT_FOUND,),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/webhook/deliveries/{delivery_id}/redeliver",
            redeliver,
            "redeliverWebhook",
            "Send a delivery again now (same id and body) to the current endpoint, with a fresh budget of tries",
            responses={202: DeliveryOut, 404: None},
            params=(_DELIVERY_ID,),
            tags=tags,
            errors=(error_codes.DELIVERY_NOT_FOUND,),
        )
    )
