"""CDAO client against the simulator matching faces for real (liveness.match) on the shared photos."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from authsvc.errors import PayloadTooLarge
from authsvc.parties.cdao import CdaoClient, CdaoNoPhotoOnFile, CdaoPersonNotFound, CdaoPoorQuality
from authsvc.parties.jsonapi import UpstreamRejected
from simulators.cdao.app import create_app
from simulators.population import build_population
from tests.parties.simkit import endpoint
from tests.shared import fixture_path

PEOPLE = build_population()
ARMAN = PEOPLE["arman"]  # state photo obama_1.jpg
LIMIT = 700_000


def face(name: str) -> bytes:
    return fixture_path("faces", name).read_bytes()


@pytest.fixture
async def cdao(aiohttp_server: Any) -> Any:
    # A 700 kB image limit lets the 413 path be tested with a body small enough to send in one piece.
    app = create_app(faces_dir=fixture_path("faces"), matcher="face", max_image_bytes=LIMIT, population=PEOPLE)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        # Face encoding takes a few hundred ms per photo on one core.
        yield CdaoClient(session, endpoint(server, timeout=20.0))


@pytest.mark.slow
async def test_another_photo_of_the_same_person_matches_and_others_do_not(cdao: CdaoClient) -> None:
    same = await cdao.verify(ARMAN.iin, face("obama_2.jpg"), request_id="r-1")
    assert same.match and same.method == "face_encoding" and same.request_id == "r-1"
    assert same.score >= same.threshold
    other = await cdao.verify(ARMAN.iin, face("biden_2.jpg"))
    assert not other.match and other.score < other.threshold
    assert (await cdao.verify(PEOPLE["timur"].iin, face("lin_manuel_miranda_1.png"))).match


@pytest.mark.slow
async def test_unusable_photos_name_the_reason(cdao: CdaoClient) -> None:
    with pytest.raises(CdaoPoorQuality) as several:
        await cdao.verify(ARMAN.iin, face("obama_and_biden.jpg"))
    assert several.value.reason == "several_faces" and several.value.status == 422
    with pytest.raises(CdaoPoorQuality) as garbage:
        await cdao.verify(ARMAN.iin, b"\xff\xd8\xff not really a jpeg")
    assert garbage.value.reason == "undecodable"


async def test_person_side_refusals(cdao: CdaoClient) -> None:
    with pytest.raises(CdaoNoPhotoOnFile):
        await cdao.verify(PEOPLE["dana"].iin, face("obama_2.jpg"))
    with pytest.raises(CdaoPersonNotFound):
        await cdao.verify("811201401188", face("obama_2.jpg"))
    with pytest.raises(UpstreamRejected) as err:
        await cdao.verify("123456789011", face("obama_2.jpg"))
    assert err.value.extra["upstream_code"] == "invalid_iin"
    with pytest.raises(PayloadTooLarge):
        await cdao.verify(ARMAN.iin, b"\xff\xd8\xff" + bytes(LIMIT))
