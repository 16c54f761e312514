"""An identity document given as a PDF (R-7.3b(i)): the first page rasterised within its bounds, and every
PDF the portrait search cannot use refused with its own code, never an exception of pdfium's."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from authsvc.cabinet.identifiers import IdentifierError
from authsvc.cabinet.pdf import PdfLimits, rasterise_first_page
from authsvc.methods.face_references import read_document
from liveness.detect import face_distance
from liveness.match import MatchSettings, reference_encoding, unpack_encoding
from tests.cabinet.pdfs import busy_pdf, card_pdf, encrypted_pdf, image_pdf, typed_pdf
from tests.liveness.photos import photo


def refusal(data: bytes, limits: PdfLimits | None = None) -> str:
    with pytest.raises(IdentifierError) as err:
        rasterise_first_page(data, limits)
    return str(err.value.code)


def test_a_scanned_card_as_pdf_is_rasterised_and_its_portrait_matches_its_holder() -> None:
    pdf = card_pdf("faces", "biden_1.jpg")
    page = rasterise_first_page(pdf)
    assert page.dtype == np.uint8 and page.ndim == 3 and page.shape[2] == 3
    # Pillow wrote the 1174 × 800 px photo of the card at 300 dpi: drawn back at 300 dpi, pixel for pixel.
    assert page.shape[:2] == (800, 1174)
    encoding = read_document(pdf)
    assert isinstance(encoding, bytes), encoding
    threshold = MatchSettings().document_threshold
    same = reference_encoding(photo("biden_2.jpg"), "registration")
    other = reference_encoding(photo("obama_1.jpg"), "registration")
    assert face_distance(unpack_encoding(encoding), same) <= threshold
    assert face_distance(unpack_encoding(encoding), other) > threshold


def test_a_large_page_is_drawn_within_the_pixel_budget() -> None:
    page = rasterise_first_page(card_pdf("faces", "biden_1.jpg", dpi=30.0))  # 39 × 27 inches at 300 dpi
    assert max(page.shape[:2]) == PdfLimits().max_side


def test_pdfs_the_portrait_search_cannot_use_are_refused_with_their_codes() -> None:
    assert refusal(card_pdf("faces", "biden_1.jpg", pages=2)) == "document_pdf_multiple_pages"
    assert refusal(encrypted_pdf()) == "document_pdf_encrypted"
    assert refusal(typed_pdf()) == "document_pdf_no_image"
    assert refusal(busy_pdf(300), PdfLimits(max_objects=200)) == "document_pdf_too_complex"
    big = image_pdf(Image.new("RGB", (3000, 2000), (200, 200, 200)))  # 6 Mpx in a few kilobytes
    assert len(big) < 200_000
    assert refusal(big, PdfLimits(max_image_pixels=5_000_000)) == "image_too_large"
    assert refusal(b"%PDF-1.7\n" + b"\x00" * 64) == "document_pdf_unreadable"


def test_a_page_that_takes_too_long_to_draw_is_stopped() -> None:
    slow = card_pdf("faces", "biden_1.jpg")
    assert refusal(slow, PdfLimits(max_render_s=0.0)) == "document_pdf_too_complex"


def test_the_pool_function_answers_each_refusal_as_its_code() -> None:
    assert read_document(typed_pdf())[0] == "document_pdf_no_image"
    blank = image_pdf(Image.new("RGB", (1012, 640), (230, 230, 230)))
    assert read_document(blank)[0] == "document_no_portrait"


def test_damaged_pdfs_are_refused_never_crash() -> None:
    """Truncations, flipped bytes and spliced garbage of a real card PDF (fixed seed)."""
    good = card_pdf("faces", "obama_1.jpg", seed=2)
    rng = random.Random(13)
    outcomes: dict[str, int] = {}
    for i in range(150):
        data = bytearray(good)
        if i % 3 == 0:
            data = data[: rng.randrange(9, len(data))]
        else:
            for _ in range(rng.choice((1, 4, 32))):
                at = rng.randrange(9, len(data))
                if i % 3 == 1:
                    data[at] = rng.randrange(256)
                else:
                    data[at:at] = rng.randbytes(rng.randrange(1, 40))
        try:
            page = rasterise_first_page(bytes(data))
            assert page.ndim == 3 and page.dtype == np.uint8
            outcomes["drawn"] = outcomes.get("drawn", 0) + 1
        except IdentifierError as exc:
            assert str(exc.code).startswith("document_pdf_") or exc.code == "image_too_large", exc.code
            outcomes[str(exc.code)] = outcomes.get(str(exc.code), 0) + 1
    assert outcomes.get("document_pdf_unreadable", 0) > 0, outcomes
