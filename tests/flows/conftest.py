"""The NCA test-PKI simulator fixtures of the EDS tests, shared by the journeys."""

from tests.api.test_eds_simulator import nca_port, nca_template, simulator

__all__ = ["nca_port", "nca_template", "simulator"]
