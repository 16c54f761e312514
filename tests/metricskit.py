"""Reading /metrics in tests, and the naming lint `promtool check metrics` applies (promtool itself is a Go
binary this machine does not have): the rules of Prometheus' ``promlint`` over what prometheus_client's own
parser reads, plus the service's own — the ``authsvc_`` prefix and no label that names an individual."""

from __future__ import annotations

import re
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api

Labels = frozenset[tuple[str, str]]

# promlint: units are spelled out and in base units; abbreviations and these names are refused.
_NON_BASE = {"minutes", "hours", "days", "weeks", "bits", "milliseconds", "microseconds", "nanoseconds"}
_UNIT_PREFIXES = ("pico", "nano", "micro", "milli", "centi", "deci", "kilo", "kibi", "mega", "mebi", "giga", "gibi")
_ABBREVIATIONS = {"s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d"}
_TYPES_IN_NAME = ("counter", "gauge", "histogram", "summary")
_CAMEL = re.compile(r"[a-z][A-Z]")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
# Labels whose values would name individuals or grow without bound (one series per id, address, path).
_PERSONAL_LABELS = {"id", "ip", "url", "path", "iin", "bin", "phone", "user", "key", "serial", "email", "client"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
MAX_SERIES_PER_FAMILY = 200


async def scrape(api: Api) -> str:
    resp = await api.client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain", resp.content_type
    return str(await resp.text())


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of the exposition by (sample name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Mapping[tuple[str, Labels], float], name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 when the series does not exist yet)."""
    return found.get((name, frozenset(labels.items())), 0.0)


def lint(text: str) -> list[str]:
    """The problems ``promtool check metrics`` (promlint) would report, and ours; [] when clean."""
    problems: list[str] = []
    declared: dict[str, str] = {}  # family name as exposed -> type
    helps: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if name in declared:
                problems.append(f"{name}: declared twice")
            declared[name] = kind
        elif line.startswith("# HELP "):
            parts = line.split(" ", 3)
            helps[parts[2]] = parts[3] if len(parts) > 3 else ""
    for name, kind in declared.items():
        problems += [f"{name}: {p}" for p in _name_problems(name, kind, helps.get(name, ""))]
    for family in text_string_to_metric_families(text):  # parses every sample, or raises
        series = {frozenset((k, v) for k, v in s.labels.items() if k not in ("le", "quantile")) for s in family.samples}
        if len(series) > MAX_SERIES_PER_FAMILY:
            problems.append(f"{family.name}: {len(series)} series, more than {MAX_SERIES_PER_FAMILY}")
        for s in family.samples:
            for label, label_value in s.labels.items():
                problems += [f"{family.name}: {p}" for p in _label_problems(family.type, label, label_value)]
    return sorted(set(problems))


def _name_problems(name: str, kind: str, help_text: str) -> list[str]:
    found = []
    if not help_text.strip():
        found.append("no help text")
    if not name.startswith("authsvc_"):
        found.append("not in the authsvc_ namespace")
    if ":" in name:
        found.append("metric names should not contain ':'")
    if _CAMEL.search(name) or not _SNAKE.match(name):
        found.append("metric names should be written in 'snake_case' not 'camelCase'")
    if kind == "counter" and not name.endswith("_total"):
        found.append('counter metrics should have "_total" suffix')
    if kind not in ("counter", "untyped") and name.endswith("_total"):
        found.append('non-counter metrics should not have "_total" suffix')
    if kind != "histogram" and name.endswith("_bucket"):
        found.append('non-histogram metrics should not have "_bucket" suffix')
    if kind not in ("histogram", "summary") and (name.endswith("_count") or name.endswith("_sum")):
        found.append('non-histogram and non-summary metrics should not have "_count"/"_sum" suffix')
    words = name.lower().split("_")
    for word in words:
        if word in _NON_BASE or any(word == p + unit for p in _UNIT_PREFIXES for unit in ("seconds", "bytes")):
            found.append(f"use base units (seconds, bytes), not {word!r}")
        if word in _ABBREVIATIONS:
            found.append("metric names should not contain abbreviated units")
        if word in _TYPES_IN_NAME:
            found.append(f"metric name should not include type '{word}'")
    if kind == "histogram" and not (name.endswith("_seconds") or name.endswith("_bytes")):
        found.append("a histogram measures a quantity: its name ends in its base unit (_seconds, _bytes)")
    return found


def _label_problems(kind: str | None, label: str, label_value: str) -> list[str]:
    found = []
    if _CAMEL.search(label):
        found.append("label names should be written in 'snake_case' not 'camelCase'")
    if label == "le" and kind != "histogram":
        found.append('non-histogram metrics should not have "le" label')
    if label == "quantile" and kind != "summary":
        found.append('non-summary metrics should not have "quantile" label')
    if label in _PERSONAL_LABELS or label.endswith("_id"):
        found.append(f"label {label!r} names individuals (one series per value): not a metric label")
    if _UUID.search(label_value) or re.fullmatch(r"\d{6,}", label_value):
        found.append(f"label {label}={label_value!r} looks like an id or a number")
    return found
