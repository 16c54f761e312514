"""The audit log's signed heads, for lenders to keep outside the service (R-12.1, issue 11 §2).

GET /v1/audit/heads?since=N&limit=M   the heads the chainer made after N, oldest first, each signed with
                                       Ed25519 over ``"authsvc-audit-head\\0" ‖ seq (8 bytes, big-endian) ‖
                                       entry_hash ‖ at (UTF-8)``; the public keys are in the answer.

A lender that fetches them regularly and keeps them can hand them to an auditor: `authsvc audit verify
--heads FILE` checks the database's chain against them, so the log cannot be cut back below a head the
lender holds. A head holds a count and a hash, no personal data and nothing of any lender.

The heads come from this host's head log (`[audit] head_log`, written by the chainer of the jobs process on
this host), followed by the database's own signed head when it is newer: so a host that only serves (its
head log empty, or another host's chainer made the latest rounds) still answers the newest head.
"""

from __future__ import annotations

import asyncio
import base64

from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, Field

from authsvc import error_codes
from authsvc.api.routing import Operation, Operations, Param
from authsvc.api.state import DB, HEAD_LOG, KEYS
from authsvc.audit import records as audit
from authsvc.audit.witness import as_json
from authsvc.errors import ValidationFailed

MAX_LIMIT = 1000


class SignedHead(BaseModel):
    seq: int = Field(description="index of the last chained entry")
    entry_hash: str = Field(description="SHA-256 chain hash of that entry, hex")
    at: str = Field(description="time of that entry (ISO 8601)")
    key_id: str = Field(description="the audit key that signed the head")
    signature: str = Field(description="Ed25519 signature over the head message, hex")


class HeadsOut(BaseModel):
    heads: list[SignedHead]
    public_keys: dict[str, str] = Field(description="raw Ed25519 public keys by key id, base64")
    next_since: int = Field(description="pass as ?since= to fetch the heads after these")


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise ValidationFailed(
            f"'{name}' must be a whole number from {low} to {high}", code=error_codes.VALIDATION_FAILED
        )
    return int(raw)


async def heads(request: web.Request) -> web.Response:
    since = _int_param(request, "since", 0, 0, 2**63 - 1)
    limit = _int_param(request, "limit", MAX_LIMIT, 1, MAX_LIMIT)
    found = await asyncio.to_thread(request.app[HEAD_LOG].heads_after, since, limit)
    if len(found) < limit:
        # The database's head, shared by every host: the newest head even where this host's log has none
        # (a host that serves without the jobs, or whose chainer did not make the latest rounds).
        async with request.app[DB].autocommit() as tx:
            newest = await audit.current_head(tx)
        if newest is not None and newest.seq > (found[-1].seq if found else since):
            found.append(newest)
    keys = request.app[KEYS]
    public = {}
    for key_id in {h.key_id for h in found} | {keys.audit_key_id}:
        try:
            raw = (await keys.aaudit_public_key(key_id)).public_bytes(Encoding.Raw, PublicFormat.Raw)
        except KeyError:
            continue  # a head signed by a key this service no longer holds: the lender kept its key before
        public[key_id] = base64.b64encode(raw).decode()
    body = HeadsOut(
        heads=[SignedHead(**as_json(h)) for h in found],
        public_keys=public,
        next_since=found[-1].seq if found else since,
    )
    return web.json_response(text=body.model_dump_json())


def register(ops: Operations) -> None:
    ops.add(
        Operation(
            "GET",
            "/v1/audit/heads",
            heads,
            "auditHeads",
            "The audit log's signed heads after a sequence number, to keep outside the service",
            responses={200: HeadsOut},
            params=(
                Param(
                    "since",
                    "query",
                    "answer the heads after this sequence number (default 0)",
                    required=False,
                    schema={"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                ),
                Param(
                    "limit",
                    "query",
                    f"at most this many heads (default and most {MAX_LIMIT})",
                    required=False,
                    schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                ),
            ),
            tags=("audit",),
            errors=(error_codes.VALIDATION_FAILED,),
        )
    )
