"""Examples for the OpenAPI document, built from the schemas themselves.

One source of truth: a field that needs a realistic value (an IIN, a phone, an id) declares it beside itself
(``Field(examples=[...])``, or a model's ``json_schema_extra={"examples": [...]}`` when fields depend on each
other); every other value follows from the schema (its const, enum, default, format and bounds). So an
example changes with its model, and ``tests/api/test_openapi.py`` validates every example against the very
model the handler parses or answers with.
"""

from __future__ import annotations

import copy
from typing import Any

# One moment for every date and time of the examples (the day the tests' clock stands on).
MOMENT = "2026-11-21T09:30:00Z"
_FORMATS: dict[str, Any] = {
    "date-time": MOMENT,
    "date": "2026-11-21",
    "time": "09:30:00Z",
    "duration": "PT15M",
    "email": "client@example.kz",
    "uri": "https://lender.example.kz/identified",
    "ipv4": "203.0.113.7",
    "ipv6": "2001:db8::7",
    "uuid": "3f6c2b1e-8d4a-4c1f-9b7e-2a5d6e8f0c13",
}
_MAX_DEPTH = 12
ID = "0b6f3c52-9a4e-4d7b-8f21-5c3e7a9d1f04"  # the service's ids are UUIDs


def has_example(schema: Any) -> bool:
    return isinstance(schema, dict) and bool(schema.get("examples") or "example" in schema)


class Examples:
    """Synthesises one example value per schema; ``$ref`` resolves into ``components`` (name → schema)."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components

    def of(self, schema: Any, depth: int = 0) -> Any:
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return None
        if "$ref" in schema:
            return self.of(self.components.get(schema["$ref"].rsplit("/", 1)[-1], {}), depth + 1)
        if schema.get("examples"):
            return copy.deepcopy(schema["examples"][0])
        if "example" in schema:
            return copy.deepcopy(schema["example"])
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        if "properties" in schema:  # an object, its allOf/anyOf/oneOf only saying which members must be given
            return self._object(schema, depth)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                value = self.of(part, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
            return merged
        for key in ("oneOf", "anyOf"):
            if key in schema:
                options = [s for s in schema[key] if not (isinstance(s, dict) and s.get("type") == "null")]
                return self.of(options[0], depth + 1) if options else None
        if schema.get("default") is not None:
            return copy.deepcopy(schema["default"])
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            count = max(schema.get("minItems", 1), 1) if schema.get("maxItems", 1) > 0 else 0
            return [self.of(schema.get("items", {}), depth + 1) for _ in range(count)]
        if kind == "string":
            return _string(schema)
        if kind in ("integer", "number"):
            return _number(schema, kind)
        if kind == "boolean":
            return False
        return None

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        required = set(schema.get("required", ()))
        for rule in (schema, *schema.get("allOf", ())):  # the first way of meeting each "give one of these"
            for key in ("oneOf", "anyOf"):
                if rule.get(key):
                    required.update(rule[key][0].get("required", ()))
        # Required members always; optional ones when they say what they look like.
        return {
            name: self.named(name, sub, depth + 1)
            for name, sub in schema.get("properties", {}).items()
            if name in required or has_example(sub)
        }

    def named(self, name: str, schema: Any, depth: int = 0) -> Any:
        """A member's or parameter's example: ids (``id``, ``*_id``) look like the service's (UUIDs)."""
        value = self.of(schema, depth)
        if (name == "id" or name.endswith("_id")) and value == _string({}) and not has_example(schema):
            return ID
        return value


def _string(schema: dict[str, Any]) -> str:
    if schema.get("format") in _FORMATS:
        return str(_FORMATS[schema["format"]])
    low, high = schema.get("minLength", 0), schema.get("maxLength", 64)
    text = "example"
    if len(text) < low:
        text += "x" * (low - len(text))
    return text[: max(high, low)]


def _number(schema: dict[str, Any], kind: str) -> int | float:
    if "minimum" in schema:
        value = schema["minimum"]
    elif "exclusiveMinimum" in schema:
        value = schema["exclusiveMinimum"] + 1
    else:
        value = 1
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    return int(value) if kind == "integer" else value
