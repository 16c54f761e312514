"""Operations: one declaration per endpoint gives the route, the request model and the OpenAPI entry,
so the document always matches what the handlers accept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from authsvc.api.problem import Problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Param:
    name: str
    location: str  # "path" | "header" | "query"
    description: str
    required: bool = True
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    body: Any = None  # a pydantic model or an Annotated union
    responses: dict[int, Any] = field(default_factory=dict)  # status -> model (None: no body)
    params: tuple[Param, ...] = ()
    auth: bool = True
    tags: tuple[str, ...] = ()
    raw_responses: dict[int, dict[str, Any]] = field(default_factory=dict)  # non-JSON bodies
    request_content: dict[str, Any] | None = None  # a non-JSON request body (e.g. multipart), as OpenAPI content


# Problem answers every /v1 operation can give, besides its own.
COMMON_PROBLEMS = {400, 401, 413, 415, 422, 429}


class OperationRegistry:
    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def add(self, op: Operation) -> None:
        self.operations.append(op)

    def install(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, op.path, op.handler, name=op.operation_id)

    def openapi(self, *, title: str, version: str) -> dict[str, Any]:
        components: dict[str, Any] = {}

        def ref(model: Any, mode: str) -> dict[str, Any]:
            schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
            for name, sub in schema.pop("$defs", {}).items():
                components.setdefault(name, sub)
            if isinstance(model, type) and issubclass(model, BaseModel):
                components.setdefault(model.__name__, schema)
                return {"$ref": f"#/components/schemas/{model.__name__}"}
            return schema

        problem_ref = ref(Problem, "serialization")
        paths: dict[str, Any] = {}
        for op in self.operations:
            entry: dict[str, Any] = {
                "operationId": op.operation_id,
                "summary": op.summary,
                "tags": list(op.tags),
            }
            params = [
                {
                    "name": p.name,
                    "in": p.location,
                    "required": p.required,
                    "description": p.description,
                    "schema": p.schema,
                }
                for p in op.params
            ]
            if params:
                entry["parameters"] = params
            if op.request_content is not None:
                entry["requestBody"] = {"required": True, "content": op.request_content}
            elif op.body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(op.body, "validation")}},
                }
            responses: dict[str, Any] = {}
            for status, model in op.responses.items():
                desc: dict[str, Any] = {"description": "OK" if status < 300 else "Error"}
                if model is not None:
                    desc["content"] = {"application/json": {"schema": ref(model, "serialization")}}
                responses[str(status)] = desc
            for status, raw in op.raw_responses.items():
                responses[str(status)] = raw
            problems = set(COMMON_PROBLEMS) if op.auth else set()
            if op.params and any(p.location == "path" for p in op.params):
                problems.add(404)
            problems |= {s for s in op.responses if s >= 400}
            if op.body is None and op.request_content is None:
                problems -= {413, 415, 422} if op.method == "GET" else set()
            for status in sorted(problems):
                responses[str(status)] = {
                    "description": "Problem (RFC 9457)",
                    "content": {"application/problem+json": {"schema": problem_ref}},
                }
            if op.auth:
                entry["security"] = [{"bearer": []}]
            paths.setdefault(op.path, {})[op.method.lower()] = entry | {"responses": responses}
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version},
            "paths": paths,
            "components": {
                "schemas": components,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "lender API key"}},
            },
        }
