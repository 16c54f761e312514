"""Verification calls to the client's number (R-NB.4), on the SMS gateway simulator.

Contract::

    POST /calls {"to": "+7...", "mode": "speak_code" | "collect_digits",
                 "code": "4821" (speak_code: the digits the robot reads out),
                 "digits": 4 (collect_digits: how many digits to collect, 1..12),
                 "prompt": "..." (optional text read first), "client_ref": "..." (optional, idempotent)}
                -> 201 {"call_id", "status": "ringing"}   (unreachable phone: "status": "unreachable")
    GET  /calls/{call_id} -> {"call_id", "to", "mode", "status", "digits", "placed_at", "ended_at"}
    GET  /calls?to=+7...&client_ref=...
                          -> {"calls": [... with "code", "prompt" and "client_ref"]}: the call inbox (tests
                             and the demo; both filters optional). The service's outbox id is the client_ref.

Statuses: ringing → completed | no_answer | rejected; unreachable when the handset is off.
``speak_code`` completes when the callee answers (they heard the code and type it in the app).
``collect_digits`` completes with the DTMF digits the callee pressed (``digits``), e.g. the code the
lender's screen shows, or "1" to confirm a loan application (R-23.2).

The callee is simulated through the admin API::

    POST /admin/calls/{call_id}/answer {"digits": "4821"} | {"outcome": "no_answer" | "rejected" | "answered"}
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from aiohttp import web

from simulators.common import JsonError, read_json, require_str
from simulators.population import Population, normalize_phone

CallStatus = Literal["ringing", "completed", "no_answer", "rejected", "unreachable"]


@dataclass
class Call:
    call_id: str
    to: str
    mode: Literal["speak_code", "collect_digits"]
    placed_at: str
    code: str | None = None
    expected_digits: int | None = None
    prompt: str | None = None
    status: CallStatus = "ringing"
    digits: str | None = None
    ended_at: str | None = None
    client_ref: str | None = None

    def public(self, *, with_script: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data.pop("expected_digits")
        if not with_script:
            data.pop("code")
            data.pop("prompt")
            data.pop("client_ref")
        return data


@dataclass
class Switchboard:
    name: str
    population: Population
    calls: dict[str, Call] = field(default_factory=dict)
    by_ref: dict[str, Call] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


SWITCHBOARD: Final = web.AppKey("switchboard", Switchboard)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _digits(value: Any, name: str, *, lo: int, hi: int) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or not lo <= len(value) <= hi:
        raise JsonError(400, "bad_digits", f"'{name}' must be {lo} to {hi} digits")
    return value


async def place_call(request: web.Request) -> web.Response:
    board = request.app[SWITCHBOARD]
    body = await read_json(request)
    to = normalize_phone(require_str(body, "to"))
    if to is None:
        raise JsonError(400, "invalid_number", "'to' is not a Kazakh mobile number")
    mode = body.get("mode")
    if mode not in ("speak_code", "collect_digits"):
        raise JsonError(400, "bad_mode", "'mode' is speak_code or collect_digits")
    prompt = body.get("prompt")
    if prompt is not None and (not isinstance(prompt, str) or len(prompt) > 500):
        raise JsonError(400, "bad_prompt", "'prompt' is a string of at most 500 characters")
    ref = body.get("client_ref")
    if isinstance(ref, str) and ref in board.by_ref:
        return web.json_response(board.by_ref[ref].public(), status=200)
    call = Call(call_id=f"{board.name}-call-{next(board.ids):05d}", to=to, mode=mode, placed_at=_now())
    call.prompt = prompt
    call.client_ref = ref if isinstance(ref, str) else None
    if mode == "speak_code":
        call.code = _digits(body.get("code"), "code", lo=4, hi=10)
    else:
        wanted = body.get("digits")
        if not isinstance(wanted, int) or isinstance(wanted, bool) or not 1 <= wanted <= 12:
            raise JsonError(400, "bad_digits", "'digits' is the number of digits to collect, 1 to 12")
        call.expected_digits = wanted
    person = board.population.by_phone.get(to)
    if person is not None and not person.phone.deliverable:
        call.status, call.ended_at = "unreachable", call.placed_at
    board.calls[call.call_id] = call
    if isinstance(ref, str):
        board.by_ref[ref] = call
    return web.json_response(call.public(), status=201)


def _find(request: web.Request) -> Call:
    call = request.app[SWITCHBOARD].calls.get(request.match_info["call_id"])
    if call is None:
        raise JsonError(404, "not_found", "no such call")
    return call


async def get_call(request: web.Request) -> web.Response:
    return web.json_response(_find(request).public())


async def list_calls(request: web.Request) -> web.Response:
    to = request.query.get("to")
    wanted = normalize_phone(to) if to else None
    ref = request.query.get("client_ref")
    calls = [
        c.public(with_script=True)
        for c in request.app[SWITCHBOARD].calls.values()
        if (wanted is None or c.to == wanted) and (ref is None or c.client_ref == ref)
    ]
    return web.json_response({"calls": calls})


async def answer(request: web.Request) -> web.Response:
    """The simulated callee: picks up (and presses digits), lets it ring out, or rejects it."""
    call = _find(request)
    if call.status != "ringing":
        raise JsonError(409, "call_ended", f"the call is already {call.status}")
    body = await read_json(request)
    outcome = body.get("outcome", "answered")
    if outcome in ("no_answer", "rejected"):
        call.status = outcome
    elif outcome == "answered":
        if call.mode == "collect_digits":
            # The callee may press more or fewer digits than asked; the service judges them.
            call.digits = _digits(body.get("digits"), "digits", lo=1, hi=20)
        call.status = "completed"
    else:
        raise JsonError(400, "bad_outcome", "'outcome' is answered, no_answer or rejected")
    call.ended_at = _now()
    return web.json_response(call.public())


def add_routes(app: web.Application, *, name: str, population: Population) -> None:
    app[SWITCHBOARD] = Switchboard(name=name, population=population)
    app.router.add_post("/calls", place_call)
    app.router.add_get("/calls", list_calls)
    app.router.add_get("/calls/{call_id}", get_call)
    app.router.add_post("/admin/calls/{call_id}/answer", answer)
