"""Issue 11 §12: an IIN whose birth date (YYMMDD + the century digit) is after today is refused."""

from __future__ import annotations

from datetime import date

import pytest

from authsvc.cabinet.identifiers import IdentifierError, check_iin, iin_bin_check_digit
from tests.conftest import TODAY, Api, individual


def iin_born(on: date, sex_digit_of_century: dict[int, str] | None = None) -> str:
    """A check-digit-valid IIN of someone born ``on`` (male: century digit 1, 3 or 5)."""
    century = (sex_digit_of_century or {1800: "1", 1900: "3", 2000: "5"})[on.year // 100 * 100]
    for serial in range(10_000):
        first11 = f"{on:%y%m%d}{century}{serial:04d}"
        digit = iin_bin_check_digit(first11)
        if digit is not None:
            return first11 + str(digit)
    raise AssertionError("no IIN")


@pytest.mark.parametrize("born", [date(2030, 1, 1), date(TODAY.year, TODAY.month, TODAY.day + 1)])
def test_a_birth_date_after_today_is_refused(born: date) -> None:
    with pytest.raises(IdentifierError) as refused:
        check_iin(iin_born(born), test_pki=False, today=TODAY)
    assert refused.value.code == "birth_date_in_future"


@pytest.mark.parametrize("born", [TODAY, date(1899, 12, 31), date(1981, 12, 1), date(2001, 2, 28)])
def test_past_birth_dates_in_every_century_pass(born: date) -> None:
    assert check_iin(iin_born(born), test_pki=False, today=TODAY).value


async def test_registration_refuses_an_iin_born_in_the_future(api: Api) -> None:
    resp = await api.post("/v1/clients", individual(iin=iin_born(date(2030, 1, 1))))
    body = await resp.json()
    assert resp.status == 422 and body["code"] == "birth_date_in_future", body
    assert [e["loc"] for e in body["errors"]] == ["individual.iin"] or body["errors"][0]["loc"].endswith("iin")
