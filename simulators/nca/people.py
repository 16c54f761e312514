"""The simulator's built-in test population: individuals with valid IINs, a company (valid BIN) with
its CEO and a signer, and one holder of NCA's own invalid test IIN, as on real NCA test keys."""

from __future__ import annotations

from typing import Final

from simulators.nca.issue import Holder
from simulators.nca.oids import Identification, Role

_WEIGHTS_1: Final = tuple(range(1, 12))
_WEIGHTS_2: Final = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def check_digit(first_eleven: str) -> int | None:
    """IIN/BIN check digit (KZ-PKI.md §5); None when both weightings give 10 (number unusable)."""
    digits = [int(c) for c in first_eleven]
    for weights in (_WEIGHTS_1, _WEIGHTS_2):
        value = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if value != 10:
            return value
    return None


def is_valid_identifier(number: str) -> bool:
    """True for a 12-digit IIN or BIN whose last digit is its check digit."""
    if len(number) != 12 or not number.isdigit():
        return False
    return check_digit(number[:11]) == int(number[11])


COMPANY_BIN: Final = "150140012343"
COMPANY_NAME: Final = "ТОО «КРЕДИТ ТЕСТ»"
NCA_TEST_IIN: Final = "123456789011"  # fails the check digit, like NCA's own test keys

BUILTIN: Final[dict[str, Holder]] = {
    "individual": Holder(
        iin="900101300126",
        surname="СЕРІКОВ",
        first_name="АРМАН",
        patronymic="ҚАЙРАТҰЛЫ",
        email="arman.serikov@example.kz",
    ),
    "individual-remote": Holder(
        iin="850515400343",
        surname="ЖАҚЫПОВА",
        first_name="ДАНА",
        patronymic="ЕРЛАНҚЫЗЫ",
        identification=Identification.REMOTE,
    ),
    "ceo": Holder(
        iin="780920300568",
        surname="ӘБДІРОВ",
        first_name="НҰРЛАН",
        patronymic="БОЛАТҰЛЫ",
        bin=COMPANY_BIN,
        organization=COMPANY_NAME,
        role=Role.CEO,
    ),
    "signer": Holder(
        iin="921112400783",
        surname="ОМАРОВА",
        first_name="АЙГЕРІМ",
        patronymic="САМАТҚЫЗЫ",
        bin=COMPANY_BIN,
        organization=COMPANY_NAME,
        role=Role.SIGN,
    ),
    "nca-test-iin": Holder(
        iin=NCA_TEST_IIN,
        surname="ТЕСТОВ",
        first_name="ТЕСТ",
        patronymic="ТЕСТОВИЧ",
    ),
}
