"""The registration photo's content check (R-6.1) for the client registry, run in the process pool.

It plugs the liveness package's quality assessment (one frontal face, mouth closed, eyes open, light
background, sharp, well exposed, large enough) into the registry's `PhotoInspector` seam. dlib holds the
GIL, so the work runs in the service's process pool and the event loop stays free.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from concurrent.futures import Executor

from authsvc.cabinet.media import Inspection, Media
from authsvc.errors import ConfigError


def quality_fields() -> set[str]:
    from liveness.quality import QualitySettings

    return {f.name for f in dataclasses.fields(QualitySettings)}


def assess(data: bytes, overrides: Mapping[str, float]) -> Inspection:
    """Named reasons the photo fails (empty when it passes) and, when it passes, its face's packed encoding:
    the assessment encodes the face as `liveness.match.reference_encoding` does (upsample 1, one jitter), so
    it is the client's face reference. Runs in a worker process."""
    from liveness.errors import ImageRejected
    from liveness.match import pack_encoding
    from liveness.quality import QualitySettings, assess_photo_bytes

    settings = dataclasses.replace(QualitySettings(), **dict(overrides))  # type: ignore[arg-type]
    try:
        report = assess_photo_bytes(data, settings)
    except ImageRejected as exc:
        return Inspection([exc.code])
    reasons = list(dict.fromkeys(report.reasons))  # each reason once, in order
    face = report.face
    encoding = pack_encoding(face.encoding) if not reasons and face is not None and face.encoding is not None else None
    return Inspection(reasons, encoding)


class FaceQualityInspector:
    def __init__(self, executor: Executor, overrides: Mapping[str, float] | None = None) -> None:
        unknown = set(overrides or {}) - quality_fields()
        if unknown:
            raise ConfigError(f"unknown photo quality limits: {', '.join(sorted(unknown))}")
        self._executor = executor
        self._overrides = dict(overrides or {})

    async def inspect(self, photo: Media) -> Inspection:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, assess, photo.data, self._overrides)
