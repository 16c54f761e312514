"""`HttpMetrics` counts in plain numbers what a prometheus_client `Counter` and `Histogram` of the same names
would: the same exposition, sample for sample (bucket bounds hit exactly included), but for the creation times."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from authsvc.api.middlewares import HttpMetrics

RECORDS = [
    ("GET", "/v1/clients/{client_id}", 404, 0.0012),
    ("GET", "/v1/clients/{client_id}", 404, 0.05),  # on a bound: counted in it (<=), as prometheus_client does
    ("GET", "/v1/clients/{client_id}", 200, 0.0),
    ("POST", "/v1/clients", 201, 10.0),
    ("POST", "/v1/clients", 201, 99.5),  # past the last bound: +Inf only
    ("GET", "unmatched", 404, 0.00099),
]


def exposition(registry: CollectorRegistry) -> str:
    return re.sub(r"(_created\{.*\}) \S+$", r"\1 T", generate_latest(registry).decode(), flags=re.MULTILINE)


def test_the_exposition_is_prometheus_clients() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    metrics = HttpMetrics(ours)
    requests = Counter(
        "authsvc_http_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=theirs
    )
    latency = Histogram(
        "authsvc_http_request_duration_seconds",
        "HTTP request latency by route",
        ["method", "route"],
        registry=theirs,
        buckets=HttpMetrics.BUCKETS,
    )
    for method, route, status, seconds in RECORDS:
        metrics.record(method, route, status, seconds)
        requests.labels(method, route, str(status)).inc()
        latency.labels(method, route).observe(seconds)
    assert exposition(ours) == exposition(theirs)
    again = CollectorRegistry()
    metrics.exposed_in(again)
    assert exposition(again) == exposition(ours)  # a reloaded application's registry shows the same counts
