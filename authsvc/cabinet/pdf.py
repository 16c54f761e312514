"""The first page of an identity document given as a PDF (R-7.3b(i)), rasterised for the portrait search.

A scanner or a phone's "scan document" writes the card's front as a one-page PDF holding a photo. Only
such a PDF is read, with bounds on everything pdfium could spend (the file's size is the upload's limit):
one page (a multi-page PDF is ``document_pdf_multiple_pages``: which page is the card?), at most
``max_objects`` page objects and every embedded image within ``max_image_pixels`` (checked before any
pixel is decoded), the page drawn at ``dpi`` but never over ``max_side`` pixels a side, and the drawing
stopped at ``max_render_s`` (pdfium's progressive renderer asks between objects). A PDF that is not one
(``document_pdf_unreadable``), is encrypted (``document_pdf_encrypted``: nothing sealed could be read
back), has no image (``document_pdf_no_image``: a typed page has no portrait) or exceeds a bound
(``document_pdf_too_complex``, ``image_too_large``) is refused with its code; pdfium's own errors never
escape as anything else. Runs in the process pool (pdfium holds the GIL and is not thread-safe); pypdfium2 is of the ``face`` extra.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as raw
from numpy.typing import NDArray

from authsvc import error_codes
from authsvc.cabinet.identifiers import IdentifierError
from authsvc.errors import AuthsvcError


@dataclass(frozen=True)
class PdfLimits:
    max_pages: int = 1
    max_objects: int = 2_000
    max_image_pixels: int = 25_000_000
    dpi: float = 300.0
    max_side: int = 2_000
    max_render_s: float = 2.0


def rasterise_first_page(data: bytes, limits: PdfLimits | None = None) -> NDArray[np.uint8]:
    """The PDF's only page as an RGB array (H × W × 3); raises IdentifierError with the refusal's code."""
    limits = limits or PdfLimits()
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == raw.FPDF_ERR_PASSWORD:
            raise IdentifierError(error_codes.DOCUMENT_PDF_ENCRYPTED, "the PDF is password-protected") from exc
        raise IdentifierError(error_codes.DOCUMENT_PDF_UNREADABLE, "the PDF cannot be read") from exc
    try:
        if raw.FPDF_GetSecurityHandlerRevision(doc) != -1:
            raise IdentifierError(error_codes.DOCUMENT_PDF_ENCRYPTED, "the PDF is encrypted")
        pages = len(doc)
        if pages < 1:
            raise IdentifierError(error_codes.DOCUMENT_PDF_UNREADABLE, "the PDF has no page")
        if pages > limits.max_pages:
            raise IdentifierError(
                error_codes.DOCUMENT_PDF_MULTIPLE_PAGES,
                f"the PDF has {pages} pages: send the document's front alone (one page)",
            )
        page = doc[0]
        try:
            return _render(page, limits)
        finally:
            page.close()
    except (IdentifierError, AuthsvcError):
        raise
    except Exception as exc:  # pdfium reports broken content as PdfiumError, ValueError or a failed render
        raise IdentifierError(error_codes.DOCUMENT_PDF_UNREADABLE, "the PDF's page cannot be drawn") from exc
    finally:
        doc.close()


def _render(page: Any, limits: PdfLimits) -> NDArray[np.uint8]:
    images = 0
    for count, obj in enumerate(page.get_objects(max_depth=3), start=1):
        if count > limits.max_objects:
            raise IdentifierError(
                error_codes.DOCUMENT_PDF_TOO_COMPLEX, f"the PDF's page has over {limits.max_objects} objects"
            )
        if obj.type == raw.FPDF_PAGEOBJ_IMAGE:
            w, h = obj.get_px_size()
            if w * h > limits.max_image_pixels:
                raise IdentifierError(
                    error_codes.IMAGE_TOO_LARGE, f"an image in the PDF is larger than {limits.max_image_pixels} pixels"
                )
            images += 1
    if not images:
        raise IdentifierError(
            error_codes.DOCUMENT_PDF_NO_IMAGE, "the PDF holds no image: send a scan or photo of the document"
        )
    width_pt, height_pt = page.get_size()
    if not (width_pt > 0 and height_pt > 0):
        raise IdentifierError(error_codes.DOCUMENT_PDF_UNREADABLE, "the PDF's page has no size")
    scale = min(limits.dpi / 72.0, limits.max_side / max(width_pt, height_pt))
    width, height = max(1, round(width_pt * scale)), max(1, round(height_pt * scale))
    bitmap = pdfium.PdfBitmap.new_native(width, height, format=raw.FPDFBitmap_BGR)
    bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
    deadline = time.monotonic() + limits.max_render_s
    pause = raw.IFSDK_PAUSE(version=1)
    # Asked between objects and image rows: past the deadline the renderer stops and says "to be continued".
    pause.NeedToPauseNow = type(pause.NeedToPauseNow)(lambda _: time.monotonic() > deadline)
    status = raw.FPDF_RenderPageBitmap_Start(bitmap, page, 0, 0, width, height, 0, raw.FPDF_ANNOT, ctypes.byref(pause))
    while status == raw.FPDF_RENDER_TOBECONTINUED and time.monotonic() <= deadline:
        status = raw.FPDF_RenderPage_Continue(page, ctypes.byref(pause))
    raw.FPDF_RenderPage_Close(page)
    if status == raw.FPDF_RENDER_TOBECONTINUED:
        raise IdentifierError(
            error_codes.DOCUMENT_PDF_TOO_COMPLEX, f"the PDF's page takes over {limits.max_render_s:g} s to draw"
        )
    if status != raw.FPDF_RENDER_DONE:
        raise IdentifierError(error_codes.DOCUMENT_PDF_UNREADABLE, "the PDF's page cannot be drawn")
    bgr = bitmap.to_numpy()
    return np.ascontiguousarray(bgr[:, :, 2::-1])
