"""The liveness step (R-7.3b, R-NB.1, R-12.3): a random, short-lived script bound to a single-use
challenge; the capture made under it is judged by every check of `liveness.decision` (in the process
pool: dlib holds the GIL) against the client's face references — the registration photo (``face_match``)
and the identity document's portrait (``document_match``, R-7.3b(i)), each with its own threshold — read
sealed from the registry, never re-encoded per submission; a capture seen before — byte for byte or
near-identical by its perceptual fingerprint — never passes again. Raw media and the best frame are kept
sealed only for `liveness.media_retention_s`; the decision and scores stay in the audit log.

The document may come with the capture: checked before the script is spent (a bad one is a 422 the lender
can act on), matched in place of the one on file, and kept — sealed, with its encoding — only when the step
passes, so a document that fails the match never becomes the client's. A profile may require the document
(``[liveness] document_match = "required"``); a capture for a client without one is then refused before
the script is spent (422 ``identity_document_required``).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authsvc import error_codes, metrics
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.cabinet.faces import DOCUMENT_FIELD, CheckedDocument
from authsvc.cabinet.service import ClientRegistry
from authsvc.config import LivenessStepSettings
from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound, ValidationFailed, error_for
from authsvc.store import challenges, evidence, identifications, steps
from authsvc.store import liveness as captures
from authsvc.store.db import Database

METHOD = "liveness"
Upload = bytes | Sequence[tuple[bytes, float]]


# --- process-pool functions (module level, picklable) -----------------------------------------------


def decide(upload: Upload, script_json: str, references: dict[str, bytes], limits: dict[str, int], now_ms: int) -> Any:
    """Judge the capture against the packed reference encodings by kind ("registration", "document");
    returns a liveness.verdict.Verdict, or the liveness error (code, message, kind)."""
    from liveness.capture import CaptureLimits
    from liveness.decision import Reference, decide_upload
    from liveness.errors import CaptureTooLarge, LivenessError
    from liveness.match import unpack_encoding
    from liveness.script import Script

    try:
        script = Script.from_json(script_json)
        refs = [Reference(unpack_encoding(e), kind) for kind, e in references.items()]  # type: ignore[arg-type]
        return decide_upload(upload, script, refs, limits=CaptureLimits(**limits), now_ms=now_ms)
    except LivenessError as exc:
        return ("too_large" if isinstance(exc, CaptureTooLarge) else "rejected", exc.code, str(exc))


def fingerprint_seen(candidate: str, stored: list[str]) -> bool:
    from liveness.fingerprint import Fingerprint, seen_before

    prints = []
    for text in stored:
        try:
            prints.append(Fingerprint.from_json(text))
        except ValueError:
            continue  # an unreadable stored print cannot match
    return seen_before(Fingerprint.from_json(candidate), prints)


def new_script(nonce: str, duration_ms: int, ttl_ms: int) -> str:
    from liveness.script import ScriptSettings
    from liveness.script import new_script as draw

    return draw(nonce, settings=ScriptSettings(duration_ms=duration_ms, ttl_ms=ttl_ms)).to_json()


# --- the step ----------------------------------------------------------------------------------------


def _count_decision(decision: str, reasons: list[str]) -> None:
    """A committed decision in /metrics, with each reason it was refused for (a failing check's name)."""
    metrics.LIVENESS_DECISIONS.labels(decision).inc()
    for reason in reasons:
        metrics.LIVENESS_FAILED_CHECKS.labels(metrics.name(reason)).inc()


@dataclass(frozen=True)
class Outcome:
    passed: bool
    reasons: list[str]
    checks: list[dict[str, Any]]
    matched: list[str]  # the references the live face matched: "registration", "document"


@dataclass
class LivenessMethod:
    db: Database
    keys: KeyStore
    registry: ClientRegistry
    executor: Executor
    settings: LivenessStepSettings

    async def _pool(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def document_needed(self, ident: identifications.Identification, required: bool) -> bool:
        """Whether a capture for ``ident`` must bring the identity document's image: the profile requires the
        match to it (``required``) and the client has none on file (R-7.3b(i))."""
        return required and not await self.registry.has_document(ident.client_id)

    async def issue(self, ident: identifications.Identification) -> tuple[str, dict[str, Any]]:
        """A fresh script for ``ident`` (open: the flow checked it): (challenge id, script)."""
        import json

        lender_id = ident.lender_id
        async with self.db.transaction() as tx:
            nonce = secrets.token_hex(16)
            script = await self._pool(
                new_script, nonce, self.settings.script_duration_ms, self.settings.script_ttl_s * 1000
            )
            challenge = await challenges.issue(
                tx, self.keys, ident.id, METHOD, ttl_s=self.settings.script_ttl_s, payload={"script": script}
            )
            await audit.append(
                tx,
                self.keys,
                AuditEvent.IDENTIFICATION_STEP,
                lender_id=lender_id,
                subject=ident.id,
                details={"method": METHOD, "event": "script_issued", "challenge_id": challenge.id},
            )
        return challenge.id, json.loads(script)

    async def submit(
        self,
        ident: identifications.Identification,
        challenge_id: str,
        upload: Upload,
        records: steps.StepRecords,
        *,
        document: bytes | None = None,
        document_required: bool = False,
    ) -> Outcome:
        """Judge the capture for ``ident`` (open: the flow checked it); ``records`` are written with the capture.
        ``document``: the identity document's image given with it; ``document_required``: the profile's rule."""
        lender_id = ident.lender_id
        digest = _digest(upload)
        # Before the script is spent: a bad document or a missing one is an answer the lender can act on.
        checked = await self.registry.check_document(document) if document is not None else None
        refs = await self.registry.face_references(lender_id, ident.client_id)
        references = {"registration": refs.photo} if refs.photo is not None else {}
        doc_encoding = checked.encoding if checked is not None else refs.document
        if doc_encoding is not None:
            references["document"] = doc_encoding
        elif document_required:
            raise ValidationFailed(
                f"under {ident.profile} the live face is matched to the identity document (R-7.3b(i)), and this "
                f"client has none: give its image as the {DOCUMENT_FIELD} part",
                code=error_codes.IDENTITY_DOCUMENT_REQUIRED,
            )
        async with self.db.transaction() as tx:
            challenge = await challenges.get(tx, challenge_id[:64])
            if challenge is None or challenge.identification_id != ident.id or challenge.method != METHOD:
                raise NotFound("no such liveness script for this identification", code=error_codes.CHALLENGE_NOT_FOUND)
            if not await challenges.use(tx, challenge.id):
                if challenge.used_at is None:  # never used, so its lifetime ran out (as the EDS step says)
                    raise Conflict(
                        "this liveness script has expired: ask for a new one", code=error_codes.CHALLENGE_EXPIRED
                    )
                raise Conflict("this liveness script was already used", code=error_codes.CHALLENGE_USED)
            if not await evidence.claim(tx, "liveness_capture", digest, ident.id):
                raise Conflict("this capture was submitted before (R-12.3)", code=error_codes.CAPTURE_REUSED)
        # The script is spent from here on: a failed attempt needs a new one.
        limits = {"max_bytes": self.settings.upload_max_bytes, "max_frames": max(self.settings.max_frames, 8)}
        result = await self._pool(
            decide, upload, challenge.payload["script"], references, limits, int(time.time() * 1000)
        )
        if isinstance(result, tuple):
            _kind, code, message = result
            async with self.db.transaction() as tx:
                await tx.write(await records(False, {"reasons": [code]}))
            _count_decision("unusable", [code])
            # liveness/ knows nothing of HTTP: its codes are catalogue entries, answered with their status.
            raise error_for(error_codes.lookup(code), message)
        reasons = list(result.reasons)
        if "registration" not in references:
            reasons.append("reference_photo_unusable")
        checks = [
            {"name": c.name, "passed": c.passed, "score": round(float(c.score), 4), "gating": c.gating}
            for c in result.checks
        ]
        seen = False
        if result.fingerprint:
            since = datetime.now(UTC) - timedelta(seconds=self.settings.fingerprint_window_s)
            async with self.db.autocommit() as tx:
                stored = await captures.fingerprints_to_compare(
                    tx, ident.client_id, since, self.settings.fingerprint_compare_limit
                )
            seen = bool(stored) and await self._pool(fingerprint_seen, result.fingerprint, stored)
        if seen:
            reasons.append("capture_seen_before")
        passed = bool(result.passed) and not reasons
        return await self._store(ident, upload, result, passed, reasons, checks, records, checked)

    async def _store(
        self,
        ident: identifications.Identification,
        upload: Upload,
        verdict: Any,
        passed: bool,
        reasons: list[str],
        checks: list[dict[str, Any]],
        records: steps.StepRecords,
        document: CheckedDocument | None,
    ) -> Outcome:
        capture_id = str(uuid.uuid4())
        cipher, wrapped = await RecordCipher.anew(self.keys, capture_id)
        now = datetime.now(UTC)
        row = captures.CaptureRow(
            id=capture_id,
            identification_id=ident.id,
            client_id=ident.client_id,
            passed=passed,
            fingerprint=verdict.fingerprint,
            kek_id=wrapped.kek_id,
            data_key=wrapped.wrapped,
            media_sealed=cipher.seal("media", _media_bytes(upload)),
            best_frame_sealed=cipher.seal("best_frame", verdict.best_frame) if verdict.best_frame else None,
            created_at=now,
            media_delete_at=now + timedelta(seconds=self.settings.media_retention_s),
        )
        details: dict[str, Any] = {
            "capture_id": capture_id,
            "reasons": reasons,
            "checks": checks,
            "matched": list(verdict.matched),
        }
        if document is not None:
            details["document_sha256"] = document.media.sha256  # the audit trail names the image judged
        async with self.db.transaction() as tx:
            await captures.insert(tx, row)
            if passed and document is not None:  # matched: the client's document from now on
                await self.registry.keep_document(tx, ident.lender_id, ident.client_id, document)
            await tx.write(await records(passed, details))
        _count_decision("passed" if passed else "refused", reasons)
        return Outcome(passed, reasons, checks, list(verdict.matched))

    async def best_frame(self, identification_id: str) -> bytes | None:
        """The best frame of the identification's latest passed capture (for the CDAO request), while kept."""
        async with self.db.autocommit() as tx:
            row = await captures.best_frame(tx, identification_id)
        if row is None or row.data_key is None or row.best_frame_sealed is None:
            return None
        return (await RecordCipher.aopen(self.keys, row.id, WrappedKey(row.kek_id, row.data_key))).unseal(
            "best_frame", row.best_frame_sealed
        )


def _digest(upload: Upload) -> bytes:
    h = hashlib.sha256()
    if isinstance(upload, bytes):
        h.update(upload)
    else:
        for frame, ts in upload:
            h.update(hashlib.sha256(frame).digest() + repr(float(ts)).encode())
    return h.digest()


def _media_bytes(upload: Upload) -> bytes:
    if isinstance(upload, bytes):
        return upload
    import json

    # Frames are kept as a small JSON index followed by the frames, so they can be audited later.
    index = json.dumps([[len(f), ts] for f, ts in upload]).encode()
    return len(index).to_bytes(4, "big") + index + b"".join(f for f, _ in upload)
