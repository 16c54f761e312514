"""The NCA simulator fixtures of the EDS API tests, shared (one simulator port per session)."""

from __future__ import annotations

from tests.api.test_eds_simulator import nca_port, nca_template, simulator

__all__ = ["nca_port", "nca_template", "simulator"]
