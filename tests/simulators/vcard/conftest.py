from __future__ import annotations

from pathlib import Path

import pytest

from simulators.vcard.profile import CardProfile
from tests.simulators.vcard.fixtures import provisioned_card


@pytest.fixture(scope="session")
def nca_card_state(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CardProfile]:
    """The NCA simulator's state directory and a card provisioned from it (once per session)."""
    state = tmp_path_factory.mktemp("vcard-nca")
    return state, provisioned_card(state)


@pytest.fixture(scope="session")
def profile(nca_card_state: tuple[Path, CardProfile]) -> CardProfile:
    return nca_card_state[1]
