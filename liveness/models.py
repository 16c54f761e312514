"""Lazy, per-process loading of the face models.

Models and licences (a lender is a commercial user):

- dlib HOG frontal face detector (built into dlib, Boost Software License);
- ``shape_predictor_5_face_landmarks.dat`` — dlib 5-point landmarks, public domain (CC0);
- ``dlib_face_recognition_resnet_model_v1.dat`` — dlib ResNet 128-d encoder, public domain (CC0);
- MediaPipe Face Mesh with attention (``face_landmark_with_attention.tflite``, 478 points with irises)
  and its BlazeFace short-range detector, shipped inside the ``mediapipe`` wheel — Apache-2.0;
- MediaPipe Face Detection, BlazeFace *full range* (``face_detection_full_range_sparse.tflite``, same wheel,
  Apache-2.0): the fallback where the frontal HOG detector finds no face (a head turned beyond ~25°).

dlib's 68-point model (iBUG 300-W, non-commercial) and its CNN detector are never loaded.

The ``.dat`` files are found inside the ``face_recognition_models`` distribution *without importing it*:
its ``__init__`` imports ``pkg_resources``, which setuptools ≥ 82 lacks, and ``face_recognition`` then
calls ``quit()``. ``importlib.util.find_spec`` locates a top-level package without executing it.

Loaded objects are cached per process id: a forked pool worker loads its own copies instead of sharing
native objects (MediaPipe's graph owns threads) with its parent.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveness.errors import ModelsUnavailable

SHAPE_PREDICTOR_5 = "shape_predictor_5_face_landmarks.dat"
RESNET_ENCODER = "dlib_face_recognition_resnet_model_v1.dat"
# Names the encoder a stored reference encoding came from (the ResNet above on faces aligned by the 5 points):
# two models' encodings are not comparable, so the service recomputes a stored one whose model differs.
ENCODING_MODEL = "dlib-resnet-v1/5pt"
# Overrides discovery, e.g. for an air-gapped deployment that ships the two files elsewhere.
MODEL_DIR_ENV = "LIVENESS_MODEL_DIR"


@dataclass(frozen=True)
class ModelPaths:
    shape_predictor_5: Path
    encoder: Path


@dataclass(frozen=True)
class DlibModels:
    """dlib objects; not picklable, so they never leave the process that loaded them."""

    detector: Any
    shape_predictor: Any
    encoder: Any


def locate_models(directory: Path | None = None) -> ModelPaths:
    """Find the dlib weight files: ``directory``, else ``$LIVENESS_MODEL_DIR``, else the
    ``face_recognition_models`` package. Raises ModelsUnavailable naming what is missing."""
    if directory is None and os.environ.get(MODEL_DIR_ENV):
        directory = Path(os.environ[MODEL_DIR_ENV])
    if directory is None:
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise ModelsUnavailable(
                "face model weights not found: install 'face-recognition-models' "
                f"or set {MODEL_DIR_ENV} to a folder holding {SHAPE_PREDICTOR_5} and {RESNET_ENCODER}"
            )
        directory = Path(next(iter(spec.submodule_search_locations))) / "models"
    paths = ModelPaths(directory / SHAPE_PREDICTOR_5, directory / RESNET_ENCODER)
    missing = [str(p) for p in (paths.shape_predictor_5, paths.encoder) if not p.is_file()]
    if missing:
        raise ModelsUnavailable(f"face model file(s) missing: {', '.join(missing)}")
    return paths


_lock = threading.Lock()
_dlib_cache: tuple[int, DlibModels] | None = None
_mesh_cache: tuple[int, Any] | None = None
_blaze_cache: tuple[int, Any] | None = None
# MediaPipe graphs are not safe to call from two threads at once.
mesh_lock = threading.Lock()


def import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise ModelsUnavailable(f"dlib is not installed ({exc}): install 'dlib-bin'") from exc
    return dlib


def dlib_models() -> DlibModels:
    """The detector, 5-point predictor and encoder for this process, loaded on first call (~0.5 s)."""
    global _dlib_cache
    pid = os.getpid()
    cached = _dlib_cache
    if cached is not None and cached[0] == pid:
        return cached[1]
    with _lock:
        if _dlib_cache is not None and _dlib_cache[0] == pid:
            return _dlib_cache[1]
        dlib = import_dlib()
        paths = locate_models()
        try:
            models = DlibModels(
                detector=dlib.get_frontal_face_detector(),
                shape_predictor=dlib.shape_predictor(str(paths.shape_predictor_5)),
                encoder=dlib.face_recognition_model_v1(str(paths.encoder)),
            )
        except RuntimeError as exc:  # dlib raises RuntimeError on a corrupt or truncated .dat
            raise ModelsUnavailable(f"cannot load face models from {paths}: {exc}") from exc
        _dlib_cache = (pid, models)
        return models


def mesh_available() -> bool:
    """Whether MediaPipe Face Mesh can be loaded (without loading it)."""
    return importlib.util.find_spec("mediapipe") is not None


def face_mesh() -> Any:
    """MediaPipe Face Mesh (static images, one face, iris refinement) for this process.

    The graph and both TFLite models are inside the wheel; nothing is downloaded at run time."""
    global _mesh_cache
    pid = os.getpid()
    cached = _mesh_cache
    if cached is not None and cached[0] == pid:
        return cached[1]
    with _lock:
        if _mesh_cache is not None and _mesh_cache[0] == pid:
            return _mesh_cache[1]
        # Quieten glog/absl start-up chatter; only if the operator has not chosen a level.
        os.environ.setdefault("GLOG_minloglevel", "2")
        try:
            from mediapipe.python.solutions import face_mesh as mp_face_mesh
        except ImportError as exc:
            raise ModelsUnavailable(
                f"MediaPipe Face Mesh unavailable ({exc}): install 'mediapipe<=0.10.21' "
                "(eye, mouth and head-pose landmarks need it)"
            ) from exc
        try:
            mesh = mp_face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=0.5,
            )
        except (RuntimeError, ValueError, FileNotFoundError) as exc:
            raise ModelsUnavailable(f"cannot start MediaPipe Face Mesh: {exc}") from exc
        _mesh_cache = (pid, mesh)
        return mesh


def blazeface() -> Any:
    """MediaPipe Face Detection (BlazeFace full range, faces up to ~5 m) for this process; in the wheel.

    Callers hold :data:`mesh_lock` while running it (MediaPipe graphs are not thread-safe)."""
    global _blaze_cache
    pid = os.getpid()
    cached = _blaze_cache
    if cached is not None and cached[0] == pid:
        return cached[1]
    with _lock:
        if _blaze_cache is not None and _blaze_cache[0] == pid:
            return _blaze_cache[1]
        os.environ.setdefault("GLOG_minloglevel", "2")
        try:
            from mediapipe.python.solutions import face_detection as mp_face_detection
        except ImportError as exc:
            raise ModelsUnavailable(
                f"MediaPipe Face Detection unavailable ({exc}): install 'mediapipe<=0.10.21'"
            ) from exc
        try:
            detector = mp_face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        except (RuntimeError, ValueError, FileNotFoundError) as exc:
            raise ModelsUnavailable(f"cannot start MediaPipe Face Detection: {exc}") from exc
        _blaze_cache = (pid, detector)
        return detector
