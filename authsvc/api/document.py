"""Parts of /openapi.json that are not one operation's: the API's description, the problem examples of the
catalogue, tag descriptions from the resource modules' docstrings, and enum member names for generators."""

from __future__ import annotations

import re
import sys
from typing import Any

from authsvc.api.problem import type_uri
from authsvc.error_codes import CATALOGUE, Code

DESCRIPTION = """\
Identification and authentication of a lender's clients (Resolution No. 63 of the Agency): the client
registry (R-6.x), identifications under regulatory profiles with their steps (EDS, liveness, one-time codes,
tokens, outside registries), contracts signed by EDS or code, grey and black lists, incidents and webhooks.

**Authentication.** Every `/v1` operation takes the lender's API key: `Authorization: Bearer <key>`
(`authsvc lender create` issues one).

**Errors.** Every refusal is `application/problem+json` (RFC 9457) with a stable `code`, its `title` and a
`hint` saying how to fix it; each response lists the codes it can carry in `x-error-codes` (and narrows
`code` to them), `components.x-error-codes` describes them all. A request can match the schema and still be
refused for what no schema can say (a CMS that does not parse, a check digit, an expired document): each
operation lists those codes in `x-refused-beyond-schema`.

**Retries.** Operations with an `Idempotency-Key` header answer a retry with the same key and body with the
first answer (`Idempotent-Replayed: true`). 429 and 503 answers carry `Retry-After`.

**Device signals.** Steps taken from the lender's app may carry the app's signals (R-NB.5) as one JSON
object in the `Device-Signals` header.

This page is served by the service itself at `/docs`; the document at `/openapi.json`.
"""


def problem_example(code: Code) -> dict[str, Any]:
    """The problem document ``code`` answers (``detail`` varies per answer: here the title stands for it)."""
    return {
        "type": type_uri(code),
        "title": code.heading,
        "status": code.status,
        "detail": code.heading.lower(),
        "code": str(code),
        "hint": code.fix,
        "request_id": "5f1c9a7e3b2d4c6e8f0a1b2c3d4e5f60",
    }


def problem_examples() -> dict[str, Any]:
    """``components.examples``: one problem example per code, referred to by every answer that can carry it."""
    return {example_name(c): {"summary": f"{c}: {c.heading}", "value": problem_example(c)} for c in CATALOGUE.values()}


def example_name(code: str) -> str:
    return f"problem-{code}"


def tag_descriptions(tags: dict[str, str]) -> list[dict[str, str]]:
    """Tag → the first paragraph of the docstring of the module whose handlers carry it."""
    out = []
    for tag, module in tags.items():
        doc = (sys.modules[module].__doc__ or "").strip()
        first = doc.split("\n\n", 1)[0]
        out.append({"name": tag, "description": " ".join(first.split()).replace("``", "`")})
    return out


def name_enums(node: Any) -> None:
    """Give ``x-enum-varnames`` to string enums whose members clash once upper-cased (``OCSP`` and ``ocsp``):
    a generator that names members by their upper-cased value would otherwise refuse the document."""
    if isinstance(node, dict):
        values = node.get("enum")
        if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            names = [_member(v) for v in values]
            if len(set(names)) < len(names):
                node["x-enum-varnames"] = _distinct(values)
        for child in node.values():
            name_enums(child)
    elif isinstance(node, list):
        for child in node:
            name_enums(child)


def _member(value: str) -> str:
    return re.sub(r"\W+", "_", value).strip("_").upper() or "VALUE"


def _distinct(values: list[str]) -> list[str]:
    names: list[str] = []
    for value in values:
        name = _member(value)
        if name in names and value == value.lower():
            name += "_LOWERCASE"
        n = 2
        base = name
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names
