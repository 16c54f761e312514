"""The identity document's portrait (R-7.3b(i)): located on a rendered ID card, encoded, matched against
another photo of the person; bad document images refused with named reasons."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from liveness.detect import face_distance
from liveness.document import DocumentRejected, document_portrait, document_portrait_bytes
from liveness.match import MatchSettings, reference_encoding
from simulators.capture.document import id_card
from tests.liveness.photos import photo


def _png(image: np.ndarray) -> bytes:  # type: ignore[type-arg]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(
    ("holder", "other_photo", "stranger"),
    [("biden_1.jpg", "biden_2.jpg", "obama_1.jpg"), ("obama_1.jpg", "obama_4_480p.jpg", "alex_lacamoire_1.jpg")],
)
def test_the_portrait_on_an_id_card_is_found_and_matches_its_holder(
    holder: str, other_photo: str, stranger: str
) -> None:
    card = id_card(photo(holder), np.random.default_rng(1))
    found = document_portrait_bytes(_png(card))
    assert found.ghosts <= 1 and found.inter_ocular_px >= 24
    threshold = MatchSettings().document_threshold
    assert face_distance(found.encoding, reference_encoding(photo(other_photo), "registration")) <= threshold
    assert face_distance(found.encoding, reference_encoding(photo(stranger), "registration")) > threshold


def test_a_document_without_a_portrait_is_refused() -> None:
    blank = np.full((640, 1012, 3), 230, dtype=np.uint8)
    with pytest.raises(DocumentRejected) as err:
        document_portrait(blank)
    assert err.value.code == "document_no_portrait"


def test_two_documents_side_by_side_are_refused() -> None:
    rng = np.random.default_rng(2)
    a, b = (
        id_card(photo("biden_1.jpg"), rng, photographed=False),
        id_card(photo("obama_1.jpg"), rng, photographed=False),
    )
    with pytest.raises(DocumentRejected) as err:
        document_portrait(np.concatenate([a, b], axis=1))
    assert err.value.code == "document_multiple_portraits"


def test_a_tiny_or_blurred_portrait_is_refused() -> None:
    card = id_card(photo("obama_1.jpg"), np.random.default_rng(3), photographed=False)
    small = cv2.resize(card, (card.shape[1] // 4, card.shape[0] // 4), interpolation=cv2.INTER_AREA)
    with pytest.raises(DocumentRejected) as err:  # a card photographed from afar: a ~47 px portrait
        document_portrait(np.asarray(small, dtype=np.uint8))
    assert err.value.code == "document_portrait_too_small", err.value.detail
    blurred = np.asarray(cv2.GaussianBlur(card, (0, 0), 6.0), dtype=np.uint8)
    with pytest.raises(DocumentRejected) as err:
        document_portrait(blurred)
    assert err.value.code == "document_blurred", err.value.detail
