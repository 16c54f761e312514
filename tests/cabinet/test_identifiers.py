"""IIN/BIN check digits, IBAN, Luhn and Kazakh mobile numbers (KZ-PKI.md §5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authsvc.cabinet.identifiers import (
    IdentifierError,
    check_iin,
    iin_bin_check_digit,
    is_valid_iin_bin,
    luhn_ok,
    normalise_card,
    normalise_iban,
    normalise_phone,
)


@pytest.mark.parametrize("number", ["811201401188", "971240001315", "900101300017"])
def test_valid_numbers(number: str) -> None:
    assert is_valid_iin_bin(number)


@pytest.mark.parametrize("number", ["811201401189", "971240001314", "12345678901", "8112014011a8"])
def test_invalid_numbers(number: str) -> None:
    assert not is_valid_iin_bin(number)


def test_second_weight_set_is_used_when_the_first_gives_ten() -> None:
    # 000000000050: first weights give 5·6+… ; search a prefix where the first pass yields 10.
    prefix = next(
        f"{n:011d}"
        for n in range(10**6)
        if sum(int(c) * w for c, w in zip(f"{n:011d}", range(1, 12), strict=True)) % 11 == 10
    )
    check = iin_bin_check_digit(prefix)
    weights2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
    expected = sum(int(c) * w for c, w in zip(prefix, weights2, strict=True)) % 11
    assert check == (None if expected == 10 else expected)


@pytest.mark.parametrize("number", ["123456789011", "123456789012", "123456789021"])
def test_nca_test_numbers_only_in_test_mode(number: str) -> None:
    with pytest.raises(IdentifierError) as err:
        check_iin(number, test_pki=False)
    assert err.value.code == "bad_checksum"
    assert check_iin(number, test_pki=True).test_pki is True


def test_iin_birth_date_must_exist() -> None:
    # 991301 (13th month) with a correct check digit.
    prefix = "9913013000"
    for last in "0123456789":
        digit = iin_bin_check_digit(prefix + last)
        if digit is not None:
            with pytest.raises(IdentifierError) as err:
                check_iin(prefix + last + str(digit), test_pki=False)
            assert err.value.code == "invalid_format"
            return
    pytest.fail("no candidate")


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_a_computed_check_digit_always_validates(prefix: str) -> None:
    digit = iin_bin_check_digit(prefix)
    if digit is not None:
        assert is_valid_iin_bin(prefix + str(digit))
        assert not is_valid_iin_bin(prefix + str((digit + 1) % 10))


def test_iban() -> None:
    assert normalise_iban("kz86 125k zt50 0410 0100") == "KZ86125KZT5004100100"
    for bad, code in (("KZ87125KZT5004100100", "bad_checksum"), ("DE89370400440532013000", "invalid_format")):
        with pytest.raises(IdentifierError) as err:
            normalise_iban(bad)
        assert err.value.code == code


def test_card() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert normalise_card("5555-5555-5555-4444") == "5555555555554444"
    with pytest.raises(IdentifierError):
        normalise_card("4111 1111 1111 1112")


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("8 701 234 56 78", "+77012345678"), ("+7 (747) 123-45-67", "+77471234567"), ("77771234567", "+77771234567")],
)
def test_phone_normalised(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize(
    ("raw", "code"),
    [("+7 7172 12 34 56", "not_mobile"), ("+7 912 345 67 89", "invalid_phone"), ("abc", "invalid_format")],
)
def test_phone_rejected(raw: str, code: str) -> None:
    with pytest.raises(IdentifierError) as err:
        normalise_phone(raw)
    assert err.value.code == code
