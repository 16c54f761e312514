"""The shared test population is internally valid and covers the cases the flows must handle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulators.nca.people import BUILTIN
from simulators.population import (
    OPERATOR_PREFIXES,
    build_population,
    is_valid_card_number,
    is_valid_iban,
    is_valid_iin,
    normalize_phone,
    operator_of,
)
from tests.shared import fixture_path

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PEOPLE = build_population(NOW)


@pytest.mark.parametrize(
    ("value", "valid"),
    # Published examples (KZ-PKI.md §5) and the NCA test IINs that fail the check digit.
    [
        ("811201401188", True),
        ("971240001315", True),
        ("123456789011", False),
        ("123456789012", False),
        ("81120140118", False),
        ("8112014011８8", False),
    ],
)
def test_iin_check_digit(value: str, valid: bool) -> None:
    assert is_valid_iin(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("KZ86125KZT5004100100", True),
        ("kz86 125K ZT50 0410 0100", True),
        ("KZ87125KZT5004100100", False),
        ("DE89370400440532013000", False),
    ],
)
def test_iban_check(value: str, valid: bool) -> None:
    assert is_valid_iban(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", False), ("5555555555554444", True)],
)
def test_luhn(value: str, valid: bool) -> None:
    assert is_valid_card_number(value) is valid


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("+7 777 123 45 67", "+77771234567"),
        ("8 (701) 234-56-78", "+77012345678"),
        ("77071234567", "+77071234567"),
        ("+7 727 123 45 67", None),
        ("+7 777 123 45 6", None),
        ("phone", None),
        ("7+7771234567", None),
    ],
)
def test_phone_normalisation(written: str, normal: str | None) -> None:
    assert normalize_phone(written) == normal


def test_every_person_is_valid() -> None:
    assert len({p.iin for p in PEOPLE.people}) == len(PEOPLE.people)
    for person in PEOPLE.people:
        assert is_valid_iin(person.iin), person.key
        assert person.iin[:6] == person.birth_date.strftime("%y%m%d"), person.key
        assert normalize_phone(person.phone.number) == person.phone.number
        assert person.phone.operator in ("Beeline", "Kcell", "Tele2", "Altel")
        assert all(is_valid_iban(a.iban) for a in person.accounts), person.key
        assert all(is_valid_card_number(c.pan) for c in person.cards), person.key
        if person.photo:
            assert fixture_path("faces", person.photo).is_file()


def test_all_four_operators_and_their_prefixes() -> None:
    assert {p.phone.operator for p in PEOPLE.people} == {"Beeline", "Kcell", "Tele2", "Altel"}
    assert operator_of("+77071234567") == "Tele2" and operator_of("+77001234567") == "Altel"
    assert set(OPERATOR_PREFIXES.values()) == {"Beeline", "Kcell", "Tele2", "Altel"}


def test_the_cases_the_flows_need() -> None:
    fresh_sim = [p.key for p in PEOPLE.people if NOW - p.phone.sim_issued_at < timedelta(days=7)]
    transferred = [
        p.key for p in PEOPLE.people if NOW - p.phone.owner_since < timedelta(days=7) < NOW - p.phone.sim_issued_at
    ]
    assert fresh_sim == ["dana"] and transferred == ["aigerim"]
    assert [p.key for p in PEOPLE.people if p.refusal_registered_at] == ["aigerim"]
    assert [p.key for p in PEOPLE.people if p.phone.owner_bin] == ["nurlan"]
    assert [p.key for p in PEOPLE.people if not p.phone.deliverable] == ["timur"]
    assert [p.key for p in PEOPLE.people if p.photo is None] == ["dana", "aigerim"]
    assert PEOPLE.owner_of_card(token="tok_daniyar_mir") is not None


def test_nca_simulator_holders_are_in_the_population() -> None:
    """One person can then sign with EDS and pass biometrics, telco and bank checks (R-NB.2)."""
    valid_nca = {h.iin for h in BUILTIN.values() if is_valid_iin(h.iin)}
    assert valid_nca <= set(PEOPLE.by_iin)
    for holder in BUILTIN.values():
        if holder.iin in PEOPLE.by_iin:
            assert PEOPLE.by_iin[holder.iin].surname == holder.surname
