"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by tests/fuzz): a request the schema accepts is
accepted, or refused only with a code its operation documents in ``x-refused-beyond-schema`` (what no JSON
Schema can say: a CMS that parses, a check digit, a date still in the future).

This replaces schemathesis's own ``positive_data_acceptance``, which cannot tell those refusals from a
schema that says less than the handler checks."""

from __future__ import annotations

import json
from typing import Any

import schemathesis

REFUSALS = {400, 422}


@schemathesis.check
def schema_valid_requests_are_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in REFUSALS:
        return None
    try:
        body = json.loads(response.text)
        codes = {body.get("code")}
        if body.get("code") == "validation_failed" and body.get("errors"):  # several fields, each its reason
            codes = {e.get("code") for e in body["errors"]}
    except (ValueError, AttributeError):
        codes = {None}
    allowed = case.operation.definition.raw.get("x-refused-beyond-schema", [])
    if not codes <= set(allowed):
        code = ", ".join(sorted(map(str, codes)))
        raise AssertionError(
            f"a schema-valid request got {response.status_code} {code}: {response.text[:300]}\n"
            f"tighten the schema, or document the code in the operation's beyond_schema (now {allowed})"
        )
    return None
