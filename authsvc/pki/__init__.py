"""EDS verification against the NCA RK PKI (R-7.1, KZ-PKI.md): certificate facts by the NCA profile
(`certinfo`), path validation to pinned anchors (`path`), CMS, XMLDSig and raw signatures (`cms`, `xmldsig`,
`x509verify`), revocation by OCSP and CRL (`ocsp`, `crl*`, `revocation`), time stamps (`tsp`) and Kazakh GOST
(`gost`).

`Verifier` (built by `build_verifier`) is the facade the API, the methods and the contracts use: it runs cheap
repeated checks on the event loop (`inline`) and everything else in the process pool (`workers`).
"""

from authsvc.pki.reports import CertificateReport, CmsReport, SignerReport, XmlReport
from authsvc.pki.service import NcaTransport, Verifier, build_verifier, order_for

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
