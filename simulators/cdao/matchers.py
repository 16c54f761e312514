"""How the CDAO simulator compares a submitted photo with the state photo on file.

* :class:`FaceMatcher` matches for real with the project's ``liveness.match`` (dlib 128-d encodings,
  its calibrated registration threshold by default; FACE.md): any photo of the same person matches.
* :class:`HashMatcher` is the fallback when the face stack is not importable: a register of the
  SHA-256 of every image in the faces folder, each labelled with its subject (the file name up to the
  first ``_<digit>``: ``obama_4_480p.jpg`` → ``obama``). A probe matches when it is byte-for-byte one
  of the registered photos of the same subject; any other image is "no match". Good enough for
  contract tests, useless for judging biometrics.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class PoorQuality(Exception):
    """The probe cannot be compared (undecodable, no face, several faces, face too small)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Outcome:
    match: bool
    score: float  # similarity in [0, 1]; higher is more alike
    threshold: float  # the score at and above which the service calls it a match


class Matcher(Protocol):
    method: str

    def compare(self, probe: bytes, reference: Path) -> Outcome: ...


def subject_of(file_name: str) -> str:
    return re.split(r"_\d", Path(file_name).stem, maxsplit=1)[0]


class HashMatcher:
    method = "exact_hash"

    def __init__(self, faces_dir: Path) -> None:
        self._subjects = {
            hashlib.sha256(path.read_bytes()).hexdigest(): subject_of(path.name)
            for path in sorted(faces_dir.iterdir())
            if path.suffix.lower() in (".jpg", ".jpeg", ".png")
        }

    def compare(self, probe: bytes, reference: Path) -> Outcome:
        if not (probe.startswith(b"\xff\xd8\xff") or probe.startswith(b"\x89PNG\r\n\x1a\n")):
            raise PoorQuality("undecodable", "the image is not a JPEG or PNG")
        subject = self._subjects.get(hashlib.sha256(probe).hexdigest())
        same = subject is not None and subject == subject_of(reference.name)
        return Outcome(match=same, score=1.0 if same else 0.0, threshold=1.0)


class FaceMatcher:
    """Real face comparison through ``liveness.match`` (imported lazily: dlib is heavy)."""

    method = "face_encoding"

    def __init__(self, max_distance: float | None = None, min_inter_ocular_px: float = 20.0) -> None:
        from liveness.errors import ImageRejected
        from liveness.images import decode_image
        from liveness.match import MatchSettings, compare, reference_encoding
        from liveness.models import dlib_models
        from liveness.pipeline import PipelineSettings, analyze_frame

        dlib_models()  # load the weights now: a missing model fails here, not on the first request
        self._rejected = ImageRejected
        self._decode = decode_image
        self._analyze = analyze_frame
        self._compare = compare
        self._reference_encoding = reference_encoding
        # Upsample once: selfies sent by phone apps may hold a small face.
        self._settings = PipelineSettings(upsample=1, use_mesh=False, max_faces=1)
        self._max_distance = MatchSettings().registration_threshold if max_distance is None else max_distance
        self._min_iod = min_inter_ocular_px
        self._references: dict[Path, Any] = {}

    def _encode_probe(self, data: bytes) -> Any:
        try:
            frame = self._analyze(self._decode(data), self._settings)
        except self._rejected as exc:
            raise PoorQuality("undecodable", str(exc)) from exc
        if frame.face_count == 0 or frame.primary is None or frame.primary.encoding is None:
            raise PoorQuality("no_face", "no face found in the image")
        if frame.face_count > 1:
            raise PoorQuality("several_faces", f"{frame.face_count} faces in the image; send one")
        if frame.primary.inter_ocular_px < self._min_iod:
            raise PoorQuality("face_too_small", "the face is too small to compare")
        return frame.primary.encoding

    def compare(self, probe: bytes, reference: Path) -> Outcome:
        encoding = self._encode_probe(probe)
        if reference not in self._references:
            image = self._decode(reference.read_bytes())
            self._references[reference] = self._reference_encoding(image, "registration")
        result = self._compare(
            self._references[reference], [encoding], threshold=self._max_distance, kind="registration"
        )
        return Outcome(
            match=result.matched,
            score=round(max(0.0, 1.0 - result.distance), 4),
            threshold=round(1.0 - self._max_distance, 4),
        )


def choose_matcher(kind: str, faces_dir: Path, max_distance: float | None) -> Matcher:
    """``face`` or ``hash`` as asked; ``auto`` takes ``face`` when the liveness stack imports."""
    if kind == "hash":
        return HashMatcher(faces_dir)
    try:
        return FaceMatcher(max_distance)
    except (ImportError, RuntimeError):  # no liveness package, or its models (ModelsUnavailable)
        if kind == "face":
            raise
        return HashMatcher(faces_dir)
