"""A real pcscd (private: its own mount namespace and socket, only the vpcd reader) with the virtual
card plugged into reader 0 for the whole session; tests that spoil a card (lock its PIN) get a fresh
card of their own in reader 1. Nothing here touches the system's pcscd or any real reader."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.pcsc import Context
from simulators.vcard.pcscd import SOCKET_ENV, PrivatePcscd
from simulators.vcard.profile import CardProfile
from tests.simulators.vcard.fixtures import Emulator, free_port_pair, provisioned_card

READER_0 = "Virtual PCD 00 00"
READER_1 = "Virtual PCD 00 01"


@dataclass
class Lab:
    pcscd: PrivatePcscd
    card_file: Path
    profile: CardProfile
    emulator: Emulator
    directory: Path
    vpcd_port: int

    def client_env(self) -> dict[str, str]:
        return dict(os.environ, **self.pcscd.environment())


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("pcsc-lab")
    profile = provisioned_card(root / "nca")
    card_file = root / "card.json"
    profile.save(card_file)
    port = free_port_pair()
    daemon = PrivatePcscd(root / "pcscd", vpcd_port=port)
    previous = os.environ.get(SOCKET_ENV)
    os.environ[SOCKET_ENV] = str(daemon.socket_path)  # libpcsclite reads it once per process
    daemon.start()
    emulator = Emulator(card_file, port, root / "emulator.log")
    try:
        yield Lab(daemon, card_file, profile, emulator, root, port)
    finally:
        emulator.stop()
        daemon.stop()
        if previous is None:
            os.environ.pop(SOCKET_ENV, None)
        else:
            os.environ[SOCKET_ENV] = previous


def wait_present(reader: str, present: bool = True, timeout: float = 10.0) -> None:
    """Until pcscd reports a card in `reader`, or none (it polls vpcd every 0.4 s)."""
    deadline = time.monotonic() + timeout
    with Context() as ctx:
        while ctx.state(reader).present != present:
            if time.monotonic() > deadline:
                raise AssertionError(f"pcscd still {'sees no' if present else 'sees a'} card in {reader}")
            time.sleep(0.05)


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
