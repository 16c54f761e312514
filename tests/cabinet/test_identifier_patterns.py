"""The OpenAPI document's patterns against the checks they describe (authsvc.cabinet.identifiers and the
others): whatever a pattern admits, the check accepts or refuses only for what no pattern can say (a check
digit, a birth date after today); and what integrators send (the tests' own people) matches the patterns,
so the document refuses nothing the service takes."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authsvc import error_codes
from authsvc.api.tokens import BASE32_PATTERN
from authsvc.cabinet import identifiers as ids
from authsvc.cabinet.models import BASE64_PATTERN
from authsvc.errors import ValidationFailed
from authsvc.lists.identifiers import PATTERNS, normalise
from authsvc.methods.otp_codes import parse_base32_secret
from authsvc.webhooks.endpoints import URL_PATTERN, check_url
from tests.conftest import individual, legal_entity

# pattern, the check, the codes it may still answer for a value the pattern admits
CASES: dict[str, tuple[str, Callable[[str], object], tuple[str, ...]]] = {
    "phone": (ids.PHONE_PATTERN, ids.normalise_phone, ()),
    "iin": (ids.IIN_PATTERN, lambda v: ids.check_iin(v, test_pki=False), ("bad_checksum", "birth_date_in_future")),
    "bin": (ids.BIN_PATTERN, lambda v: ids.check_iin(v, test_pki=False, kind="BIN"), ("bad_checksum",)),
    "iban": (ids.IBAN_PATTERN, ids.normalise_iban, ("bad_checksum",)),
    "card": (ids.CARD_PATTERN, ids.normalise_card, ("bad_checksum",)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_what_a_pattern_admits_the_check_accepts(name: str) -> None:
    pattern, check, allowed = CASES[name]

    @settings(max_examples=100, deadline=None, database=None)
    @given(st.from_regex(pattern, fullmatch=True))
    def admitted(value: str) -> None:
        try:
            check(value)
        except ids.IdentifierError as exc:
            # 29 February of a year without one: the only date a pattern of month lengths lets through
            leap = name == "iin" and value[2:6] == "0229" and exc.code == error_codes.INVALID_FORMAT
            assert exc.code in allowed or leap, (value, exc.code, str(exc))

    admitted()


@settings(max_examples=100, deadline=None, database=None)
@given(st.from_regex(URL_PATTERN, fullmatch=True))
def test_what_the_webhook_pattern_admits_is_a_url_deliveries_may_go_to(url: str) -> None:
    check_url(url, allow_http_loopback=False)


@settings(max_examples=100, deadline=None, database=None)
@given(st.from_regex(BASE32_PATTERN, fullmatch=True))
def test_what_the_base32_pattern_admits_decodes(text: str) -> None:
    parse_base32_secret(text)


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_each_list_kind_pattern_admits_only_values_the_list_takes(kind: str) -> None:
    @settings(max_examples=100, deadline=None, database=None)
    @given(st.from_regex(PATTERNS[kind], fullmatch=True))
    def admitted(value: str) -> None:
        try:
            normalise(kind, value)
        except ValidationFailed as exc:
            assert exc.code == error_codes.BAD_CHECKSUM, (value, exc.code)

    admitted()


def test_what_integrators_send_matches_the_patterns() -> None:
    person, company = individual(), legal_entity()
    sent = {
        "phone": [person["phone"], company["phone"], "+77012345678", "8 (747) 123-45-67"],
        "iin": [person["iin"], company["representative"]["iin"]],
        "bin": [company["bin"]],
        "iban": [person["bank_account"]["iban"], "kz86 125k zt50 0410 0100"],
        "card": [person["card"]["number"], "4111-1111-1111-1111"],
    }
    for name, values in sent.items():
        pattern, check, _ = CASES[name]
        for value in values:
            check(value)  # the service takes it
            assert re.search(pattern, value), (name, value)  # and the document admits it
    assert re.search(BASE64_PATTERN, person["photo"]["data"]) and not re.search(BASE64_PATTERN, "not base64!")
