"""PDFs of an identity document for tests: a card rendered around a shared photo, written by Pillow's PDF
writer (as a scanner's "save as PDF" does: one page holding a JPEG), and hand-built ones Pillow cannot write
(a typed page with no image, an encrypted file, a page of many objects)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from liveness.images import decode_image
from simulators.capture.document import id_card
from tests.shared import fixture_path


def card_pdf(*photo: str, seed: int = 1, pages: int = 1, dpi: float = 300.0) -> bytes:
    """An ID-card front with the portrait cut from the photo named, as a PDF of ``pages`` equal pages."""
    card = Image.fromarray(id_card(decode_image(fixture_path(*photo).read_bytes()), np.random.default_rng(seed)))
    out = io.BytesIO()
    card.save(out, "PDF", resolution=dpi, save_all=pages > 1, append_images=[card] * (pages - 1))
    return out.getvalue()


def image_pdf(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PDF", resolution=72.0)
    return out.getvalue()


def built_pdf(content: bytes, *, trailer_extra: bytes = b"", extra_objects: tuple[bytes, ...] = ()) -> bytes:
    """A one-page PDF whose page draws ``content`` (a content stream), with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 243 153] /Contents 4 0 R"
        b" /Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        *extra_objects,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1) + trailer_extra + b">>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def typed_pdf() -> bytes:
    """A page of text and lines only: a typed copy of the document's details, no portrait."""
    return built_pdf(b"BT /F1 12 Tf 20 120 Td (IDENTITY CARD  IIN 000000000000) Tj ET 20 100 m 220 100 l S")


def encrypted_pdf() -> bytes:
    """Encrypted with the standard handler under a user password (not given): pdfium asks for it."""
    encrypt = b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>"
    ident = b"/ID [<" + b"ab" * 16 + b"> <" + b"ab" * 16 + b">] /Encrypt 5 0 R "
    return built_pdf(b"0 0 m 10 10 l S", trailer_extra=ident, extra_objects=(encrypt,))


def busy_pdf(objects: int) -> bytes:
    """A page of ``objects`` short paths (and no image)."""
    return built_pdf(
        b"\n".join(b"%d %d m %d %d l S" % (i % 240, i % 150, i % 240 + 3, i % 150 + 3) for i in range(objects))
    )
