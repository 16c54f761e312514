"""A client's face references (R-7.3b(i)): the encodings of the registration photo and of the identity
document's portrait, computed once — when the file is stored, or on the first liveness step of a client
registered before there were references — and sealed under the client's data key like the files themselves.

The face models live in the liveness package and run in the process pool: the registry reaches them through
the `FaceEncoder` seam (`authsvc.methods.face_references` provides the real one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from authsvc.cabinet.media import Media
from authsvc.crypto.envelope import RecordCipher

PHOTO = "photo"  # the client_files kinds whose faces are references
ID_DOCUMENT = "id_document"
DOCUMENT_FIELD = "id_document_image"  # the request field (registration) and part (liveness step) carrying it
NO_FACE = b""  # stored for a photo in which no face can be found, so it is not searched again


class FaceEncoder(Protocol):
    """Encodes reference faces (packed 128-d encodings, `liveness.match.pack_encoding`)."""

    @property
    def model(self) -> str:
        """The encoder's model id; a reference stored under another model is computed again."""

    async def photo(self, data: bytes) -> bytes | None:
        """The registration photo's face encoding; None when no face can be found in it."""

    async def document(self, data: bytes) -> bytes:
        """The identity document's portrait encoding; raises ValidationFailed (``document_no_portrait``,
        ``document_multiple_portraits``, ``document_portrait_too_small``, ``document_blurred``, …)."""


@dataclass(frozen=True)
class FaceReferences:
    """What a liveness step matches the live face against: packed encodings, None when there is none."""

    photo: bytes | None
    document: bytes | None


@dataclass(frozen=True)
class CheckedDocument:
    """An identity document image whose portrait was found and encoded, not stored yet."""

    media: Media
    encoding: bytes


def _aad(file_id: str, model: str) -> str:
    # Bound to the file and the model: a reference moved to another file or model does not open.
    return f"face:{file_id}:{model}"


def seal(cipher: RecordCipher, file_id: str, model: str, encoding: bytes | None) -> bytes:
    return cipher.seal(_aad(file_id, model), NO_FACE if encoding is None else encoding)


def unseal(cipher: RecordCipher, file_id: str, model: str, sealed: bytes) -> bytes | None:
    encoding = cipher.unseal(_aad(file_id, model), sealed)
    return None if encoding == NO_FACE else encoding
