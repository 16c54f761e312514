"""Locate the project's shared fixtures (``../shared`` beside the repository), failing loudly if absent."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The shared folder: ``$AUTHSVC_SHARED_DIR`` or ``<repo>/../shared``. Raises if it is missing."""
    path = Path(os.environ.get("AUTHSVC_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()
    if not (path / "fixtures").is_dir():
        raise RuntimeError(
            f"shared fixtures not found at {path}: the tests read real NCA and face data from "
            "../shared (set AUTHSVC_SHARED_DIR to override)"
        )
    return path


def fixture_path(*parts: str) -> Path:
    """A file or folder under shared/fixtures; raises FileNotFoundError naming the path if it is absent."""
    path = shared_dir().joinpath("fixtures", *parts)
    if not path.exists():
        raise FileNotFoundError(f"shared fixture missing: {path}")
    return path
