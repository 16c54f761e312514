"""/v1/lists: the lender's own grey and black list entries, and looking an identifier up (R-NB.8).

``POST /v1/lists/entries`` lists a phone, IIN, device id or IBAN; ``DELETE /v1/lists/entries/{id}`` removes
one of the lender's own entries (an incident's go when it closes, the AFC's with its feed); ``GET
/v1/lists/entries`` and ``GET /v1/lists/entries/{id}`` read them. ``POST /v1/lists/lookup`` answers which
entries (national and the lender's) list one value: the value travels in the body, never in a URL, so it
stays out of access logs. Values are not stored, only a keyed hash, so no answer can show them back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.api.body import parse, read_body
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import Operation, Operations, Param
from authsvc.api.state import DB, KEYS
from authsvc.errors import ValidationFailed
from authsvc.lists import identifiers, service

KindIn = identifiers.Kind


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=identifiers.value_schema())
    list: Literal["grey", "black"]
    kind: KindIn
    value: Annotated[str, Field(min_length=1, max_length=200, examples=["+77012345678"])]
    reason: Annotated[str, Field(min_length=1, max_length=200, description="why; no personal data")]
    expires_at: datetime | None = None


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=identifiers.value_schema())
    kind: KindIn
    value: Annotated[str, Field(min_length=1, max_length=200, examples=["+77012345678"])]


class EntryOut(BaseModel):
    id: str
    list: Literal["grey", "black"]
    kind: str
    source: Literal["incident", "afc", "lender"]
    source_ref: str | None = Field(description="the incident id, or the Anti-fraud centre's entry id")
    reason: str
    scope: Literal["national", "lender"]
    added_at: datetime
    expires_at: datetime | None


class EntriesOut(BaseModel):
    entries: list[EntryOut]


class LookupOut(EntriesOut):
    listed: bool
    black: bool


def _out(entry: service.Entry) -> EntryOut:
    return EntryOut(
        id=entry.id,
        list=entry.list,
        kind=entry.kind,
        source=entry.source,
        source_ref=entry.source_ref,
        reason=entry.reason,
        scope=entry.scope,
        added_at=entry.added_at,
        expires_at=entry.expires_at,
    )


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


async def add_entry(request: web.Request) -> web.Response:
    body: EntryIn = parse(EntryIn, await read_body(request))
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        raise ValidationFailed("expires_at needs a time zone (Z or +05:00)", code=error_codes.LIST_BAD_EXPIRY)
    async with request.app[DB].transaction() as tx:
        entry = await service.add(
            tx,
            request.app[KEYS],
            current_lender(request).id,
            list_name=body.list,
            kind=body.kind,
            value=body.value,
            reason=body.reason,
            expires_at=body.expires_at,
        )
    return _json(_out(entry), 201)


async def lookup(request: web.Request) -> web.Response:
    body: LookupIn = parse(LookupIn, await read_body(request))
    async with request.app[DB].autocommit() as tx:
        found = await service.lookup(tx, request.app[KEYS], current_lender(request).id, body.kind, body.value)
    return _json(
        LookupOut(entries=[_out(e) for e in found], listed=bool(found), black=any(e.list == "black" for e in found))
    )


async def list_entries(request: web.Request) -> web.Response:
    wanted = request.query.get("list")
    if wanted is not None and wanted not in service.LISTS:
        raise ValidationFailed("list is grey or black", code=error_codes.VALIDATION_FAILED)
    async with request.app[DB].autocommit() as tx:
        found = await service.entries(tx, current_lender(request).id, list_name=wanted)
    return _json(EntriesOut(entries=[_out(e) for e in found]))


async def get_entry(request: web.Request) -> web.Response:
    async with request.app[DB].autocommit() as tx:
        entry = await service.entry(tx, current_lender(request).id, request.match_info["entry_id"])
    return _json(_out(entry))


async def remove_entry(request: web.Request) -> web.Response:
    async with request.app[DB].transaction() as tx:
        await service.remove(tx, request.app[KEYS], current_lender(request).id, request.match_info["entry_id"])
    return web.Response(status=204)


_ID = (Param("entry_id", "path", "list entry id"),)
_IDENTIFIER_CODES = (
    error_codes.LIST_BAD_IDENTIFIER,
    error_codes.INVALID_IIN,
    error_codes.INVALID_FORMAT,
    error_codes.BAD_CHECKSUM,
    error_codes.INVALID_PHONE,
    error_codes.NOT_MOBILE,
)


def register(ops: Operations) -> None:
    ops.add(
        Operation(
            "POST",
            "/v1/lists/entries",
            add_entry,
            "addListEntry",
            "Put a phone, IIN, device id or IBAN on the lender's grey or black list",
            body=EntryIn,
            responses={201: EntryOut, 409: None},
            tags=("lists",),
            errors=(*_IDENTIFIER_CODES, error_codes.LIST_ENTRY_EXISTS, error_codes.LIST_BAD_EXPIRY),
            beyond_schema=(error_codes.BAD_CHECKSUM, error_codes.LIST_BAD_EXPIRY),  # an IBAN's check digits
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/lists/lookup",
            lookup,
            "lookupListEntries",
            "Which grey/black list entries (national and the lender's) list this value",
            body=LookupIn,
            responses={200: LookupOut},
            tags=("lists",),
            errors=_IDENTIFIER_CODES,
            beyond_schema=(error_codes.BAD_CHECKSUM,),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/lists/entries",
            list_entries,
            "listListEntries",
            "The lender's own entries (its own and its open incidents'), newest first (at most 100)",
            responses={200: EntriesOut},
            params=(
                Param(
                    "list",
                    "query",
                    "only this list (default both)",
                    required=False,
                    schema={"type": "string", "enum": list(service.LISTS)},
                ),
            ),
            tags=("lists",),
            errors=(error_codes.VALIDATION_FAILED,),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/v1/lists/entries/{entry_id}",
            get_entry,
            "getListEntry",
            "One list entry (the lender's, or a national one)",
            responses={200: EntryOut, 404: None},
            params=_ID,
            tags=("lists",),
            errors=(error_codes.LIST_ENTRY_NOT_FOUND,),
        )
    )
    ops.add(
        Operation(
            "DELETE",
            "/v1/lists/entries/{entry_id}",
            remove_entry,
            "removeListEntry",
            "Remove one of the lender's own entries",
            responses={204: None, 404: None, 409: None},
            params=_ID,
            tags=("lists",),
            errors=(error_codes.LIST_ENTRY_NOT_FOUND, error_codes.LIST_ENTRY_NOT_MANAGED),
        )
    )
