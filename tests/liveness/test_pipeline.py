"""Per-frame analysis on the real photos: faces, encodings, pose angles, eye and mouth openness."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from liveness.detect import detect_faces, face_distance
from liveness.pipeline import FrameAnalysis, PipelineSettings, analyze_frame
from tests.liveness.photos import photo, rotate

# Studio portraits looking straight into the camera.
FRONTAL = ["alex_lacamoire_1.jpg", "obama_1.jpg", "biden_2.jpg"]


@pytest.mark.parametrize("name", FRONTAL)
def test_pose_is_near_zero_on_frontal_portraits(name: str) -> None:
    face = analyze_frame(photo(name), PipelineSettings(encode=False)).primary
    assert face is not None and face.pose.source == "mesh"
    assert face.pose.pitch is not None
    for angle in (face.pose.yaw, face.pose.pitch, face.pose.roll):
        assert abs(angle) < 8.0, face.pose
    assert face.eyes is not None and face.eyes.mean > 0.18  # eyes open in every one of them


@pytest.mark.parametrize("degrees", [-30, 20, 30])
@pytest.mark.parametrize("use_mesh", [True, False])
def test_roll_follows_an_in_plane_rotation(degrees: int, use_mesh: bool) -> None:
    image = photo("alex_lacamoire_1.jpg")
    settings = PipelineSettings(encode=False, use_mesh=use_mesh)
    base = analyze_frame(image, settings).primary
    turned = analyze_frame(rotate(image, degrees), settings).primary
    assert base is not None and turned is not None
    # A counter-clockwise image rotation turns the eye line anticlockwise: roll falls by that angle.
    assert turned.pose.roll - base.pose.roll == pytest.approx(-degrees, abs=4.0)
    assert turned.pose.source == ("mesh" if use_mesh else "five_point")


def test_mirroring_flips_the_sign_of_yaw() -> None:
    image = photo("obama_2.jpg")  # head visibly turned
    settings = PipelineSettings(encode=False)
    face = analyze_frame(image, settings).primary
    mirrored = analyze_frame(np.ascontiguousarray(image[:, ::-1]), settings).primary
    assert face is not None and mirrored is not None
    assert abs(face.pose.yaw) > 8.0
    assert mirrored.pose.yaw == pytest.approx(-face.pose.yaw, abs=3.0)


def test_mouth_openness_separates_closed_lips_from_a_smile() -> None:
    settings = PipelineSettings(encode=False)
    closed = analyze_frame(photo("biden_1.jpg"), settings).primary  # lips together
    smiling = analyze_frame(photo("biden_2.jpg"), settings).primary  # teeth showing
    assert closed is not None and smiling is not None
    assert closed.mouth_openness is not None and smiling.mouth_openness is not None
    assert closed.mouth_openness < 0.05 < 0.12 < smiling.mouth_openness


def test_every_face_in_a_group_photo_is_found() -> None:
    image = photo("obama_and_biden.jpg")
    boxes = detect_faces(image, upsample=1)
    assert len(boxes) == 3  # Biden, Obama and a child at the edge
    assert [b.area for b in boxes] == sorted((b.area for b in boxes), reverse=True)
    analysis = analyze_frame(image, PipelineSettings(upsample=1, max_faces=2))
    assert analysis.face_count == 3 and len(analysis.faces) == 2
    assert analysis.faces[0].encoding is not None and analysis.faces[1].encoding is not None
    # Two different people.
    assert face_distance(analysis.faces[0].encoding, analysis.faces[1].encoding) > 0.6


def test_no_face_gives_an_empty_analysis() -> None:
    blank = np.full((480, 640, 3), 200, dtype=np.uint8)
    analysis = analyze_frame(blank)
    assert analysis.face_count == 0 and analysis.primary is None


def test_mesh_points_lie_on_the_face() -> None:
    face = analyze_frame(photo("obama_1.jpg"), PipelineSettings(encode=False)).primary
    assert face is not None and face.mesh is not None
    assert face.mesh.shape == (478, 3)
    box = face.box
    # The 5-point eyes and the mesh eyes agree to within a tenth of the eye distance.
    mesh_eyes = sorted(
        [face.mesh[[33, 133], :2].mean(axis=0), face.mesh[[362, 263], :2].mean(axis=0)], key=lambda p: p[0]
    )
    five_eyes = sorted([face.landmarks5[0:2].mean(axis=0), face.landmarks5[2:4].mean(axis=0)], key=lambda p: p[0])
    for m, f in zip(mesh_eyes, five_eyes, strict=True):
        assert np.linalg.norm(m - f) < 0.1 * face.inter_ocular_px
    assert box.left <= face.mesh[1, 0] <= box.right  # nose tip inside the box


def test_encodings_are_stable_and_jitter_is_configurable() -> None:
    image = photo("obama_5_small.jpg")
    a = analyze_frame(image).primary
    b = analyze_frame(image, PipelineSettings(num_jitters=3)).primary
    assert a is not None and b is not None and a.encoding is not None and b.encoding is not None
    assert a.encoding.shape == (128,)
    again = analyze_frame(image).primary
    assert again is not None and again.encoding is not None
    assert face_distance(a.encoding, again.encoding) == 0.0  # deterministic without jitter
    assert 0.0 < face_distance(a.encoding, b.encoding) < 0.15  # jitter averages perturbed crops


def test_analysis_runs_in_a_spawned_process_pool_and_pickles() -> None:
    image = photo("obama_4_480p.jpg")
    ctx = multiprocessing.get_context("spawn")  # the strictest start method: nothing inherited
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        remote: FrameAnalysis = pool.submit(analyze_frame, image, PipelineSettings()).result(timeout=120)
    local = analyze_frame(image)
    assert remote.face_count == local.face_count == 1
    assert remote.primary is not None and local.primary is not None
    assert remote.primary.encoding is not None and local.primary.encoding is not None
    assert face_distance(remote.primary.encoding, local.primary.encoding) < 1e-6
    again: FrameAnalysis = pickle.loads(pickle.dumps(local))
    assert again.primary is not None and again.primary.mesh is not None and local.primary.mesh is not None
    assert again.primary.box == local.primary.box and again.primary.pose == local.primary.pose
    assert np.array_equal(again.primary.mesh, local.primary.mesh)
