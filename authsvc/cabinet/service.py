"""Registering, reading and changing clients (R-6.1–R-6.7) with personal data sealed at rest (R-12.2).

A registration writes the client, its files, their face references (`cabinet.faces`), its audit entry and
(when given) its idempotency record in one transaction: it all lands or none of it does.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from authsvc import error_codes
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.cabinet import faces, masking
from authsvc.cabinet.faces import DOCUMENT_FIELD, ID_DOCUMENT, PHOTO, CheckedDocument, FaceEncoder, FaceReferences
from authsvc.cabinet.identifiers import IdentifierError
from authsvc.cabinet.media import (
    DOCUMENT_TYPES,
    IMAGE_TYPES,
    SCAN_TYPES,
    Media,
    MediaLimits,
    PhotoInspector,
    check_bytes,
    check_media,
)
from authsvc.cabinet.models import (
    CardOut,
    ClientOut,
    ClientPatch,
    DocumentOut,
    FileOut,
    IndividualIn,
    LegalEntityIn,
    PersonOut,
)
from authsvc.config import RegistrySettings
from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound, UpstreamUnavailable, ValidationFailed
from authsvc.store import clients as store
from authsvc.store import faces as face_store
from authsvc.store import identifications as idents
from authsvc.store.db import Database, Tx
from authsvc.store.errors import Duplicate

PII = "pii"
CHANGE_CONTACT_MAX_AGE_S = 15 * 60


@dataclass
class ClientRegistry:
    db: Database
    keys: KeyStore
    limits: RegistrySettings
    photo_inspector: PhotoInspector
    test_pki: bool
    today: date | None = field(default=None)  # fixed date for tests; None = today
    faces: FaceEncoder | None = field(default=None)  # None: no face models (no document is accepted)

    # --- helpers ----------------------------------------------------------------------------------
    async def ident_mac(self, kind: str, number: str) -> bytes:
        return await self.keys.aindex_mac("iin" if kind == "individual" else "bin", number)

    async def card_token(self, number: str) -> str:
        return "tok_" + (await self.keys.aindex_mac("card", number)).hex()[:32]

    def _media(self, upload: Any, allowed: set[str], limits: MediaLimits, where: str) -> Media:
        try:
            if isinstance(upload, bytes):  # a multipart part: its type is what its bytes are
                return check_bytes(upload, None, allowed, limits)
            return check_media(upload.data, upload.content_type, allowed, limits)
        except IdentifierError as exc:
            raise ValidationFailed(
                f"{where}: {exc}",
                code=exc.code,
                errors=[{"loc": where, "code": exc.code, "message": str(exc)}],
            ) from exc

    def _document_limits(self) -> MediaLimits:
        return MediaLimits(self.limits.scan_max_bytes, self.limits.photo_max_pixels, self.limits.photo_min_side)

    async def _check_uploads(
        self, payload: IndividualIn | LegalEntityIn
    ) -> tuple[list[tuple[str, Media]], dict[str, bytes]]:
        """The files to store, by kind, and the face encodings computed on the way (kind → encoding)."""
        photo_limits = MediaLimits(
            self.limits.photo_max_bytes, self.limits.photo_max_pixels, self.limits.photo_min_side
        )
        scan_limits = MediaLimits(self.limits.scan_max_bytes, self.limits.photo_max_pixels)
        photo = self._media(payload.photo, IMAGE_TYPES, photo_limits, "photo")
        inspection = await self.photo_inspector.inspect(photo)
        if inspection.reasons:
            raise ValidationFailed(
                "photo does not meet R-6.1: " + ", ".join(inspection.reasons),
                code=error_codes.PHOTO_REJECTED,
                errors=[{"loc": "photo", "code": r, "message": r} for r in inspection.reasons],
            )
        files = [(PHOTO, photo)]
        # Without the face check the photo's reference is computed on the first liveness step instead.
        encodings = {PHOTO: inspection.encoding} if inspection.encoding is not None else {}
        if payload.id_document_image is not None:
            checked = await self.check_document(payload.id_document_image)
            files.append((ID_DOCUMENT, checked.media))
            encodings[ID_DOCUMENT] = checked.encoding
        if isinstance(payload, LegalEntityIn):
            if len(payload.documents) > self.limits.scans_max_count:
                raise ValidationFailed(
                    f"at most {self.limits.scans_max_count} documents", code=error_codes.TOO_MANY_DOCUMENTS
                )
            for i, scan in enumerate(payload.documents):
                files.append((scan.kind, self._media(scan, SCAN_TYPES, scan_limits, f"documents.{i}")))
        return files, encodings

    async def check_document(self, upload: Any) -> CheckedDocument:
        """The identity document's image (a request's base64 field or a part's bytes), its portrait located,
        checked and encoded (R-7.3b(i)); 422 with the reason's code when the match could not rely on it."""
        media = self._media(upload, DOCUMENT_TYPES, self._document_limits(), DOCUMENT_FIELD)
        if self.faces is None:
            raise UpstreamUnavailable(
                "no face models: the identity document cannot be read", code=error_codes.MODELS_UNAVAILABLE
            )
        return CheckedDocument(media, await self.faces.document(media.data))

    # --- operations ---------------------------------------------------------------------------------
    async def register(
        self,
        lender_id: str,
        payload: IndividualIn | LegalEntityIn,
    ) -> bytes:
        """Register the client; returns the JSON answer (a retried request is the HTTP layer's Idempotency-Key)."""
        files, encodings = await self._check_uploads(payload)
        pii, number, card = _pii_of(payload)
        client_id = str(uuid.uuid4())
        test_pki = _is_test_number(payload)
        file_rows = [
            (store.FileRow(str(uuid.uuid4()), kind, m.content_type, len(m.data), m.sha256), m.data) for kind, m in files
        ]
        # Every device call before the transaction, together (one trip to an HSM's thread): the transaction
        # holds no device wait, and a token gone refuses the request before anything is written.
        (cipher, wrapped), mac, card_token, audit_entry = await asyncio.gather(
            RecordCipher.anew(self.keys, client_id),
            self.ident_mac(payload.kind, number),
            self.card_token(card) if card else _none(),
            audit.aentry(
                self.keys,
                AuditEvent.CLIENT_REGISTERED,
                lender_id=lender_id,
                subject=client_id,
                details={"kind": payload.kind, "test_pki": test_pki, "files": [f.sha256 for f, _ in file_rows]},
            ),
        )
        now = datetime.now(UTC)
        row = store.ClientRow(
            id=client_id,
            lender_id=lender_id,
            kind=payload.kind,
            test_pki=test_pki,
            kek_id=wrapped.kek_id,
            data_key=wrapped.wrapped,
            pii_sealed=cipher.seal_json(PII, pii),
            card_token=card_token,
            card_last4=card[-4:] if card else None,
            version=1,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.db.transaction() as tx:
                await store.insert(tx, row, mac)
                for frow, data in file_rows:
                    await store.insert_file(tx, client_id, frow, cipher.seal(f"file:{frow.id}", data))
                    if frow.kind in encodings and self.faces is not None:
                        await self._keep_reference(tx, cipher, client_id, frow.id, encodings[frow.kind])
                await tx.write([audit_entry])
                out = self._out(row, pii, [f for f, _ in file_rows])
                body = out.model_dump_json().encode()
        except Duplicate as exc:
            what = "IIN" if payload.kind == "individual" else "BIN"
            raise Conflict(
                f"this lender already has a client with this {what}", code=error_codes.DUPLICATE_CLIENT
            ) from exc
        return body

    async def get(self, lender_id: str, client_id: str) -> ClientOut:
        async with self.db.autocommit() as tx:
            row = await store.get(tx, lender_id, client_id)
            files = await store.files_of(tx, client_id) if row is not None else []
        if row is None:  # raised past the scope: thrown through it, its clean-up takes a generator's athrow
            raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
        return self._out(row, (await self._open(row)).unseal_json(PII, row.pii_sealed), files)

    # --- face references (R-7.3b(i)) ---------------------------------------------------------------

    async def face_references(self, lender_id: str, client_id: str) -> FaceReferences:
        """The encodings of the newest photo and identity document for the liveness step's match: read,
        never recomputed — except once for a file stored without one (a client registered before there
        were references, or under another encoder model), whose encoding is then computed and kept."""
        model = self.faces.model if self.faces is not None else ""
        async with self.db.autocommit() as tx:
            row = await store.get(tx, lender_id, client_id)
            if row is None:
                raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
            newest = {kind: await face_store.newest(tx, client_id, kind, model) for kind in (PHOTO, ID_DOCUMENT)}
        cipher = await self._open(row)
        found: dict[str, bytes | None] = {}
        for kind, ref in newest.items():
            if ref is None:
                found[kind] = None
            elif ref.reference_sealed is not None:
                found[kind] = faces.unseal(cipher, ref.file_id, model, ref.reference_sealed)
            else:
                found[kind] = await self._migrate(cipher, client_id, kind, ref)
        return FaceReferences(photo=found[PHOTO], document=found[ID_DOCUMENT])

    async def has_document(self, client_id: str) -> bool:
        """Whether the client has an identity document image on file (R-7.3b(i))."""
        async with self.db.autocommit() as tx:
            return await face_store.has_file(tx, client_id, ID_DOCUMENT)

    async def _migrate(
        self, cipher: RecordCipher, client_id: str, kind: str, ref: face_store.FileReference
    ) -> bytes | None:
        """Encode a file that has no reference yet and keep the encoding (computed once per file and model)."""
        if self.faces is None:
            return None
        data = cipher.unseal(f"file:{ref.file_id}", ref.file_sealed)
        encoding: bytes | None
        if kind == PHOTO:
            encoding = await self.faces.photo(data)
        else:
            try:
                encoding = await self.faces.document(data)
            except ValidationFailed:  # accepted by an earlier model, refused by this one: no reference
                encoding = None
        try:
            async with self.db.transaction() as tx:
                await self._keep_reference(tx, cipher, client_id, ref.file_id, encoding)
        except Duplicate:
            pass  # another step of this client kept it meanwhile: the same encoding
        return encoding

    async def _keep_reference(
        self, tx: Tx, cipher: RecordCipher, client_id: str, file_id: str, encoding: bytes | None
    ) -> None:
        assert self.faces is not None
        model = self.faces.model
        await face_store.insert(tx, client_id, file_id, model, faces.seal(cipher, file_id, model, encoding))

    async def keep_document(self, tx: Tx, lender_id: str, client_id: str, document: CheckedDocument) -> None:
        """Store an identity document given after the registration (with a liveness capture that matched it),
        sealed like every file, with its face reference, in the caller's transaction; the newest from then on."""
        row = await store.get(tx, lender_id, client_id)
        if row is None:
            raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
        cipher = await self._open(row)
        media = document.media
        frow = store.FileRow(str(uuid.uuid4()), ID_DOCUMENT, media.content_type, len(media.data), media.sha256)
        await store.insert_file(tx, client_id, frow, cipher.seal(f"file:{frow.id}", media.data))
        await self._keep_reference(tx, cipher, client_id, frow.id, document.encoding)
        await audit.append(
            tx,
            self.keys,
            AuditEvent.CLIENT_DOCUMENT_ADDED,
            lender_id=lender_id,
            subject=client_id,
            details={"kind": ID_DOCUMENT, "file": media.sha256},
        )

    async def lookup(self, lender_id: str, number: str) -> list[ClientOut]:
        """Find a client by IIN (individual) or BIN (legal entity) through the keyed-hash index."""
        found = []
        async with self.db.autocommit() as tx:
            for kind in ("individual", "legal_entity"):
                row = await store.find_by_mac(tx, lender_id, await self.ident_mac(kind, number))
                if row is not None:
                    files = await store.files_of(tx, row.id)
                    found.append(self._out(row, (await self._open(row)).unseal_json(PII, row.pii_sealed), files))
        return found

    async def change_contact(self, lender_id: str, client_id: str, patch: ClientPatch) -> ClientOut:
        """R-6.6: needs a completed, unused `change_contact` identification of this client."""
        async with self.db.transaction() as tx:
            row = await store.get(tx, lender_id, client_id)
            if row is None:
                raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
            allowed = await idents.consume(
                tx,
                lender_id=lender_id,
                client_id=client_id,
                ident_id=patch.identification_id,
                operation=idents.Operation.CHANGE_CONTACT,
                max_age_s=CHANGE_CONTACT_MAX_AGE_S,
            )
            if allowed:
                cipher = await self._open(row)
                pii = cipher.unseal_json(PII, row.pii_sealed)
                changed: list[str] = []
                if patch.phone is not None:
                    pii["phone"], changed = patch.phone, [*changed, "phone"]
                if patch.bank_account is not None:
                    pii["iban"], changed = patch.bank_account.iban, [*changed, "bank_account"]
                token, last4 = row.card_token, row.card_last4
                if patch.card is not None:
                    pii["card_number"] = patch.card.number  # sealed, for the payout check (R-NB.2)
                    token, last4, changed = (
                        await self.card_token(patch.card.number),
                        patch.card.number[-4:],
                        [*changed, "card"],
                    )
                if not await store.update_contact(
                    tx, row, pii_sealed=cipher.seal_json(PII, pii), card_token=token, card_last4=last4
                ):
                    raise Conflict("the client changed meanwhile; retry", code=error_codes.CONCURRENT_UPDATE)
                await audit.append(
                    tx,
                    self.keys,
                    AuditEvent.CLIENT_CONTACT_CHANGED,
                    lender_id=lender_id,
                    subject=client_id,
                    details={"fields": changed, "identification_id": patch.identification_id},
                )
        if not allowed:
            # The refusal is recorded in a transaction of its own (nothing else of the request was written).
            async with self.db.transaction() as tx:
                await audit.append(
                    tx,
                    self.keys,
                    AuditEvent.CLIENT_CHANGE_REFUSED,
                    lender_id=lender_id,
                    subject=client_id,
                    details={"identification_id": patch.identification_id},
                )
            raise ValidationFailed(
                "changing phone or bank details needs a completed, unused change_contact identification (R-6.6)",
                code=error_codes.IDENTIFICATION_REQUIRED,
            )
        async with self.db.autocommit() as tx:
            fresh = await store.get(tx, lender_id, client_id)
            files = await store.files_of(tx, client_id)
        assert fresh is not None
        return self._out(fresh, pii, files)

    async def _open(self, row: store.ClientRow) -> RecordCipher:
        return await RecordCipher.aopen(self.keys, row.id, WrappedKey(row.kek_id, row.data_key))

    def _out(self, row: store.ClientRow, pii: dict[str, Any], files: list[store.FileRow]) -> ClientOut:
        person = pii["representative"] if row.kind == "legal_entity" else pii
        doc = person["id_document"]
        return ClientOut(
            id=row.id,
            kind=row.kind,
            test_pki=row.test_pki,
            person=PersonOut(
                name=masking.mask_name(person["surname"], person["first_name"], person.get("patronymic")),
                iin=masking.mask_tail(person["iin"]),
                id_document=DocumentOut(
                    type=doc["type"],
                    number=masking.mask_tail(doc["number"], 3),
                    expires_on=date.fromisoformat(doc["expires_on"]),
                ),
            ),
            authority=person.get("authority"),
            organization=masking.mask_name(pii["name"]) if row.kind == "legal_entity" else None,
            bin=masking.mask_tail(pii["bin"]) if row.kind == "legal_entity" else None,
            phone=masking.mask_phone(pii["phone"]),
            iban=masking.mask_iban(pii["iban"]) if pii.get("iban") else None,
            card=CardOut(token=row.card_token, last4=row.card_last4) if row.card_token and row.card_last4 else None,
            payout_via_terminal=bool(pii.get("payout_via_terminal")),
            files=[FileOut(kind=f.kind, content_type=f.content_type, size=f.size, sha256=f.sha256) for f in files],
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _person(p: Any) -> dict[str, Any]:
    return {
        "surname": p.surname,
        "first_name": p.first_name,
        "patronymic": p.patronymic,
        "iin": p.iin,
        "id_document": {
            "type": p.id_document.type,
            "number": p.id_document.number,
            "expires_on": p.id_document.expires_on.isoformat(),
        },
    }


def _pii_of(payload: IndividualIn | LegalEntityIn) -> tuple[dict[str, Any], str, str | None]:
    """The sealed record, the indexed number (IIN or BIN) and the card number. The card number is in the
    sealed record only (R-12.2: the bank's ownership check needs it, R-NB.2); the row has its keyed token and
    last 4 digits, what answers show."""
    card = payload.card.number if payload.card else None
    common = {
        "phone": payload.phone,
        "iban": payload.bank_account.iban if payload.bank_account else None,
        "card_number": card,
        "payout_via_terminal": payload.payout_via_terminal,
    }
    if isinstance(payload, IndividualIn):
        return {**_person(payload), **common}, payload.iin, card
    rep = {**_person(payload.representative), "authority": payload.representative.authority}
    return {"bin": payload.bin, "name": payload.name, "representative": rep, **common}, payload.bin, card


def _is_test_number(payload: IndividualIn | LegalEntityIn) -> bool:
    from authsvc.cabinet.identifiers import is_valid_iin_bin

    numbers = [payload.iin] if isinstance(payload, IndividualIn) else [payload.bin, payload.representative.iin]
    return any(not is_valid_iin_bin(n) for n in numbers)


async def _none() -> None:
    return None


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
