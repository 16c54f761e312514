"""Anti-fraud centre (AFC) simulator: the National Bank's incident exchange and national lists (R-NB.8).

Contract (JSON; errors ``{"error": {"code", "message"}}``; optional ``Authorization: Bearer``)::

    GET  /v1/lists/changes?since=CURSOR&limit=N     (since: omitted or "" = from the start; limit 1-500, 100)
      -> 200 {"changes": [{"seq", "op": "add" | "remove", "entry_id", "list": "grey" | "black",
                           "kind": "phone" | "iin" | "device_id" | "iban", "value", "reason",
                           "added_at", "expires_at" | null}],           (a "remove" carries entry_id only)
              "cursor": CURSOR (pass it as since next time), "more": bool}
      400 bad_cursor, bad_limit
    POST /v1/incidents {"incident_id": "[A-Za-z0-9_-]{1,64}", "reporter": {"lender_id", "lender_name"},
                        "kind": "fraud" | "unauthorised_access" | "alteration", "confirmed_by_police": bool,
                        "detected_at": ISO-8601, "client": {"iin", "phone"},
                        "loan": {"contract_id", "loan_ref"} | null, "description"}
      -> 201 {"incident_id", "afc_ref", "received_at"}
      The same incident_id with the same body answers 200 with the first answer (a lender may retry after a
      timeout); with another body 409 incident_conflict.
      400 missing_field, bad_incident_id, bad_kind, invalid_iin, bad_timestamp
    GET  /v1/incidents                  -> {"incidents": [stored report + answer, ...]}  (what lenders exported)
    GET  /v1/incidents/{incident_id}    -> the stored report (404 not_found)
    POST   /admin/lists {"list", "kind", "value", "reason", "expires_at"?} -> 201 {"entry_id", "seq"}
    DELETE /admin/lists/{entry_id}      -> 200 {"entry_id", "seq"}   (404 not_found)

Every party simulator's fault admin (``/admin/faults``, ``/admin/requests``) works here too. The feed
starts empty: a demo or a test lists what it needs through ``/admin/lists``.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from simulators.common import JsonError, make_app, read_json, require_str
from simulators.population import is_valid_iin

_INCIDENT_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KINDS: Final = ("fraud", "unauthorised_access", "alteration")
_LISTS: Final = ("grey", "black")
_VALUE_KINDS: Final = ("phone", "iin", "device_id", "iban")


class Centre:
    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.entries: dict[str, dict[str, Any]] = {}
        self.incidents: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._seq = itertools.count(1)
        self._entry_ids = itertools.count(1)
        self._refs = itertools.count(1)

    def record(self, change: dict[str, Any]) -> int:
        seq = next(self._seq)
        self.changes.append({"seq": seq, **change})
        return seq

    def next_entry_id(self) -> str:
        return f"afc-e{next(self._entry_ids):06d}"

    def next_ref(self) -> str:
        return f"AFC-{datetime.now(UTC):%Y}-{next(self._refs):06d}"


CENTRE: Final = web.AppKey("afc", Centre)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _timestamp(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise JsonError(400, "bad_timestamp", f"'{name}' is an ISO-8601 time")
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise JsonError(400, "bad_timestamp", f"'{name}' is an ISO-8601 time") from exc
    return value


async def list_changes(request: web.Request) -> web.Response:
    centre = request.app[CENTRE]
    since_raw = request.query.get("since", "")
    if since_raw and not (since_raw.startswith("c") and since_raw[1:].isdigit()):
        raise JsonError(400, "bad_cursor", "'since' is a cursor this feed gave out")
    since = int(since_raw[1:]) if since_raw else 0
    limit_raw = request.query.get("limit", "100")
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= 500:
        raise JsonError(400, "bad_limit", "'limit' is 1-500")
    later = [c for c in centre.changes if c["seq"] > since]
    page = later[: int(limit_raw)]
    cursor = f"c{page[-1]['seq']}" if page else (since_raw or "c0")
    return web.json_response({"changes": page, "cursor": cursor, "more": len(later) > len(page)})


def _validate_incident(body: dict[str, Any]) -> dict[str, Any]:
    incident_id = require_str(body, "incident_id")
    if not _INCIDENT_ID.fullmatch(incident_id):
        raise JsonError(400, "bad_incident_id", "'incident_id' is 1-64 of A-Z a-z 0-9 _ -")
    reporter = body.get("reporter")
    if not isinstance(reporter, dict):
        raise JsonError(400, "missing_field", "'reporter' must be an object")
    require_str(reporter, "lender_id")
    if body.get("kind") not in _KINDS:
        raise JsonError(400, "bad_kind", f"'kind' is one of {', '.join(_KINDS)}")
    if not isinstance(body.get("confirmed_by_police"), bool):
        raise JsonError(400, "missing_field", "'confirmed_by_police' must be true or false")
    _timestamp(body.get("detected_at"), "detected_at")
    client = body.get("client")
    if not isinstance(client, dict):
        raise JsonError(400, "missing_field", "'client' must be an object")
    if not is_valid_iin(require_str(client, "iin")):
        raise JsonError(400, "invalid_iin", "'client.iin' is not a valid IIN")
    loan = body.get("loan")
    if loan is not None and not isinstance(loan, dict):
        raise JsonError(400, "missing_field", "'loan' is an object or null")
    fields = ("incident_id", "reporter", "kind", "confirmed_by_police", "detected_at", "client", "loan", "description")
    return {name: body.get(name) for name in fields}


async def report_incident(request: web.Request) -> web.Response:
    centre = request.app[CENTRE]
    record = _validate_incident(await read_json(request))
    known = centre.incidents.get(record["incident_id"])
    if known is not None:
        if known[0] != record:
            raise JsonError(409, "incident_conflict", "this incident_id was reported with other data")
        return web.json_response(known[1], status=200)
    answer = {"incident_id": record["incident_id"], "afc_ref": centre.next_ref(), "received_at": _now()}
    centre.incidents[record["incident_id"]] = (record, answer)
    return web.json_response(answer, status=201)


async def all_incidents(request: web.Request) -> web.Response:
    return web.json_response({"incidents": [r | a for r, a in request.app[CENTRE].incidents.values()]})


async def one_incident(request: web.Request) -> web.Response:
    known = request.app[CENTRE].incidents.get(request.match_info["incident_id"])
    if known is None:
        raise JsonError(404, "not_found", "no such incident")
    return web.json_response(known[0] | known[1])


async def add_entry(request: web.Request) -> web.Response:
    centre = request.app[CENTRE]
    body = await read_json(request)
    if body.get("list") not in _LISTS:
        raise JsonError(400, "bad_list", "'list' is grey or black")
    if body.get("kind") not in _VALUE_KINDS:
        raise JsonError(400, "bad_kind", f"'kind' is one of {', '.join(_VALUE_KINDS)}")
    value = require_str(body, "value")
    expires = body.get("expires_at")
    if expires is not None:
        _timestamp(expires, "expires_at")
    entry = {
        "entry_id": centre.next_entry_id(),
        "list": body["list"],
        "kind": body["kind"],
        "value": value,
        "reason": str(body.get("reason") or "Anti-fraud centre"),
        "added_at": _now(),
        "expires_at": expires,
    }
    centre.entries[entry["entry_id"]] = entry
    seq = centre.record({"op": "add", **entry})
    return web.json_response({"entry_id": entry["entry_id"], "seq": seq}, status=201)


async def remove_entry(request: web.Request) -> web.Response:
    centre = request.app[CENTRE]
    entry_id = request.match_info["entry_id"]
    if centre.entries.pop(entry_id, None) is None:
        raise JsonError(404, "not_found", "no such entry")
    seq = centre.record({"op": "remove", "entry_id": entry_id})
    return web.json_response({"entry_id": entry_id, "seq": seq})


def create_app(*, api_key: str | None = None) -> web.Application:
    app = make_app(api_key)
    app[CENTRE] = Centre()
    app.router.add_get("/v1/lists/changes", list_changes)
    app.router.add_post("/v1/incidents", report_incident)
    app.router.add_get("/v1/incidents", all_incidents)
    app.router.add_get("/v1/incidents/{incident_id}", one_incident)
    app.router.add_post("/admin/lists", add_entry)
    app.router.add_delete("/admin/lists/{entry_id}", remove_entry)
    return app
