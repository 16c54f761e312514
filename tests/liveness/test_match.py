"""Face matching on the real photos: against a registration photo and a degraded document photo."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from liveness import augment
from liveness.calibrate import CANDIDATES, choose_threshold, rates
from liveness.detect import Encoding, detect_faces
from liveness.errors import FaceNotFound
from liveness.images import RGBImage
from liveness.match import MatchSettings, compare, match_against, reference_encoding
from liveness.pipeline import analyze_frame
from tests.liveness.photos import photo


@cache
def live(name: str) -> Encoding:
    """The encoding of a shared photo used as a live frame."""
    face = analyze_frame(photo(name)).primary
    assert face is not None and face.encoding is not None
    return face.encoding


def id_card_photo(name: str, seed: int = 3) -> RGBImage:
    """A portrait crop of the photo as printed on an identity card (small, faded, guilloche overprint)."""
    image = photo(name)
    box = detect_faces(image, upsample=1)[0]
    cx, cy = box.center
    half = box.width
    crop = image[max(0, int(cy - 1.2 * half)) : int(cy + 1.3 * half), max(0, int(cx - half)) : int(cx + half)]
    return augment.document_scan(np.ascontiguousarray(crop), np.random.default_rng(seed))


@pytest.mark.parametrize(("probe", "reference"), [("obama_4_480p.jpg", "obama_1.jpg"), ("biden_1.jpg", "biden_2.jpg")])
def test_same_person_matches_the_registration_photo(probe: str, reference: str) -> None:
    result = match_against(photo(reference), "registration", [live(probe)])
    assert result.matched and result.distance <= result.threshold == MatchSettings().registration_threshold


@pytest.mark.parametrize(
    ("probe", "reference"), [("obama_4_480p.jpg", "biden_2.jpg"), ("lin_manuel_miranda_1.png", "alex_lacamoire_3.jpg")]
)
def test_different_people_do_not_match(probe: str, reference: str) -> None:
    result = match_against(photo(reference), "registration", [live(probe)])
    assert not result.matched and result.distance > result.threshold


def test_live_frame_matches_the_document_photo_of_the_same_person_only() -> None:
    card = id_card_photo("obama_1.jpg")
    assert max(card.shape[:2]) <= 210  # as small as a card photo in a phone capture
    same = match_against(card, "document", [live("obama_5_small.jpg"), live("obama_6_partial.jpg")])
    other = match_against(card, "document", [live("alex_lacamoire_1.jpg"), live("biden_2.jpg")])
    assert same.matched and not other.matched
    assert same.threshold == MatchSettings().document_threshold


def test_median_outvotes_one_odd_frame_and_per_frame_distances_show_it() -> None:
    reference = live("obama_1.jpg")
    frames = [live("obama_4_480p.jpg"), live("obama_5_small.jpg"), live("biden_2.jpg")]
    result = compare(reference, frames, threshold=0.56, kind="registration")
    assert result.matched
    assert result.distances[2] > 0.6 > max(result.distances[:2])  # the cut to another person is visible


def test_reference_without_a_face_is_a_named_error() -> None:
    with pytest.raises(FaceNotFound) as info:
        reference_encoding(np.full((300, 240, 3), 128, dtype=np.uint8), "document")
    assert info.value.code == "face_not_found"
    with pytest.raises(ValueError, match="at least one"):
        compare(live("obama_1.jpg"), [], threshold=0.6, kind="registration")


@pytest.mark.parametrize(
    ("genuine", "impostor", "expected"),
    [
        ([0.3, 0.4, 0.5], [0.7, 0.8], 0.5),  # clean separation: the lowest threshold with FNMR 0
        ([0.3, 0.55, 0.65], [0.6, 0.9], 0.56),  # overlap: fewest misses without a false match
        ([0.3], [0.2], None),  # no candidate keeps FMR ≤ 0.1 %
    ],
)
def test_threshold_choice(genuine: list[float], impostor: list[float], expected: float | None) -> None:
    assert choose_threshold(genuine, impostor) == expected


def test_rates() -> None:
    assert rates([0.3, 0.7], [0.5, 0.9], 0.6) == (0.5, 0.5)
    assert CANDIDATES[0] == 0.40 and CANDIDATES[-1] == 0.76
