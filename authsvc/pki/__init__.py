"""EDS verification against the NCA RK PKI (R-7.1, KZ-PKI.md): certificate facts by the NCA profile
(`certinfo`), path validation to pinned anchors (`path`), CMS, XMLDSig and raw signatures (`cms`, `xmldsig`,
`x509verify`), revocation by OCSP and CRL (`ocsp`, `crl*`, `revocation`), time stamps (`tsp`) and Kazakh GOST
(`gost`).

`Verifier` (built by `build_verifier`) is the facade the API, the methods and the contracts use: it runs cheap
repeated checks on the event loop (`inline`) and everything else in the process pool (`workers`).

The facade is imported on first use (PEP 562), not with the package: a pool worker that only refreshes a CRL
(`crl_cache`) would otherwise carry pydantic, the settings and the metrics — ~23 MB of the 100 MB the
production-size CRL may take (BENCHMARKS.md, issue 17).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authsvc.pki.reports import CertificateReport, CmsReport, SignerReport, XmlReport
    from authsvc.pki.service import NcaTransport, Verifier, build_verifier, order_for

_HOME = {
    "CertificateReport": "authsvc.pki.reports",
    "CmsReport": "authsvc.pki.reports",
    "SignerReport": "authsvc.pki.reports",
    "XmlReport": "authsvc.pki.reports",
    "NcaTransport": "authsvc.pki.service",
    "Verifier": "authsvc.pki.service",
    "build_verifier": "authsvc.pki.service",
    "order_for": "authsvc.pki.service",
}

__all__ = [
    "CertificateReport",
    "CmsReport",
    "NcaTransport",
    "SignerReport",
    "Verifier",
    "XmlReport",
    "build_verifier",
    "order_for",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later lookups skip this function
    return value
