from __future__ import annotations

import pytest

from tests.drivers.pkcs11.softhsm import softhsm_home


@pytest.fixture(scope="session", autouse=True)
def _softhsm() -> None:
    softhsm_home()
