"""Mobile-operator subscriber check simulator (R-108.1, R-NB.4), as the e-government "mobile
citizens" base would answer for Beeline, Kcell, Tele2 and Altel numbers.

Contract (JSON; errors ``{"error": {"code", "message"}}``; optional ``Authorization: Bearer``)::

    POST /v1/subscriber/check {"iin": "900101300126", "phone": "+77771234567"}
      -> 200 {"match": bool,                      the number is held by the person with this IIN
              "registered_to_individual": bool,   registered to that individual (not to a company)
              "operator": "Beeline" | "Kcell" | "Tele2" | "Altel" | null,
              "sim_issued_at": ISO-8601 | null,   when the current SIM card was issued (SIM swap)
              "owner_since": ISO-8601 | null,     when the number passed to its current holder
              "checked_at": ISO-8601}
      400 invalid_iin (bad check digit), invalid_number (not a Kazakh mobile), missing_field

Nothing about a number is disclosed unless it matches the IIN asked about: a mismatch or an unknown
number answers match=false with null dates (the operator follows from the prefix anyway).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from simulators.common import JsonError, make_app, read_json, require_str
from simulators.population import Population, build_population, is_valid_iin, normalize_phone, operator_of
from simulators.roster import add_population_routes

POPULATION: Final = web.AppKey("population", Population)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def check(request: web.Request) -> web.Response:
    body = await read_json(request)
    iin = require_str(body, "iin")
    if not is_valid_iin(iin):
        raise JsonError(400, "invalid_iin", "'iin' is not a valid IIN")
    phone = normalize_phone(require_str(body, "phone"))
    if phone is None:
        raise JsonError(400, "invalid_number", "'phone' is not a Kazakh mobile number")
    holder = request.app[POPULATION].by_phone.get(phone)
    answer: dict[str, object] = {
        "match": False,
        "registered_to_individual": False,
        "operator": operator_of(phone),
        "sim_issued_at": None,
        "owner_since": None,
        "checked_at": _iso(datetime.now(UTC).replace(microsecond=0)),
    }
    if holder is not None and holder.iin == iin:
        line = holder.phone
        answer |= {
            "match": True,
            "registered_to_individual": line.owner_bin is None,
            "sim_issued_at": _iso(line.sim_issued_at),
            "owner_since": _iso(line.owner_since),
        }
    return web.json_response(answer)


def create_app(*, api_key: str | None = None, population: Population | None = None) -> web.Application:
    app = make_app(api_key)
    app[POPULATION] = population or build_population()
    app.router.add_post("/v1/subscriber/check", check)
    add_population_routes(app, app[POPULATION])
    return app
