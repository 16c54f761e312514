"""What the step endpoints share: the path parameter, the end user's address for the abuse limits, the
app's device signals (the `Device-Signals` header), and the answer a step gives."""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import Param
from authsvc.api.state import DB
from authsvc.errors import NotFound, ValidationFailed
from authsvc.flows.session import StepOutcome
from authsvc.flows.signals import DeviceSignals, Geolocation
from authsvc.store import clients as client_store

SIGNALS_HEADER = "Device-Signals"
# What a profile's device policy refuses in a step the schema accepts (signals missing, or a rooted device).
SIGNAL_POLICY = (error_codes.DEVICE_SIGNALS_REQUIRED, error_codes.DEVICE_REFUSED)
# A code of the right shape can be the wrong code, or have the wrong length for the client's factor.
CODE_REFUSALS = (error_codes.OTP_REJECTED, error_codes.OTP_MALFORMED)
# The end user's address as the lender saw it (client_ip() reads it); IPv4 or IPv6.
IpField = Annotated[
    Annotated[str, WithJsonSchema({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]})] | None,
    Field(None, max_length=45, description="the end user's IP address", examples=["203.0.113.7"]),
]
# A one-time code as people type it: 6 to 8 digits, spaces and dashes ignored (its factor fixes the length).
# The pattern is the document's: anything else is the handler's to refuse, as otp_malformed.
OtpCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=20,
        examples=["123456"],
        json_schema_extra={"pattern": r"^[ -]*(?:[0-9][ -]*){6,8}$", "minLength": 6},
    ),
]


class GeolocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    accuracy_m: Annotated[float | None, Field(None, ge=0, le=100_000)] = None


class DeviceSignalsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: Annotated[str | None, Field(None, min_length=1, max_length=128, examples=["a1f3c9e07b2d4e58"])] = None
    rooted: bool = False
    jailbroken: bool = False
    remote_control: bool = False
    emulator: bool = False
    app_signature_valid: bool | None = Field(None, examples=[True])
    geolocation: GeolocationIn | None = Field(None, examples=[{"latitude": 43.2389, "longitude": 76.8897}])
    session_id: Annotated[str | None, Field(None, min_length=1, max_length=128)] = None


DEVICE_SIGNALS = Param(
    SIGNALS_HEADER,
    "header",
    "the app's device and session signals as one JSON object (R-NB.5); absent: the step came from no app",
    required=False,
    model=DeviceSignalsIn,
)


class StepResult(BaseModel):
    identification_id: str
    step_id: str
    method: str
    outcome: str
    details: dict[str, Any]
    identification_status: str = Field(description="pending, completed, failed or expired after this step")
    next_methods: list[str] = Field(description="step methods that would still make progress")


def device_signals(request: web.Request) -> DeviceSignals | None:
    """The `Device-Signals` header, validated; None when absent."""
    raw = request.headers.get(SIGNALS_HEADER)
    if raw is None:
        return None
    try:
        parsed = DeviceSignalsIn.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise ValidationFailed(
            f"{SIGNALS_HEADER} must be one JSON object with the documented fields", code=error_codes.BAD_DEVICE_SIGNALS
        ) from exc
    geo = parsed.geolocation
    return DeviceSignals(
        device_id=parsed.device_id,
        rooted=parsed.rooted,
        jailbroken=parsed.jailbroken,
        remote_control=parsed.remote_control,
        emulator=parsed.emulator,
        app_signature_valid=parsed.app_signature_valid,
        geolocation=None if geo is None else Geolocation(geo.latitude, geo.longitude, geo.accuracy_m),
        session_id=parsed.session_id,
    )


async def read_optional(request: web.Request, model: type[Any]) -> Any:
    """A JSON body validated by ``model``; an empty body is the model's defaults."""
    if not request.body_exists:
        return model()
    return parse(model, await read_body(request))


def client_ip(given: str | None, request: web.Request) -> str:
    """The end user's address as the lender saw it (``client_ip``), else the caller's own."""
    if given is None:
        return request.remote or "-"
    try:
        return str(ipaddress.ip_address(given))
    except ValueError as exc:
        raise ValidationFailed("client_ip is not an IP address", code=error_codes.BAD_CLIENT_IP) from exc


def step_result(outcome: StepOutcome) -> StepResult:
    step, view = outcome.step, outcome.view
    return StepResult(
        identification_id=view.ident.id,
        step_id=step.id,
        method=step.method,
        outcome=step.outcome,
        details=step.details,
        identification_status=view.ident.status.value,
        next_methods=list(view.judgement.next_methods) if view.ident.status.value == "pending" else [],
    )


def json_answer(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


async def known_client(request: web.Request) -> str:
    """The path's ``client_id``, once the current lender is known to hold that client (else 404)."""
    client_id = request.match_info["client_id"][:64]
    async with request.app[DB].autocommit() as tx:
        if await client_store.get(tx, current_lender(request).id, client_id) is None:
            raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
    return client_id
