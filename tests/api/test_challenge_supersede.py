"""Issue 11 §12: a newer challenge ends the older unused ones of its method for the same identification
(R-12.3: a challenge is single-use, and only the one the client was last given can be answered)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from authsvc.crypto.local_keys import LocalKeyStore
from simulators.nca.signer import create_cms_signature_from_base64
from tests.api.test_eds_simulator import (  # noqa: F401  (fixtures)
    Simulator,
    challenge,
    nca_port,
    nca_template,
    open_identification,
    pair_of,
    register,
    sim,
    simulator,
    submit,
)
from tests.api.test_liveness_step import as_mp4, liveness_api, render, script_for
from tests.api.test_liveness_step import submit as submit_capture
from tests.conftest import Api, individual


async def test_an_older_eds_challenge_is_dead_once_a_newer_one_is_issued(sim: tuple[Api, Simulator]) -> None:  # noqa: F811
    api, nca = sim
    client = await register(api, individual())
    gost = pair_of(await nca.issue())
    ident = await open_identification(api, client)
    older = await challenge(api, ident)
    newer = await challenge(api, ident)
    status, step = await submit(api, ident, create_cms_signature_from_base64(gost, older, attached=True))
    assert (status, step["outcome"], step["reasons"]) == (200, "failed", ["challenge_expired"]), step
    status, step = await submit(api, ident, create_cms_signature_from_base64(gost, newer, attached=True))
    assert (status, step["outcome"]) == (200, "passed"), step


async def test_another_identifications_challenge_is_left_alone(sim: tuple[Api, Simulator]) -> None:  # noqa: F811
    api, nca = sim
    client = await register(api, individual())
    gost = pair_of(await nca.issue())
    first = await open_identification(api, client)
    data = await challenge(api, first)
    second = await open_identification(api, client, "login")
    await challenge(api, second)
    status, step = await submit(api, first, create_cms_signature_from_base64(gost, data, attached=True))
    assert (status, step["outcome"]) == (200, "passed"), step


async def test_racing_issues_leave_exactly_one_challenge_open(sim: tuple[Api, Simulator]) -> None:  # noqa: F811
    api, nca = sim
    client = await register(api, individual())
    gost = pair_of(await nca.issue())
    ident = await open_identification(api, client)
    issued = await asyncio.gather(*(challenge(api, ident) for _ in range(8)))
    passed = 0
    for data in issued:
        _, step = await submit(api, ident, create_cms_signature_from_base64(gost, data, attached=True))
        passed += step.get("outcome") == "passed"
    assert passed == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_an_older_liveness_script_is_dead_once_a_newer_one_is_issued(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    api, ident = await liveness_api(aiohttp_client, dsn, keys)
    older, script = await script_for(api, ident)
    await script_for(api, ident)
    resp = await submit_capture(api, ident, older, video=as_mp4(render(script)))
    assert resp.status == 409 and (await resp.json())["code"] == "challenge_expired"
