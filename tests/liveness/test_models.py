"""Model loading: found without pkg_resources, never able to quit() the process, clear when missing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from liveness.errors import ModelsUnavailable
from liveness.models import MODEL_DIR_ENV, RESNET_ENCODER, SHAPE_PREDICTOR_5, locate_models
from tests.shared import REPO_ROOT, fixture_path


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != MODEL_DIR_ENV}
    environ.update(PYTHONPATH=str(REPO_ROOT), **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_importing_the_package_loads_no_model_library() -> None:
    result = _run(
        """
        import sys
        import liveness.augment, liveness.calibrate, liveness.match, liveness.pipeline, liveness.quality
        heavy = [m for m in ("dlib", "mediapipe", "pkg_resources", "face_recognition_models") if m in sys.modules]
        print("loaded:", heavy)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout


def test_loading_models_does_not_import_pkg_resources() -> None:
    result = _run(
        """
        import sys
        from liveness.models import dlib_models, face_mesh
        dlib_models(); face_mesh()
        print("pkg_resources" in sys.modules, "face_recognition_models" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False False"


def test_pipeline_runs_when_pkg_resources_is_missing() -> None:
    # setuptools >= 82 has no pkg_resources; face_recognition then calls quit(). A None entry in
    # sys.modules makes every "import pkg_resources" fail, as on such a system. quit() would exit 0,
    # so the marker printed after the work is what proves the process carried on.
    photo = fixture_path("faces", "obama_5_small.jpg")
    result = _run(
        f"""
        import sys
        sys.modules["pkg_resources"] = None
        from liveness.images import decode_image
        from liveness.pipeline import analyze_frame
        frame = analyze_frame(decode_image(open({str(photo)!r}, "rb").read()))
        print("analysed", frame.face_count, len(frame.primary.encoding))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "analysed 1 128"


def test_missing_model_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelsUnavailable, match=SHAPE_PREDICTOR_5) as info:
        locate_models(tmp_path)
    assert info.value.code == "models_unavailable"
    assert RESNET_ENCODER in str(info.value)


def test_found_model_files_exist() -> None:
    paths = locate_models()
    assert paths.shape_predictor_5.is_file() and paths.encoder.is_file()


def test_corrupt_model_files_raise_models_unavailable(tmp_path: Path) -> None:
    (tmp_path / SHAPE_PREDICTOR_5).write_bytes(b"not a model")
    (tmp_path / RESNET_ENCODER).write_bytes(b"not a model")
    result = _run(
        """
        from liveness.errors import ModelsUnavailable
        from liveness.models import dlib_models
        try:
            dlib_models()
        except ModelsUnavailable as exc:
            print("raised", exc.code)
        """,
        **{MODEL_DIR_ENV: str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "raised models_unavailable"
