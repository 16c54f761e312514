"""Credit bureau simulator: voluntary loan refusals (R-NB.6) and real-time application reports (R-NB.7).

Contract (JSON; errors ``{"error": {"code", "message"}}``; optional ``Authorization: Bearer``)::

    GET  /v1/refusals/{iin}
      -> 200 {"iin", "refusal": bool, "registered_at": ISO-8601 | null, "checked_at"}
      400 invalid_iin
    POST /v1/applications {"application_id": "[A-Za-z0-9_-]{1,64}", "iin", "lender_bin",
                           "amount": int tenge > 0, "currency": "KZT", "channel": "online" | "terminal",
                           "submitted_at": ISO-8601}
      -> 201 {"application_id", "status": "registered", "received_at", "refusal_on_file": bool,
              "client_notified": true}
      The same application_id with the same body answers 200 with the first answer (idempotent, so a
      lender may retry after a timeout); with another body 409 application_conflict.
      400 invalid_iin, invalid_bin, bad_amount, bad_currency, bad_channel, bad_application_id,
          bad_timestamp, missing_field
    GET  /v1/applications/{application_id} -> 200 the stored report (404 not_found)
    POST /admin/refusals {"iin", "refusal": bool}  register or withdraw a refusal (demo and tests)

A registered refusal does not stop the report: the bureau records the application and says
``refusal_on_file`` so the lender must decline (R-NB.6).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from simulators.common import JsonError, make_app, read_json, require_str
from simulators.population import Population, build_population, is_valid_iin
from simulators.roster import add_population_routes

_APPLICATION_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIELDS: Final = ("application_id", "iin", "lender_bin", "amount", "currency", "channel", "submitted_at")


class Bureau:
    def __init__(self, population: Population) -> None:
        self.refusals: dict[str, datetime | None] = {
            p.iin: p.refusal_registered_at for p in population.people if p.refusal_registered_at
        }
        self.applications: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}


BUREAU: Final = web.AppKey("bureau", Bureau)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _now() -> str:
    return _iso(datetime.now(UTC).replace(microsecond=0))


def _iin(value: str) -> str:
    if not is_valid_iin(value):
        raise JsonError(400, "invalid_iin", "not a valid IIN")
    return value


async def get_refusal(request: web.Request) -> web.Response:
    iin = _iin(request.match_info["iin"])
    registered = request.app[BUREAU].refusals.get(iin)
    return web.json_response(
        {
            "iin": iin,
            "refusal": registered is not None,
            "registered_at": _iso(registered) if registered else None,
            "checked_at": _now(),
        }
    )


def validate_application(body: dict[str, Any]) -> dict[str, Any]:
    app_id = require_str(body, "application_id")
    if not _APPLICATION_ID.fullmatch(app_id):
        raise JsonError(400, "bad_application_id", "'application_id' is 1-64 of A-Z a-z 0-9 _ -")
    _iin(require_str(body, "iin"))
    if not is_valid_iin(require_str(body, "lender_bin")):
        raise JsonError(400, "invalid_bin", "'lender_bin' is not a valid BIN")
    amount = body.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise JsonError(400, "bad_amount", "'amount' is a positive whole number of tenge")
    if body.get("currency") != "KZT":
        raise JsonError(400, "bad_currency", "'currency' must be KZT")
    if body.get("channel") not in ("online", "terminal"):
        raise JsonError(400, "bad_channel", "'channel' is online or terminal")
    try:
        datetime.fromisoformat(require_str(body, "submitted_at"))
    except ValueError as exc:
        raise JsonError(400, "bad_timestamp", "'submitted_at' is an ISO-8601 time") from exc
    return {name: body[name] for name in _FIELDS}


async def report_application(request: web.Request) -> web.Response:
    bureau = request.app[BUREAU]
    record = validate_application(await read_json(request))
    known = bureau.applications.get(record["application_id"])
    if known is not None:
        if known[0] != record:
            raise JsonError(409, "application_conflict", "this application_id was reported with other data")
        return web.json_response(known[1], status=200)
    answer = {
        "application_id": record["application_id"],
        "status": "registered",
        "received_at": _now(),
        "refusal_on_file": record["iin"] in bureau.refusals,
        "client_notified": True,
    }
    bureau.applications[record["application_id"]] = (record, answer)
    return web.json_response(answer, status=201)


async def get_application(request: web.Request) -> web.Response:
    known = request.app[BUREAU].applications.get(request.match_info["application_id"])
    if known is None:
        raise JsonError(404, "not_found", "no such application")
    return web.json_response(known[0] | known[1])


async def set_refusal(request: web.Request) -> web.Response:
    body = await read_json(request)
    iin = _iin(require_str(body, "iin"))
    if not isinstance(body.get("refusal"), bool):
        raise JsonError(400, "missing_field", "'refusal' must be true or false")
    refusals = request.app[BUREAU].refusals
    if body["refusal"]:
        refusals[iin] = datetime.now(UTC).replace(microsecond=0)
    else:
        refusals.pop(iin, None)
    return web.json_response({"iin": iin, "refusal": body["refusal"]})


def create_app(*, api_key: str | None = None, population: Population | None = None) -> web.Application:
    app = make_app(api_key)
    population = population or build_population()
    app[BUREAU] = Bureau(population)
    add_population_routes(app, population)
    app.router.add_get("/v1/refusals/{iin}", get_refusal)
    app.router.add_post("/v1/applications", report_application)
    app.router.add_get("/v1/applications/{application_id}", get_application)
    app.router.add_post("/admin/refusals", set_refusal)
    return app
