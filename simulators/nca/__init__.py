"""Simulator of the NCA RK test PKI (test.pki.gov.kz): GOST-2015-512 and RSA-2048 CA hierarchies,
a built-in population of test holders, OCSP, CRL and delta CRL, an RFC 3161 TSA, CA certificate
downloads, and test-only admin routes, so EDS identification (R-7.1: a signature issued by NCA RK)
runs end to end without NCA. The service reaches it over HTTP only, as it would reach NCA.

    create_app(base_url=..., state_dir=..., fixed_time=...)  -> aiohttp Application (app.py)
    python -m simulators.nca --port 8701 --state-dir var/nca
    simulators.nca.signer                                  -> NCALayer-like CMS / XMLDSig signing
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulators.nca.app import create_app


def __getattr__(name: str) -> Any:
    # Loaded on first use: the kiosk agent and card provisioning import the CMS builder and the keys from
    # this package, and importing the whole aiohttp application cost them about a second at start.
    if name == "create_app":
        from simulators.nca.app import create_app

        return create_app
    raise AttributeError(name)


__all__ = ["create_app"]
