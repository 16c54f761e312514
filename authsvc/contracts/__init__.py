"""Loan contracts signed by EDS or one-time code and re-checked later (R-10.1, R-12.1, R-12.2).

`ContractService` registers a document, signs it and re-verifies it from storage; `evidence` is what is kept
with an EDS signature so the check can be repeated years later without the network.
"""

from authsvc.contracts.service import Contract, ContractService, SignatureCheck

__all__ = [
    "Contract",
    "ContractService",
    "SignatureCheck",
]
