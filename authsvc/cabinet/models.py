"""Request and response models of the client registry (R-6.1, R-6.2). The OpenAPI schema comes from these.

Validators raise `PydanticCustomError` with stable codes (bad_checksum, invalid_phone, …) that the HTTP layer
reports per field. The validation context carries `test_pki` (accept NCA test identifiers) and today's date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from authsvc import error_codes
from authsvc.cabinet.identifiers import (
    BIN_PATTERN,
    CARD_PATTERN,
    IBAN_PATTERN,
    IIN_PATTERN,
    PHONE_PATTERN,
    IdentifierError,
    check_iin,
    normalise_card,
    normalise_iban,
    normalise_phone,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _raise(exc: IdentifierError) -> PydanticCustomError:
    return PydanticCustomError(exc.code, str(exc))


def _test_pki(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("test_pki"))


def _today(info: ValidationInfo) -> date:
    if info.context and "today" in info.context:
        value: date = info.context["today"]
        return value
    return datetime.now(UTC).date()


def _bin(value: str) -> str:
    try:
        return check_iin(value, test_pki=False, kind="BIN").value
    except IdentifierError as exc:
        raise _raise(exc) from exc


def _iban(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalise_iban(value)
    except IdentifierError as exc:
        raise _raise(exc) from exc


# For other resources' models: a BIN by its check digit (NCA test numbers refused), an IBAN normalised.
checked_bin = AfterValidator(_bin)
checked_iban = AfterValidator(_iban)


def given(*names: str, exactly: bool = False, also: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """JSON Schema for a model whose validator wants one of ``names`` given (not null), or one of ``also``:
    what the validator says in code, the document says to clients and fuzzers (for the model's
    ``json_schema_extra``). Under ``allOf``: a generator reads an object's own anyOf as a union of types."""
    branches = [{"required": [n], "properties": {n: {"not": {"type": "null"}}}} for n in names]
    return {"allOf": [{"oneOf" if exactly else "anyOf": [*branches, *also]}]}


# What the server accepts as base64 of a file (the document's pattern; the handlers answer bad_base64).
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\d\x00-\x1f]+$")]
# The pattern is the document's; the phone check answers invalid_phone or not_mobile itself.
Phone = Annotated[
    str, Field(min_length=5, max_length=20, examples=["+77012345678"], json_schema_extra={"pattern": PHONE_PATTERN})
]
Base64 = Annotated[
    str,
    Field(
        min_length=1,
        description="base64 (RFC 4648) of the file",
        examples=["/9j/4AAQSkZJRg=="],  # a JPEG's first bytes: the shape, not a photo that passes R-6.1
        json_schema_extra={"pattern": BASE64_PATTERN},
    ),
]


class IdDocument(Strict):
    type: Literal["id_card", "passport", "residence_permit"] = "id_card"
    number: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{6,12}$", description="document number", examples=["041234567"])]
    expires_on: date = Field(description="must lie in the future", examples=["2031-05-01"])

    @field_validator("expires_on")
    @classmethod
    def _not_expired(cls, value: date, info: ValidationInfo) -> date:
        if value <= _today(info):
            raise PydanticCustomError(error_codes.DOCUMENT_EXPIRED, "identity document has expired")
        return value


class BankAccount(Strict):
    iban: Annotated[
        str,
        Field(
            min_length=20,
            max_length=34,
            examples=["KZ86125KZT5004100100"],
            json_schema_extra={"pattern": IBAN_PATTERN},
        ),
    ]

    @field_validator("iban")
    @classmethod
    def _iban(cls, value: str) -> str:
        try:
            return normalise_iban(value)
        except IdentifierError as exc:
            raise _raise(exc) from exc


class Card(Strict):
    number: Annotated[
        str,
        Field(
            min_length=13,
            max_length=23,
            description="PAN; kept sealed with the client's other personal data for the bank's ownership check "
            "(R-NB.2, R-12.2); answers show only a token and the last 4 digits",
            examples=["4111 1111 1111 1111"],
            json_schema_extra={"pattern": CARD_PATTERN},
        ),
    ]

    @field_validator("number")
    @classmethod
    def _luhn(cls, value: str) -> str:
        try:
            return normalise_card(value)
        except IdentifierError as exc:
            raise _raise(exc) from exc


class Upload(Strict):
    content_type: Literal["image/jpeg", "image/png", "application/pdf"]
    data: Base64


class Photo(Strict):
    content_type: Literal["image/jpeg", "image/png"]
    data: Base64


class DocumentImage(Strict):
    content_type: Literal["image/jpeg", "image/png", "application/pdf"]
    data: Base64


# R-7.3b(i): the liveness step matches the live face to the portrait on this image as well as to the photo.
DOCUMENT_IMAGE_HELP = (
    "the identity document's image: the front of the ID card or the passport's photo page, photographed or "
    "scanned (JPEG/PNG, or a one-page PDF holding the scan: its page is rasterised); its portrait is located, "
    "checked and encoded once, and every liveness step matches the live face to it (R-7.3b(i)). May also be "
    "given later, with a liveness capture."
)


class Scan(Upload):
    kind: Literal["appointment_order", "power_of_attorney", "registration_certificate", "other"]


def _phone(value: str) -> str:
    try:
        return normalise_phone(value)
    except IdentifierError as exc:
        raise _raise(exc) from exc


class _Contact(Strict):
    model_config = ConfigDict(
        json_schema_extra=given(
            "bank_account",
            "card",
            also=({"required": ["payout_via_terminal"], "properties": {"payout_via_terminal": {"const": True}}},),
        )
    )

    phone: Phone
    bank_account: BankAccount | None = Field(None, examples=[{"iban": "KZ86125KZT5004100100"}])
    card: Card | None = None
    payout_via_terminal: bool = Field(False, description="paid out at a terminal: bank details optional (R-6.1)")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return _phone(value)

    @model_validator(mode="after")
    def _payout(self) -> Any:
        if self.bank_account is None and self.card is None and not self.payout_via_terminal:
            raise PydanticCustomError(
                error_codes.PAYOUT_DETAILS_REQUIRED, "give bank_account and/or card, or payout_via_terminal"
            )
        return self


class Person(Strict):
    surname: Name = Field(examples=["Жумабаев"])
    first_name: Name = Field(examples=["Ерлан"])
    patronymic: Name | None = Field(None, examples=["Серикович"])
    iin: Annotated[
        str, Field(min_length=12, max_length=12, examples=["811201401188"], json_schema_extra={"pattern": IIN_PATTERN})
    ]
    id_document: IdDocument

    @field_validator("iin")
    @classmethod
    def _iin(cls, value: str, info: ValidationInfo) -> str:
        try:
            return check_iin(value, test_pki=_test_pki(info), today=_today(info)).value
        except IdentifierError as exc:
            raise _raise(exc) from exc


class IndividualIn(Person, _Contact):
    """R-6.1: an individual's registration."""

    kind: Literal["individual"]
    photo: Photo
    id_document_image: DocumentImage | None = Field(None, description=DOCUMENT_IMAGE_HELP)


class Representative(Person):
    authority: Literal["head", "power_of_attorney"] = Field(
        description="appointed head, or acting by power of attorney"
    )


class LegalEntityIn(_Contact):
    """R-6.2: a legal entity's registration, through its authorised person."""

    kind: Literal["legal_entity"]
    bin: Annotated[
        str, Field(min_length=12, max_length=12, examples=["971240001315"], json_schema_extra={"pattern": BIN_PATTERN})
    ]
    name: Annotated[str, Field(min_length=1, max_length=300, examples=['ТОО "Рога и копыта"'])]
    representative: Representative
    photo: Photo = Field(description="the authorised person's frontal photo")
    id_document_image: DocumentImage | None = Field(
        None, description="the authorised person's " + DOCUMENT_IMAGE_HELP[4:]
    )
    documents: list[Scan] = Field(min_length=1, max_length=20)

    @field_validator("bin")
    @classmethod
    def _bin(cls, value: str, info: ValidationInfo) -> str:
        try:
            return check_iin(value, test_pki=_test_pki(info), kind="BIN").value
        except IdentifierError as exc:
            raise _raise(exc) from exc

    @model_validator(mode="after")
    def _documents(self) -> Any:
        kinds = {d.kind for d in self.documents}
        needed = {"registration_certificate"}
        needed.add("appointment_order" if self.representative.authority == "head" else "power_of_attorney")
        missing = needed - kinds
        if missing:
            raise PydanticCustomError(
                error_codes.DOCUMENTS_MISSING, "missing scans: {missing}", {"missing": ", ".join(sorted(missing))}
            )
        return self


ClientIn = Annotated[IndividualIn | LegalEntityIn, Field(discriminator="kind")]


class ClientPatch(Strict):
    """R-6.6: change phone or bank details, authorised by a completed `change_contact` identification."""

    model_config = ConfigDict(json_schema_extra=given("phone", "bank_account", "card"))

    identification_id: Annotated[
        str, Field(min_length=1, max_length=64, description="a completed change_contact identification")
    ]
    phone: Phone | None = Field(None, examples=["+77471234567"])
    bank_account: BankAccount | None = None
    card: Card | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else _phone(value)

    @model_validator(mode="after")
    def _something(self) -> Any:
        if self.phone is None and self.bank_account is None and self.card is None:
            raise PydanticCustomError(error_codes.NOTHING_TO_CHANGE, "give phone, bank_account or card")
        return self


class Lookup(Strict):
    iin: Annotated[
        str,
        Field(
            pattern=r"^\d{12}$", description="IIN of an individual or BIN of a legal entity", examples=["811201401188"]
        ),
    ]


# --- responses (masked) ------------------------------------------------------------------------------


class DocumentOut(BaseModel):
    type: str
    number: str = Field(description="masked")
    expires_on: date


class FileOut(BaseModel):
    kind: str
    content_type: str
    size: int
    sha256: str


class CardOut(BaseModel):
    token: str = Field(description="keyed token of the card number (same card, same token)")
    last4: str


class PersonOut(BaseModel):
    name: str = Field(description="masked full name")
    iin: str = Field(description="masked IIN")
    id_document: DocumentOut


class ClientOut(BaseModel):
    id: str
    kind: Literal["individual", "legal_entity"]
    test_pki: bool = Field(description="accepted only because test_pki is on (NCA test identifiers)")
    person: PersonOut = Field(description="the individual, or the legal entity's authorised person")
    authority: Literal["head", "power_of_attorney"] | None = None
    organization: str | None = Field(None, description="masked organisation name (legal entity)")
    bin: str | None = Field(None, description="masked BIN (legal entity)")
    phone: str
    iban: str | None = None
    card: CardOut | None = None
    payout_via_terminal: bool
    files: list[FileOut]
    version: int
    created_at: datetime
    updated_at: datetime


class ClientList(BaseModel):
    items: list[ClientOut]
