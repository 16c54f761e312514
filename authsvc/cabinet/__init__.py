"""The client registry: the personal cabinet of Resolution No. 63 item 6 (R-6.1–R-6.7).

`ClientRegistry` registers, reads and changes clients with their personal data sealed at rest (R-12.2);
`identifiers` checks Kazakh IIN/BIN, IBAN, card and phone numbers; `media` checks uploaded files; `masking`
gives the masked forms the API answers.
"""

from authsvc.cabinet.models import ClientIn, ClientOut
from authsvc.cabinet.service import ClientRegistry

__all__ = [
    "ClientIn",
    "ClientOut",
    "ClientRegistry",
]
