"""The Face Mesh's landmarks read from their wire bytes equal the attribute-by-attribute reading."""

from __future__ import annotations

import numpy as np
from mediapipe.framework.formats import landmark_pb2
from numpy.typing import NDArray

from liveness.mesh import MESH_POINTS, _points


def _landmarks(seed: int) -> landmark_pb2.NormalizedLandmarkList:
    rng = np.random.default_rng(seed)
    out = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in rng.normal(0.5, 0.3, (MESH_POINTS, 3)).astype(np.float32):
        out.landmark.add(x=float(x), y=float(y), z=float(z))
    out.landmark[7].z = 0.0  # set, though zero: still serialised
    out.landmark[9].x = -0.0
    return out


def _by_attribute(landmarks: landmark_pb2.NormalizedLandmarkList) -> NDArray[np.float32]:
    return np.array([[lm.x, lm.y, lm.z] for lm in landmarks.landmark], dtype=np.float32)


def test_points_from_wire_bytes_equal_the_attributes() -> None:
    landmarks = _landmarks(1)
    points = _points(landmarks)
    assert points.shape == (MESH_POINTS, 3) and points.dtype == np.float32
    assert np.array_equal(points, _by_attribute(landmarks))
    points *= 2.0  # the caller scales in place: the result must be writable and its own
    assert np.array_equal(_points(landmarks), _by_attribute(landmarks))


def test_other_layouts_fall_back_to_the_attributes() -> None:
    landmarks = _landmarks(2)
    landmarks.landmark[3].visibility = 0.5  # a 22-byte landmark among 17-byte ones
    assert np.array_equal(_points(landmarks), _by_attribute(landmarks))
    every = _landmarks(3)
    for lm in every.landmark:  # every landmark 22 bytes: a whole number of 17-byte rows no more
        lm.presence = 0.25
    assert np.array_equal(_points(every), _by_attribute(every))
    missing = landmark_pb2.NormalizedLandmarkList()
    for i in range(MESH_POINTS):
        missing.landmark.add(x=0.1 * (i % 7), y=0.2)  # z unset: 12 bytes each
    assert np.array_equal(_points(missing), _by_attribute(missing))
