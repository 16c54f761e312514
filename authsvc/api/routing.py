"""Operations: one declaration per endpoint gives the route, the request model, the error codes it answers
and the OpenAPI entry, so the document always matches what the handlers accept and answer.

Each problem answer of an operation lists its codes (``x-error-codes``, and the ``code`` member narrowed to
them); ``components`` describe every code of the catalogue (status, title, fix)."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from authsvc import error_codes
from authsvc.api.document import DESCRIPTION, example_name, name_enums, problem_examples, tag_descriptions
from authsvc.api.examples import Examples
from authsvc.api.problem import Problem, type_uri
from authsvc.error_codes import CATALOGUE, Code

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Param:
    name: str
    location: str  # "path" | "header" | "query"
    description: str
    required: bool = True
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    model: Any = None  # a JSON-valued parameter (e.g. a header holding one JSON object): its pydantic model


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    description: str = ""  # what an integrator needs beyond the summary (Markdown)
    body: Any = None  # a pydantic model or an Annotated union
    responses: dict[int, Any] = field(default_factory=dict)  # status -> model (None: no body)
    params: tuple[Param, ...] = ()
    auth: bool = True
    tags: tuple[str, ...] = ()
    raw_responses: dict[int, dict[str, Any]] = field(default_factory=dict)  # non-JSON bodies
    request_content: dict[str, Any] | None = None  # a non-JSON request body (e.g. multipart), as OpenAPI content
    errors: tuple[Code, ...] = ()  # the codes it answers besides the common ones (codes_of adds those)
    # Honours Idempotency-Key: a retry with the key gets the first answer (authsvc.api.idempotency).
    idempotent: bool = False
    # The 400/422 codes a request the schema accepts can still get: what no JSON Schema can say (a CMS that
    # parses, a check digit, a date still in the future). Documented as x-refused-beyond-schema; the fuzz
    # test accepts exactly these for schema-valid requests.
    beyond_schema: tuple[Code, ...] = ()


# Problem answers every /v1 operation can give, besides its own.
COMMON_PROBLEMS = {400, 401, 413, 415, 422, 429}

# Codes every authenticated operation can answer (the middlewares' and the store's), every operation with a
# path parameter, and every operation with a JSON body (body.py's; pydantic's types when all fields agree).
AUTHENTICATED_CODES = (
    error_codes.HTTP_ERROR,
    error_codes.UNAUTHORIZED,
    error_codes.RATE_LIMITED,
    error_codes.INTERNAL_ERROR,
    error_codes.DATABASE_UNAVAILABLE,
    error_codes.INVALID_CHARACTERS,
)
PATH_CODES = (error_codes.NOT_FOUND,)
BODY_CODES = (
    error_codes.MALFORMED_JSON,
    error_codes.WRONG_CONTENT_TYPE,
    error_codes.BODY_TOO_LARGE,
    error_codes.VALIDATION_FAILED,
    error_codes.UNKNOWN_FIELD,
    error_codes.MISSING_FIELD,
    *error_codes.FIELD_CODES,
)
# The path parameters many operations share, declared once.
CLIENT_ID = Param("client_id", "path", "client id", schema={"type": "string", "maxLength": 64})
IDENT_ID = Param("identification_id", "path", "identification id", schema={"type": "string", "maxLength": 64})

# What an idempotent operation adds: its header and the codes of the guard.
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_PARAM = Param(
    IDEMPOTENCY_HEADER,
    "header",
    "makes a retry safe: the same key with the same request answers the first (successful) answer again, "
    "marked Idempotent-Replayed: true; kept for security.idempotency_ttl_s",
    required=False,
    schema={
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "pattern": "^[\\x21-\\x7e]+$",
        "examples": ["register-7f3a9c1e"],
    },
)
IDEMPOTENT_CODES = (
    error_codes.BAD_IDEMPOTENCY_KEY,
    error_codes.IDEMPOTENCY_IN_PROGRESS,
    error_codes.IDEMPOTENCY_KEY_REUSED,
)
# The code a status answers when an operation declares none of its own for it.
_GENERIC = {
    400: error_codes.BAD_REQUEST,
    404: error_codes.NOT_FOUND,
    409: error_codes.CONFLICT,
    413: error_codes.BODY_TOO_LARGE,
    415: error_codes.UNSUPPORTED_MEDIA_TYPE,
    422: error_codes.VALIDATION_FAILED,
    429: error_codes.RATE_LIMITED,
    500: error_codes.INTERNAL_ERROR,
    502: error_codes.UPSTREAM_REJECTED,
    503: error_codes.UPSTREAM_UNAVAILABLE,
}


def codes_of(op: Operation) -> list[Code]:
    """Every code ``op`` can answer: its own and the common ones that apply to it."""
    codes = set(op.errors) | set(op.beyond_schema)
    if op.auth:
        codes.update(AUTHENTICATED_CODES)
    if any(p.location == "path" for p in op.params):
        codes.update(PATH_CODES)
    if op.body is not None:
        codes.update(BODY_CODES)
    if op.idempotent:
        codes.update(IDEMPOTENT_CODES)
    return sorted(codes, key=lambda c: (c.status, str(c)))


def catalogue_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """The catalogue as components: ``ErrorCode`` (one const per code, with title and fix) and a table."""
    entries = sorted(CATALOGUE.values(), key=lambda c: (c.status, str(c)))
    return {
        "ErrorCode": {
            "title": "ErrorCode",
            "description": "The stable machine codes of problem answers; each answers one HTTP status.",
            "oneOf": [
                {"const": str(c), "title": c.heading, "description": c.fix, "x-status": c.status} for c in entries
            ],
        }
    }, {str(c): {"status": c.status, "title": c.heading, "hint": c.fix, "type": type_uri(c)} for c in entries}


class Operations:
    def __init__(self) -> None:
        self.operations: list[Operation] = []
        self._by_id: dict[str, Operation] = {}

    def add(self, op: Operation) -> None:
        self.operations.append(op)
        self._by_id[op.operation_id] = op

    def get(self, operation_id: str | None) -> Operation | None:
        """The operation a matched route belongs to (routes are named by operation id)."""
        return self._by_id.get(operation_id) if operation_id is not None else None

    def install(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, op.path, op.handler, name=op.operation_id)

    def openapi(self, *, title: str, version: str) -> dict[str, Any]:
        components: dict[str, Any] = {}

        def ref(model: Any, mode: str) -> dict[str, Any]:
            schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
            named = dict(schema.pop("$defs", {}))
            if isinstance(model, type) and issubclass(model, BaseModel):
                named[model.__name__] = schema
                schema = {"$ref": f"#/components/schemas/{model.__name__}"}
            for name, sub in named.items():
                if components.setdefault(name, sub) != sub:  # two models of one name: one would be lost
                    raise ValueError(f"two different schemas are named {name}: rename one of the models")
            return schema

        problem_ref = ref(Problem, "serialization")
        code_schemas, code_table = catalogue_schemas()
        examples = Examples(components)
        paths: dict[str, Any] = {}
        tags: dict[str, str] = {}  # tag -> the module of its first handler (its docstring describes it)
        for op in self.operations:
            for tag in op.tags:
                tags.setdefault(tag, op.handler.__module__)
            entry: dict[str, Any] = {
                "operationId": op.operation_id,
                "summary": op.summary,
                "description": describe(op),
                "tags": list(op.tags),
            }
            params = [
                _parameter(p, ref, examples) for p in (*op.params, *((IDEMPOTENCY_PARAM,) if op.idempotent else ()))
            ]
            if params:
                entry["parameters"] = params
            if op.request_content is not None:
                content = copy.deepcopy(op.request_content)
                for media in content.values():
                    media.setdefault("example", examples.of(media.get("schema", {})))
                entry["requestBody"] = {"required": True, "content": content}
            elif op.body is not None:
                schema = ref(op.body, "validation")
                entry["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": schema, "example": examples.of(schema)}},
                }
            if op.beyond_schema:
                entry["x-refused-beyond-schema"] = sorted(map(str, op.beyond_schema))
            responses: dict[str, Any] = {}
            for status, model in op.responses.items():
                desc: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "OK" if status < 300 else "Error")}
                if model is not None:
                    schema = ref(model, "serialization")
                    desc["content"] = {"application/json": {"schema": schema, "example": examples.of(schema)}}
                responses[str(status)] = desc
            for status, raw in op.raw_responses.items():
                responses[str(status)] = raw
            problems = set(COMMON_PROBLEMS) if op.auth else set()
            if op.params and any(p.location == "path" for p in op.params):
                problems.add(404)
            problems |= {s for s, model in op.responses.items() if s >= 400 and model is None}
            if op.body is None and op.request_content is None:
                problems -= {413, 415, 422} if op.method == "GET" else set()
            by_status: dict[int, list[str]] = {}
            for code in codes_of(op):
                by_status.setdefault(code.status, []).append(str(code))
            for status in sorted(problems | set(by_status)):
                codes = by_status.get(status) or [str(_GENERIC.get(status, error_codes.INTERNAL_ERROR))]
                narrowed = {"properties": {"code": {"enum": codes}}}
                problem: dict[str, Any] = {
                    "description": "Problem (RFC 9457): " + ", ".join(codes),
                    "content": {
                        "application/problem+json": {
                            "schema": {"allOf": [problem_ref, narrowed]},
                            "examples": {c: {"$ref": f"#/components/examples/{example_name(c)}"} for c in codes},
                        }
                    },
                    "x-error-codes": codes,
                }
                # Also answered in another form (a JSON body of its own, or the hosted page's HTML for a person).
                problem["content"].update(responses.get(str(status), {}).get("content", {}))
                responses[str(status)] = problem
            if op.auth:
                entry["security"] = [{"bearer": []}]
            paths.setdefault(op.path, {})[op.method.lower()] = entry | {"responses": responses}
        document = {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version, "description": DESCRIPTION},
            # Relative: the host that served the document (behind a proxy too); a generated client takes its own.
            "servers": [{"url": "/", "description": "the service that serves this document"}],
            "tags": tag_descriptions(tags),
            "paths": paths,
            "components": {
                "schemas": components | code_schemas,
                "examples": problem_examples(),
                "x-error-codes": code_table,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "lender API key"}},
            },
        }
        name_enums(document)
        return document


_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content", 303: "See other"}


def describe(op: Operation) -> str:
    """The operation's description: its own text, then what follows from its declaration."""
    parts = [op.description or op.summary]
    if op.idempotent:
        parts.append(f"Safe to retry with an `{IDEMPOTENCY_HEADER}` header.")
    if op.beyond_schema:
        listed = ", ".join(f"`{c}` ({c.heading.lower()})" for c in sorted(op.beyond_schema))
        parts.append(f"A request the schema accepts can still be refused with {listed}.")
    return "\n\n".join(parts)


def _parameter(p: Param, ref: Callable[[Any, str], dict[str, Any]], examples: Examples) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": p.location, "required": p.required, "description": p.description}
    if p.model is not None:  # a JSON value: described by its model, serialised as JSON
        schema = ref(p.model, "validation")
        out["content"] = {"application/json": {"schema": schema, "example": examples.of(schema)}}
    else:
        out["schema"] = p.schema
        out["example"] = examples.named(p.name, p.schema)
    return out
