"""/v1/identifications/{id}/liveness: the script to follow, and the capture made under it (R-7.3b)."""

from __future__ import annotations

import json
from typing import Any, Literal

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, Field

from authsvc import error_codes
from authsvc.api.examples import ID
from authsvc.api.factor_steps import DEVICE_SIGNALS, SIGNAL_POLICY, device_signals
from authsvc.api.middlewares import current_lender
from authsvc.api.routing import IDENT_ID, Operation, Operations
from authsvc.api.state import FLOWS, LIVENESS, SETTINGS
from authsvc.cabinet.faces import DOCUMENT_FIELD
from authsvc.errors import AuthsvcError, BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from authsvc.flows.recorder import Attempt, StepRecorder
from authsvc.flows.session import StepOutcome, View
from authsvc.flows.signals import DeviceSignals
from authsvc.methods.face_references import DOCUMENT_ERRORS
from authsvc.methods.liveness import METHOD, Upload
from authsvc.store.identifications import Identification


class ScriptOut(BaseModel):
    challenge_id: str = Field(description="send it back with the capture")
    script: dict[str, Any] = Field(
        description="head actions and colour flashes with their times (ms from the start of recording), "
        "nonce and expiry; show the flashes full-screen, at most 3 per second"
    )


class CheckOut(BaseModel):
    name: str
    passed: bool
    score: float
    gating: bool


class LivenessOut(BaseModel):
    step_id: str
    method: Literal["liveness"] = "liveness"
    passed: bool
    reasons: list[str] = Field(description="failed gating checks, reuse and input problems")
    checks: list[CheckOut] = Field(
        description="every check with its score; face_match (the registration photo) and document_match (the "
        "identity document's portrait, R-7.3b(i)) score the median face distance, lower is closer"
    )
    matched: list[str] = Field(description='the references the live face matched: "registration", "document"')
    identification_status: str = Field(description="pending, completed, failed or expired after this step")
    next_methods: list[str] = Field(description="step methods that would still make progress")


def upload_form(**extra: dict[str, Any]) -> dict[str, Any]:
    """The capture's multipart form: a video, or frames (read_capture refuses both and neither), each form
    with the parts it may carry; ``extra``: more optional parts (the hosted page's flash times)."""
    common = {
        "challenge_id": {"type": "string", "maxLength": 64, "pattern": "\\S", "examples": [ID]},
        "timestamps_ms": {"type": "string", "description": "JSON list of frame times in ms (with frames)"},
        **extra,
    }
    media = {
        "video": {"type": "string", "format": "binary", "description": "MP4 or WebM"},
        "frame": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "minItems": 1,
            "description": "JPEG/PNG frames, in order",
        },
    }
    forms = [
        {
            "title": f"Capture{name.title()}",
            "type": "object",
            "required": ["challenge_id", name],
            "additionalProperties": False,
            "properties": {**common, name: part},
        }
        for name, part in media.items()
    ]
    return {"multipart/form-data": {"schema": {"oneOf": forms}}}


UPLOAD_DOCUMENT_PART = {
    "type": "string",
    "format": "binary",
    "description": "optional: the identity document's image (JPEG/PNG, or a one-page PDF of the scan), checked "
    "before the script is spent; the live face is matched to its portrait (R-7.3b(i)) instead of the one on file, "
    "and it is kept as the client's document when the step passes; needed when the profile requires the match "
    "and the client has none on file (the identification's `needs` says so)",
}
UPLOAD_SCHEMA = upload_form(**{DOCUMENT_FIELD: UPLOAD_DOCUMENT_PART})


async def issue_script(request: web.Request) -> web.Response:
    ident = await request.app[FLOWS].open_for(current_lender(request).id, request.match_info["identification_id"])
    challenge_id, script = await request.app[LIVENESS].issue(ident)
    return web.json_response(text=ScriptOut(challenge_id=challenge_id, script=script).model_dump_json(), status=201)


async def read_upload(request: web.Request, max_bytes: int, max_frames: int) -> tuple[str, Upload]:
    """Stream the multipart body under the caps: nothing larger is ever held or decoded."""
    challenge_id, upload, _ = await read_capture(request, max_bytes, max_frames)
    return challenge_id, upload


async def read_capture_and_document(
    request: web.Request, max_bytes: int, max_frames: int
) -> tuple[str, Upload, bytes | None]:
    """`read_upload`, with the identity document's image when one is given."""
    challenge_id, upload, extra = await read_capture(request, max_bytes, max_frames, extra=(DOCUMENT_FIELD,))
    return challenge_id, upload, extra.get(DOCUMENT_FIELD)


async def read_capture(
    request: web.Request, max_bytes: int, max_frames: int, extra: tuple[str, ...] = ()
) -> tuple[str, Upload, dict[str, bytes]]:
    """`read_upload`, also keeping the ``extra`` parts a caller accepts (the hosted page's flash times)."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("send the capture as multipart/form-data", code=error_codes.WRONG_CONTENT_TYPE)
    fields: dict[str, bytes] = {}
    frames: list[bytes] = []
    total = 0
    accepted = ("challenge_id", "video", "frame", "timestamps_ms", *extra)
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name not in accepted:
                raise ValidationFailed(
                    f"unexpected part {getattr(part, 'name', None)!r}", code=error_codes.UNKNOWN_FIELD
                )
            data = bytearray()
            while chunk := await part.read_chunk(1 << 16):
                total += len(chunk)
                if total > max_bytes:
                    raise PayloadTooLarge(f"capture larger than {max_bytes} bytes", code=error_codes.CAPTURE_TOO_LARGE)
                data += chunk
            if part.name == "frame":
                frames.append(bytes(data))
                if len(frames) > max_frames:
                    raise PayloadTooLarge(f"more than {max_frames} frames", code=error_codes.CAPTURE_TOO_LARGE)
            else:
                fields[part.name] = bytes(data)
    except AuthsvcError:  # ours (unknown_field, capture_too_large) are answers, not a broken body
        raise
    except (ValueError, AssertionError, RuntimeError, HttpProcessingError) as exc:
        # aiohttp reports broken part headers as HttpProcessingError (found by the schemathesis fuzzing)
        raise BadRequest("malformed multipart body", code=error_codes.MALFORMED_MULTIPART) from exc
    extras = {name: fields.pop(name) for name in extra if name in fields}
    challenge_id = fields.get("challenge_id", b"").decode(errors="replace").strip()
    if not challenge_id:
        raise ValidationFailed("challenge_id is required", code=error_codes.MISSING_FIELD)
    if "video" in fields and frames:
        raise ValidationFailed("send either a video or frames, not both", code=error_codes.VALIDATION_FAILED)
    if "video" in fields:
        return challenge_id, fields["video"], extras
    if not frames:
        raise ValidationFailed("send a video or frames", code=error_codes.MISSING_FIELD)
    try:
        times = json.loads(fields.get("timestamps_ms", b""))
        if not (isinstance(times, list) and len(times) == len(frames)):
            raise ValueError
        stamps = [float(t) for t in times]
    except AuthsvcError:
        raise
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            "timestamps_ms must be a JSON list with one time per frame", code=error_codes.BAD_TIMESTAMPS
        ) from exc
    return challenge_id, list(zip(frames, stamps, strict=True)), extras


class NeedOut(BaseModel):
    method: str = Field(description="the step that needs it")
    input: str = Field(description="what to give with that step (a part of its upload)")
    requirement: str = Field(description="the requirement id asking for it (REGULATION.md)")
    reason: str


async def document_need(app: web.Application, view: View) -> NeedOut | None:
    """The identity document a pending identification's liveness step still needs: its profile matches the live
    face to the document (R-7.3b(i)) and the client has none on file. None when nothing is missing."""
    profile = view.profile
    if view.ident.status.value != "pending" or METHOD not in view.judgement.next_methods:
        return None
    if not await app[LIVENESS].document_needed(view.ident, profile.document_match == "required"):
        return None
    return NeedOut(
        method=METHOD,
        input=DOCUMENT_FIELD,
        requirement=profile.document_requirement,
        reason=f"under {profile.name} the live face is matched to the identity document's portrait, and this "
        f"client has none on file: give its image (JPEG/PNG/PDF) as the {DOCUMENT_FIELD} part of the capture",
    )


async def submit_liveness(
    app: web.Application,
    lender_id: str,
    ident_id: str,
    challenge_id: str,
    upload: Upload,
    device: DeviceSignals | None = None,
    document: bytes | None = None,
) -> tuple[StepOutcome, list[dict[str, Any]]]:
    """The liveness step through the flow (the lender's API and the hosted page both call it): the outcome
    and every check's score. ``document``: the identity document's image given with the capture."""
    method, flows = app[LIVENESS], app[FLOWS]
    checks: list[dict[str, Any]] = []

    async def work(ident: Identification, records: StepRecorder) -> Attempt:
        required = flows.profile_of(ident).document_match == "required"
        outcome = await method.submit(
            ident, challenge_id, upload, records, document=document, document_required=required
        )
        checks.extend(outcome.checks)
        return Attempt(outcome.passed, written=True)

    done = await flows.step(lender_id, ident_id, METHOD, work, device)
    return done, checks


async def submit_capture(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS].liveness
    challenge_id, upload, document = await read_capture_and_document(
        request, settings.upload_max_bytes, settings.max_frames
    )
    done, checks = await submit_liveness(
        request.app,
        current_lender(request).id,
        request.match_info["identification_id"],
        challenge_id,
        upload,
        device_signals(request),
        document,
    )
    view = done.view
    out = LivenessOut(
        step_id=done.step.id,
        passed=done.step.outcome == "passed",
        reasons=list(done.step.details.get("reasons", [])),
        checks=[CheckOut(**c) for c in checks],
        matched=list(done.step.details.get("matched", [])),
        identification_status=view.ident.status.value,
        next_methods=list(view.judgement.next_methods) if view.ident.status.value == "pending" else [],
    )
    return web.json_response(text=out.model_dump_json())


# What a capture the schema accepts can be refused for: its bytes (no video, no face, out of order) and
# timestamps_ms that do not give one time per frame (parts a schema cannot relate).
CAPTURE_REFUSALS = (
    error_codes.BAD_TIMESTAMPS,
    error_codes.CAPTURE_OUT_OF_ORDER,
    error_codes.CAPTURE_REJECTED,
    error_codes.CAPTURE_UNDECODABLE,
    error_codes.FACE_NOT_FOUND,
    error_codes.IMAGE_REJECTED,
    error_codes.IMAGE_TOO_LARGE,
    error_codes.IMAGE_UNDECODABLE,
)
# The codes submitting a capture can answer (also the hosted page's upload).
SUBMIT_ERRORS = (
    error_codes.MALFORMED_MULTIPART,
    error_codes.CHALLENGE_NOT_FOUND,
    error_codes.CLIENT_NOT_FOUND,
    error_codes.IDENTIFICATION_NOT_FOUND,
    error_codes.CAPTURE_REUSED,
    error_codes.CHALLENGE_USED,
    error_codes.IDENTIFICATION_CLOSED,
    error_codes.CAPTURE_TOO_LARGE,
    error_codes.WRONG_CONTENT_TYPE,
    *CAPTURE_REFUSALS,
    error_codes.MISSING_FIELD,
    error_codes.SCRIPT_EXPIRED,
    error_codes.SCRIPT_INVALID,
    error_codes.SCRIPT_REJECTED,
    error_codes.UNKNOWN_FIELD,
    error_codes.VALIDATION_FAILED,
    error_codes.RECORD_TAMPERED,
    error_codes.MODELS_UNAVAILABLE,
)
# The codes the identity document given with a capture can answer (its file checks, then its portrait's).
DOCUMENT_FILE_ERRORS = (
    error_codes.EMPTY_FILE,
    error_codes.FILE_TOO_LARGE,
    error_codes.UNSUPPORTED_FILE_TYPE,
    error_codes.CORRUPT_IMAGE,
    error_codes.IMAGE_TOO_SMALL,
    *DOCUMENT_ERRORS,
)
DOCUMENT_PART_ERRORS = (error_codes.IDENTITY_DOCUMENT_REQUIRED, *DOCUMENT_FILE_ERRORS)


def register(ops: Operations) -> None:
    ops.add(
        Operation(
            "POST",
            "/v1/identifications/{identification_id}/liveness/script",
            issue_script,
            "issueLivenessScript",
            "A random, short-lived liveness script (head turns, blink, colour flashes) bound to a single-use challenge",
            responses={201: ScriptOut, 404: None},
            params=(IDENT_ID,),
            tags=("liveness",),
            errors=(
                error_codes.IDENTIFICATION_NOT_FOUND,
                error_codes.IDENTIFICATION_CLOSED,
            ),
        )
    )
    ops.add(
        Operation(
            "POST",
            "/v1/identifications/{identification_id}/liveness",
            submit_capture,
            "submitLivenessCapture",
            "The capture made under the script (video or timed frames), optionally with the identity document's "
            "image: every liveness check, then the face match against the registration photo and the identity "
            "document's portrait (R-7.3b); a capture seen before never passes (R-12.3)",
            responses={200: LivenessOut, 404: None, 409: None},
            params=(IDENT_ID, DEVICE_SIGNALS),
            tags=("liveness",),
            request_content=UPLOAD_SCHEMA,
            errors=(*error_codes.STEP_GATES, *SUBMIT_ERRORS, *DOCUMENT_PART_ERRORS),
            beyond_schema=(*CAPTURE_REFUSALS, *SIGNAL_POLICY),
        )
    )
