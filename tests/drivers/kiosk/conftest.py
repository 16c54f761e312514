"""The NCA simulator fixtures of the EDS API tests, shared (one simulator port per session), and the
process's PC/SC lab (a private pcscd with the vpcd readers) of the PC/SC tests."""

from __future__ import annotations

from tests.api.test_eds_simulator import nca_port, nca_template, simulator
from tests.drivers.pcsc.conftest import card0, lab

__all__ = ["card0", "lab", "nca_port", "nca_template", "simulator"]
