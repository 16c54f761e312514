"""The HTTP surface: problem+json for every kind of bad request, auth, rate limit, health, metrics, logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from authsvc.config import Settings
from authsvc.crypto.local_keys import LocalKeyStore
from tests.conftest import Api, individual, make_settings, start_api


async def problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json()
    assert body["code"] == code and body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in json.dumps(body)
    return body


async def test_malformed_json(api: Api) -> None:
    resp = await api.client.post(
        "/v1/clients", data=b'{"kind": "individual",', headers=api.headers(**{"Content-Type": "application/json"})
    )
    await problem(resp, 400, "malformed_json")


async def test_wrong_content_type(api: Api) -> None:
    resp = await api.client.post(
        "/v1/clients", data=b"kind=individual", headers=api.headers(**{"Content-Type": "text/plain"})
    )
    await problem(resp, 415, "wrong_content_type")


async def test_body_of_wrong_shape(api: Api) -> None:
    for raw in (b"[]", b"42", b'"x"', b"null", b'{"kind": "alien"}'):
        resp = await api.client.post(
            "/v1/clients", data=raw, headers=api.headers(**{"Content-Type": "application/json"})
        )
        assert resp.status == 422, raw


async def test_oversized_body_is_413(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api = await start_api(aiohttp_client, make_settings(dsn, server={"max_body_bytes": 4096}), keys)
    resp = await api.post("/v1/clients", individual())
    await problem(resp, 413, "body_too_large")


async def test_missing_and_wrong_api_keys_are_401(api: Api) -> None:
    await problem(await api.client.get("/v1/clients/x"), 401, "unauthorized")
    await problem(await api.get("/v1/clients/x", key="ak_0123456789abcdef_" + "A" * 43), 401, "unauthorized")
    await problem(
        await api.client.get("/v1/clients/x", headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401, "unauthorized"
    )


async def test_unknown_route_and_method_are_problems(api: Api) -> None:
    await problem(await api.get("/v1/nothing-here"), 404, "not_found")
    resp = await api.client.delete("/v1/clients/abc", headers=api.headers())
    await problem(resp, 405, "method_not_allowed")


async def test_rate_limit_answers_429_with_retry_after(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api = await start_api(
        aiohttp_client, make_settings(dsn, rate_limit={"requests_per_window": 3, "window_s": 60}), keys
    )
    statuses = [(await api.get("/v1/clients/none")).status for _ in range(3)]
    assert statuses == [404, 404, 404]
    resp = await api.get("/v1/clients/none")
    await problem(resp, 429, "rate_limited")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    _, other = await api.new_lender()
    assert (await api.get("/v1/clients/none", key=other)).status == 404  # limits are per lender


async def test_health_ready_metrics(api: Api) -> None:
    assert await (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await (await api.client.get("/readyz")).json()
    assert ready["checks"]["database"] is True and ready["checks"]["keys"] is True
    await api.post("/v1/clients", individual())
    text = await (await api.client.get("/metrics")).text()
    assert 'authsvc_http_requests_total{method="POST",route="/v1/clients",status="201"} 1.0' in text
    assert 'authsvc_http_request_duration_seconds_bucket{le="0.05",method="POST",route="/v1/clients"}' in text


async def test_request_id_is_echoed_and_logged_without_personal_data(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = individual()
    resp = await api.post("/v1/clients", body, **{"X-Request-Id": "req-123"})
    assert resp.headers["X-Request-Id"] == "req-123"
    lines = [r for r in caplog.records if r.name == "authsvc.http"]
    assert any(getattr(r, "route", None) == "/v1/clients" for r in lines)
    from authsvc.logs import JsonFormatter

    formatted = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for secret in ("811201401188", "Жумабаев", "7012345678", "KZ86125KZT5004100100", "4111111111111111", api.key):
        assert secret not in formatted
    assert "req-123" in formatted


async def test_openapi_lists_every_route_the_app_serves(api: Api, settings: Settings) -> None:
    doc = await (await api.client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    served = {
        (r.method.lower(), r.resource.canonical)
        for r in api.app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    create = doc["paths"]["/v1/clients"]["post"]
    assert {"201", "409", "413", "415", "422", "429"} <= set(create["responses"])
    assert "IndividualIn" in doc["components"]["schemas"] and "LegalEntityIn" in doc["components"]["schemas"]
