"""Bank account / card ownership check simulator (R-NB.2: before paying out, confirm that the account
or card belongs to the client; R-6.6 when the client changes them).

Contract (JSON; errors ``{"error": {"code", "message"}}``; optional ``Authorization: Bearer``)::

    POST /v1/accounts/verify {"iin": "...", and exactly one of
                              "iban": "KZ.." | "card_token": "tok_..." | "card_number": "4405..."}
      -> 200 {"owner_match": bool,          the instrument belongs to the person with this IIN
              "instrument_found": bool,      the bank knows the instrument at all
              "status": "active" | "closed" | "blocked" | null,   only when owner_match
              "kind": "account" | "card"}
      400 invalid_iin, invalid_iban (mod-97), invalid_card_number (Luhn), one_instrument, missing_field

A payout needs owner_match AND status "active"; the status is withheld from anyone but the owner.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from simulators.common import JsonError, make_app, read_json, require_str
from simulators.population import (
    Account,
    Card,
    Person,
    Population,
    build_population,
    is_valid_card_number,
    is_valid_iban,
    is_valid_iin,
)
from simulators.roster import add_population_routes

POPULATION: Final = web.AppKey("population", Population)
_INSTRUMENTS: Final = ("iban", "card_token", "card_number")


async def verify(request: web.Request) -> web.Response:
    population = request.app[POPULATION]
    body = await read_json(request)
    iin = require_str(body, "iin")
    if not is_valid_iin(iin):
        raise JsonError(400, "invalid_iin", "'iin' is not a valid IIN")
    given = [name for name in _INSTRUMENTS if name in body]
    if len(given) != 1:
        raise JsonError(400, "one_instrument", "send exactly one of iban, card_token, card_number")
    value = require_str(body, given[0])
    found: tuple[Person, Account | Card] | None
    if given[0] == "iban":
        if not is_valid_iban(value):
            raise JsonError(400, "invalid_iban", "'iban' fails the IBAN check (KZ, 20 characters, mod-97)")
        found, kind = population.owner_of_iban(value), "account"
    elif given[0] == "card_number":
        if not is_valid_card_number(value):
            raise JsonError(400, "invalid_card_number", "'card_number' fails the Luhn check")
        found, kind = population.owner_of_card(pan=value), "card"
    else:
        found, kind = population.owner_of_card(token=value), "card"
    match = found is not None and found[0].iin == iin
    return web.json_response(
        {
            "owner_match": match,
            "instrument_found": found is not None,
            "status": found[1].status if found is not None and match else None,
            "kind": kind,
        }
    )


def create_app(*, api_key: str | None = None, population: Population | None = None) -> web.Application:
    app = make_app(api_key)
    app[POPULATION] = population or build_population()
    app.router.add_post("/v1/accounts/verify", verify)
    add_population_routes(app, app[POPULATION])
    return app
