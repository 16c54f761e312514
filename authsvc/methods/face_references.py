"""The face encoder behind the registry's `FaceEncoder` seam (R-7.3b(i)): the registration photo's face and
the identity document's portrait, encoded in the process pool (dlib holds the GIL) once per file.

The document's portrait is located and checked by `liveness.document`; an image the match cannot rely on is
a 422 with its reason's code (``document_no_portrait``, ``document_multiple_portraits``,
``document_portrait_too_small``, ``document_blurred``), or ``image_undecodable`` / ``image_too_large``; a PDF
is rasterised first (`authsvc.cabinet.pdf`: one page, bounded) and refused with its ``document_pdf_*`` code.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any

from authsvc import error_codes
from authsvc.cabinet.faces import DOCUMENT_FIELD
from authsvc.errors import error_for

# The document reasons `liveness.document` names, as catalogue entries (the OpenAPI lists them).
DOCUMENT_ERRORS = (
    error_codes.DOCUMENT_NO_PORTRAIT,
    error_codes.DOCUMENT_MULTIPLE_PORTRAITS,
    error_codes.DOCUMENT_PORTRAIT_TOO_SMALL,
    error_codes.DOCUMENT_BLURRED,
    error_codes.DOCUMENT_PDF_UNREADABLE,
    error_codes.DOCUMENT_PDF_ENCRYPTED,
    error_codes.DOCUMENT_PDF_MULTIPLE_PAGES,
    error_codes.DOCUMENT_PDF_NO_IMAGE,
    error_codes.DOCUMENT_PDF_TOO_COMPLEX,
    error_codes.IMAGE_UNDECODABLE,
    error_codes.IMAGE_TOO_LARGE,
    error_codes.MODELS_UNAVAILABLE,
)


# --- process-pool functions (module level, picklable) -----------------------------------------------


def encode_photo(data: bytes) -> bytes | None:
    """The registration photo's packed face encoding, or None when no face can be found in it."""
    from liveness.errors import ImageRejected
    from liveness.images import decode_image
    from liveness.match import pack_encoding, reference_encoding

    try:
        return pack_encoding(reference_encoding(decode_image(data), "registration"))
    except ImageRejected:
        return None


def read_document(data: bytes) -> bytes | tuple[str, str]:
    """The document portrait's packed encoding, or the refusal's (code, message)."""
    from authsvc.cabinet.identifiers import IdentifierError
    from authsvc.cabinet.media import sniff
    from authsvc.cabinet.pdf import rasterise_first_page
    from liveness.document import document_portrait, document_portrait_bytes
    from liveness.errors import LivenessError
    from liveness.match import pack_encoding

    try:
        if sniff(data) == "application/pdf":
            return pack_encoding(document_portrait(rasterise_first_page(data)).encoding)
        return pack_encoding(document_portrait_bytes(data).encoding)
    except IdentifierError as exc:
        return str(exc.code), str(exc)
    except LivenessError as exc:
        return exc.code, exc.detail


class PoolFaceEncoder:
    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    @property
    def model(self) -> str:
        from liveness.models import ENCODING_MODEL  # a light module: no model is loaded here

        return ENCODING_MODEL

    async def _pool(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def photo(self, data: bytes) -> bytes | None:
        result: bytes | None = await self._pool(encode_photo, data)
        return result

    async def document(self, data: bytes) -> bytes:
        result = await self._pool(read_document, data)
        if isinstance(result, tuple):
            code, message = error_codes.lookup(result[0]), result[1]
            raise error_for(
                code,
                f"{DOCUMENT_FIELD}: {message}",
                errors=[{"loc": DOCUMENT_FIELD, "code": str(code), "message": message}],
            )
        encoding: bytes = result
        return encoding
