"""Fixtures: the simulator's CAs and population are generated once per session (RSA key generation
is the slow part) and copied into each test's own state directory, so tests can revoke freely."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from simulators.nca.app import create_app
from simulators.nca.ca import Urls
from simulators.nca.pki import Pki
from tests.simulators.nca.helpers import BASE_URL, FIXED_TIME, NcaClient


@pytest.fixture(scope="session")
def nca_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("nca-state")
    Pki.open(Urls(BASE_URL), state, lambda: FIXED_TIME)
    return state


@pytest.fixture
def state_dir(nca_state: Path, tmp_path: Path) -> Path:
    target = tmp_path / "state"
    shutil.copytree(nca_state, target)
    return target


@pytest.fixture
async def nca(aiohttp_client: Callable[..., Awaitable[NcaClient]], state_dir: Path) -> NcaClient:
    return await aiohttp_client(create_app(base_url=BASE_URL, state_dir=state_dir, fixed_time=FIXED_TIME))
