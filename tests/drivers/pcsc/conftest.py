"""The process's PC/SC lab (`tests.simulators.vcard.lab`): a real private pcscd with the virtual card
in reader 0 for the whole session; tests that spoil a card (lock its PIN) get a fresh card of their
own in reader 1. Nothing here touches the system's pcscd or any real reader."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simulators.vcard.fixtures import Emulator
from tests.simulators.vcard.lab import READER_0, READER_1, Lab, process_lab, stop_process_lab, wait_present

__all__ = ["READER_0", "READER_1", "Lab", "wait_present"]


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield process_lab(tmp_path_factory.mktemp("pcsc-lab"))
    stop_process_lab()


@pytest.fixture
def card0(lab: Lab) -> Iterator[Emulator]:
    """The session card, inserted and seen by pcscd (a test may pull it; it goes back in afterwards)."""
    if not lab.pcscd.running:
        lab.pcscd.start()
    lab.emulator.insert()
    lab.emulator.wait_connected()
    wait_present(READER_0)
    yield lab.emulator
    lab.emulator.insert()


@pytest.fixture
def fresh_card(lab: Lab, tmp_path: Path) -> Iterator[Emulator]:
    """A card of its own in reader 1 (fresh PIN counters), gone after the test."""
    emulator = Emulator(lab.card_file, lab.vpcd_port + 1, tmp_path / "emulator.log")
    wait_present(READER_1)
    yield emulator
    emulator.stop()
    wait_present(READER_1, present=False)
