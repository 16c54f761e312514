"""GET /metrics (issue 15): business metrics counted where the event happens, read back over HTTP after a
journey that causes them, and the whole exposition linted as ``promtool check metrics`` would
(`tests.metricskit.lint`)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from authsvc.api.state import DB, KEYS
from authsvc.audit.chainer import chain_pending
from authsvc.crypto.local_keys import LocalKeyStore
from tests.api.documents import register_with_document
from tests.api.test_eds_fixtures import AT_2004, AT_VALID_SIGN_2004, pki_settings
from tests.api.test_liveness_step import script_for, submit
from tests.conftest import make_settings, start_api
from tests.methods.factorkit import (
    PEOPLE,
    Parties,
    free_port,
    open_identification,
    register,
    sent_code,
    start_parties,
    start_service,
)
from tests.metricskit import lint, samples, scrape, value
from tests.shared import fixture_path

ARMAN = PEOPLE["arman"]


@pytest.fixture
async def parties(aiohttp_server: Any) -> Parties:
    return await start_parties(aiohttp_server)


def test_the_lint_refuses_what_promtool_refuses() -> None:
    """The lint is not a rubber stamp: each rule catches its mistake."""
    bad = "\n".join(
        [
            "# HELP authsvc_requests Requests",
            "# TYPE authsvc_requests counter",
            "authsvc_requests 1.0",
            "# HELP authsvc_latency_ms Latency",
            "# TYPE authsvc_latency_ms gauge",
            "authsvc_latency_ms 1.0",
            "# HELP authsvc_queueDepth Depth",
            "# TYPE authsvc_queueDepth gauge",
            "authsvc_queueDepth 1.0",
            "# HELP authsvc_size_total Size",
            "# TYPE authsvc_size_total gauge",
            "authsvc_size_total 1.0",
            "# HELP authsvc_logins_total Logins",
            "# TYPE authsvc_logins_total counter",
            'authsvc_logins_total{client_id="6f1c2a9e-3b1d-4c55-9e0a-1d2b3c4d5e6f"} 1.0',
            "# HELP authsvc_wait_milliseconds Wait",
            "# TYPE authsvc_wait_milliseconds gauge",
            "authsvc_wait_milliseconds 1.0",
            "# HELP other_thing Thing",
            "# TYPE other_thing gauge",
            "other_thing 1.0",
            "",
        ]
    )
    found = "\n".join(lint(bad))
    for expected in (
        'authsvc_requests: counter metrics should have "_total" suffix',
        "authsvc_latency_ms: metric names should not contain abbreviated units",
        "authsvc_queueDepth: metric names should be written in 'snake_case' not 'camelCase'",
        'authsvc_size_total: non-counter metrics should not have "_total" suffix',
        "authsvc_logins: label 'client_id' names individuals",
        "looks like an id",
        "authsvc_wait_milliseconds: use base units",
        "other_thing: not in the authsvc_ namespace",
    ):
        assert expected in found, (expected, found)


@pytest.mark.parametrize("backend", ["postgresql"])  # the code's fast path is PostgreSQL's
async def test_a_code_journey_counts_identifications_steps_codes_sends_and_the_gateway_and_lints_clean(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    """A login by SMS code (a wrong code, then the right one), then a step whose outside party is down."""
    api = await start_service(aiohttp_client, dsn, keys, parties, bureau_url=f"http://127.0.0.1:{free_port()}")
    before = samples(await scrape(api))
    client = await register(api, ARMAN)
    ident = await open_identification(api, client)
    assert (await api.post(f"/v1/identifications/{ident}/otp", {})).status == 202
    code = await sent_code(parties, ARMAN.phone.number)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert (await api.post(f"/v1/identifications/{ident}/otp/verify", {"code": wrong})).status == 422
    right = await api.post(f"/v1/identifications/{ident}/otp/verify", {"code": code})
    assert right.status == 200 and (await right.json())["identification_status"] == "completed"
    other = await open_identification(api, client)
    down = await api.post(f"/v1/identifications/{other}/bureau-refusal", {})
    assert down.status == 503, await down.text()

    text = await scrape(api)
    after = samples(text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    profile = "res63-2021"
    assert grew("authsvc_identifications_opened_total", operation="login", profile=profile) == 2
    assert grew("authsvc_identifications_total", operation="login", profile=profile, outcome="completed") == 1
    assert grew("authsvc_identification_steps_total", method="otp_sms", outcome="failed", reason="otp_rejected") == 1
    assert grew("authsvc_identification_steps_total", method="otp_sms", outcome="passed", reason="none") == 1
    assert grew("authsvc_otp_codes_issued_total", channel="sms", purpose="identification") == 1
    assert grew("authsvc_otp_verifications_total", factor="sms", outcome="rejected") == 1
    assert grew("authsvc_otp_verifications_total", factor="sms", outcome="accepted") == 1
    assert grew("authsvc_sms_outbox_sends_total", kind="otp", outcome="sent") == 1
    assert grew("authsvc_upstream_requests_total", party="sms-a", outcome="ok") >= 1
    assert grew("authsvc_upstream_request_duration_seconds_count", party="sms-a") >= 1
    assert grew("authsvc_upstream_requests_total", party="bureau", outcome="upstream_unreachable") == 1
    assert grew("authsvc_upstream_retries_total", party="bureau") >= 1  # FAST: two attempts
    assert grew("authsvc_http_requests_total", method="POST", route="/v1/identifications/{identification_id}/otp/verify", status="422") == 1  # fmt: skip
    assert lint(text) == []


@pytest.mark.parametrize("backend", ["sqlite"])  # the verifier counts; the database plays no part
async def test_eds_verdicts_are_counted_by_reason(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api = await start_api(aiohttp_client, make_settings(dsn, pki=pki_settings(), server={"process_workers": 1}), keys)
    cms = base64.b64encode(fixture_path("nca", "ncanode", "cms", "SIGNED_CMS_ONE_SIGNER.p7s").read_bytes()).decode()
    before = samples(await scrape(api))
    for at in (AT_VALID_SIGN_2004, AT_2004):  # valid then, expired later
        resp = await api.post("/v1/eds/cms/verify", {"cms": cms, "validation_time": at, "revocation_check": []})
        assert resp.status == 200, await resp.text()
    after = samples(await scrape(api))
    key = "authsvc_eds_verdicts_total"
    assert (
        value(after, key, kind="cms", verdict="valid", reason="none")
        - value(before, key, kind="cms", verdict="valid", reason="none")
        == 1
    )
    assert (
        value(after, key, kind="cms", verdict="invalid", reason="expired")
        - value(before, key, kind="cms", verdict="invalid", reason="expired")
        == 1
    )


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_liveness_decisions_and_the_audit_chain_are_in_metrics(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    """A capture that cannot be judged is a decision too (with its reason); the chainer's round moves the
    chain-lag gauges."""
    api = await start_api(aiohttp_client, make_settings(dsn, server={"process_workers": 1}), keys)
    client_id = await register_with_document(api, "alex_lacamoire_3.jpg")  # res63-2021 asks for it (R-7.3b(i))
    ident = (
        await (await api.post("/v1/identifications", {"client_id": client_id, "operation": "registration"})).json()
    )["id"]
    before = samples(await scrape(api))
    challenge, _ = await script_for(api, ident)
    resp = await submit(api, ident, challenge, video=b"this is not a video" * 100)
    assert resp.status == 422 and (await resp.json())["code"] == "capture_undecodable"
    await chain_pending(api.app[DB], api.app[KEYS])
    after = samples(await scrape(api))
    for _ in range(200):  # the app's own chainer may have taken the entries first: its round is counted when done
        if value(after, "authsvc_audit_entries_chained_total") > value(before, "authsvc_audit_entries_chained_total"):
            break
        await asyncio.sleep(0.05)
        after = samples(await scrape(api))
    assert (
        value(after, "authsvc_liveness_decisions_total", decision="unusable")
        - value(before, "authsvc_liveness_decisions_total", decision="unusable")
        == 1
    )
    assert (
        value(after, "authsvc_liveness_failed_checks_total", check="capture_undecodable")
        - value(before, "authsvc_liveness_failed_checks_total", check="capture_undecodable")
        == 1
    )
    assert value(after, "authsvc_identification_steps_total", method="liveness", outcome="failed", reason="capture_undecodable") - value(before, "authsvc_identification_steps_total", method="liveness", outcome="failed", reason="capture_undecodable") == 1  # fmt: skip
    assert value(after, "authsvc_audit_entries_chained_total") > value(before, "authsvc_audit_entries_chained_total")
    assert value(after, "authsvc_audit_chain_last_round_timestamp_seconds") > 0
    assert 0 <= value(after, "authsvc_audit_chain_lag_seconds") < 600
