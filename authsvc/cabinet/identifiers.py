"""Kazakh identifiers: IIN/BIN check digit, IBAN, payment card (Luhn), mobile phone (KZ-PKI.md §5).

Each check raises ``IdentifierError`` with a stable code the HTTP layer reports per field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from authsvc import error_codes
from authsvc.error_codes import Code

# NCA's test PKI issues these numbers, which fail the check digit (KZ-PKI.md §5); accepted only in test mode.
NCA_TEST_IDENTIFIERS = frozenset({"123456789011", "123456789012", "123456789021"})

# What each identifier looks like, for the OpenAPI document (JSON Schema patterns): what the checks below
# accept, less what no pattern can say (check digits, a birth date not after today). The checks stay the
# judges and answer their own codes; tests/cabinet/test_identifier_patterns.py holds the two together.
# A phone: +7 or 8, then a Kazakh mobile operator's code (7xx) and 7 digits; spaces, dashes, brackets between.
PHONE_PATTERN = r"^(?:\+7|8)[ ()-]*7(?:0[0-25-8]|47|6[0-4]|7[15-8]|85)(?:[ ()-]*[0-9]){7}[ ()-]*$"
# An IIN starts with the birth date (YYMMDD) and the century/sex digit (1-6).
IIN_PATTERN = (
    r"^[0-9]{2}(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
    r"|02(?:0[1-9]|1[0-9]|2[0-9]))[1-6][0-9]{5}$"
)
BIN_PATTERN = r"^[0-9]{12}$"
IBAN_PATTERN = r"^ *[Kk][Zz](?: *[0-9]){5}(?: *[0-9A-Za-z]){13} *$"
CARD_PATTERN = r"^[ -]*(?:[0-9][ -]*){13,19}$"

_W1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_W2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


class IdentifierError(ValueError):
    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code


def iin_bin_check_digit(first11: str) -> int | None:
    """The 12th digit for 11 leading digits, or None when no check digit exists (the number is invalid)."""
    digits = [int(c) for c in first11]
    for weights in (_W1, _W2):
        check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check != 10:
            return check
    return None


def is_valid_iin_bin(number: str) -> bool:
    return len(number) == 12 and number.isdigit() and iin_bin_check_digit(number[:11]) == int(number[11])


@dataclass(frozen=True)
class CheckedNumber:
    value: str
    test_pki: bool  # True when accepted only because it is an NCA test-PKI number


def check_iin(number: str, *, test_pki: bool, kind: str = "IIN", today: date | None = None) -> CheckedNumber:
    """Validate an IIN (or BIN with kind='BIN'): 12 digits and the check digit; NCA test numbers in test mode.
    An IIN's birth date must exist and not be after ``today`` (the UTC date when None)."""
    if not re.fullmatch(r"\d{12}", number):
        raise IdentifierError(error_codes.INVALID_FORMAT, f"{kind} must be exactly 12 digits")
    if is_valid_iin_bin(number):
        if kind == "IIN":
            _check_iin_birth(number, today or datetime.now(UTC).date())
        return CheckedNumber(number, test_pki=False)
    if test_pki and number in NCA_TEST_IDENTIFIERS:
        return CheckedNumber(number, test_pki=True)
    raise IdentifierError(error_codes.BAD_CHECKSUM, f"{kind} check digit does not match")


def _check_iin_birth(number: str, today: date) -> None:
    century = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}.get(number[6])
    if century is None:
        raise IdentifierError(error_codes.INVALID_FORMAT, "IIN century/sex digit must be 1-6")
    try:
        born = date(century + int(number[0:2]), int(number[2:4]), int(number[4:6]))
    except ValueError as exc:
        raise IdentifierError(error_codes.INVALID_FORMAT, "IIN does not start with a valid birth date") from exc
    if born > today:  # no one is registered before they are born
        raise IdentifierError(error_codes.BIRTH_DATE_IN_FUTURE, "the IIN's birth date (digits 1-7) is after today")


def normalise_iban(value: str) -> str:
    """Upper-case, spaces removed; KZ, 20 characters, ISO 7064 mod-97 = 1."""
    iban = re.sub(r"\s+", "", value).upper()
    if not re.fullmatch(r"KZ\d{2}\d{3}[0-9A-Z]{13}", iban):
        raise IdentifierError(
            error_codes.INVALID_FORMAT, "IBAN must be KZ + 2 check digits + 3-digit bank code + 13 characters"
        )
    rearranged = iban[4:] + iban[:4]
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    if int(numeric) % 97 != 1:
        raise IdentifierError(error_codes.BAD_CHECKSUM, "IBAN check digits do not match")
    return iban


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def normalise_card(value: str) -> str:
    number = re.sub(r"[\s-]+", "", value)
    if not re.fullmatch(r"\d{13,19}", number):
        raise IdentifierError(error_codes.INVALID_FORMAT, "card number must be 13-19 digits")
    if not luhn_ok(number):
        raise IdentifierError(error_codes.BAD_CHECKSUM, "card number fails the Luhn check")
    return number


def normalise_phone(value: str) -> str:
    """A Kazakh mobile number as +7 E.164; '8 7xx …' is read as '+7 7xx …'."""
    raw = re.sub(r"[\s()\-]+", "", value)
    if re.fullmatch(r"87\d{9}", raw):
        raw = "+7" + raw[1:]
    try:
        parsed = phonenumbers.parse(raw, "KZ")
    except NumberParseException as exc:
        raise IdentifierError(error_codes.INVALID_FORMAT, "phone number cannot be parsed") from exc
    if not phonenumbers.is_valid_number_for_region(parsed, "KZ"):
        raise IdentifierError(error_codes.INVALID_PHONE, "not a valid Kazakh phone number")
    if phonenumbers.number_type(parsed) not in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise IdentifierError(error_codes.NOT_MOBILE, "phone number is not a Kazakh mobile number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
