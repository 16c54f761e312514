"""The test population every outside-party simulator shares (telco, CDAO, bureau, bank, SMS).

Fictional people with IINs valid by the check digit of KZ-PKI.md §5, phones on real Kazakh mobile
prefixes, IBANs valid by ISO 7064 mod-97 and cards valid by Luhn. The first four people carry the
IINs of the NCA simulator's built-in holders (simulators/nca/people.py), so one person can sign with
an EDS and pass biometrics, the telco check and the bank check in the same demo (R-NB.2).

Each person exercises a case the flows must handle:

| key     | case |
|---------|------|
| arman   | the happy path: long-held Beeline number, photo on file, active account and card |
| dana    | SIM re-issued yesterday (SIM-swap risk, R-108.1); no photo on file at the CDAO |
| nurlan  | corporate number: used by him, registered to his company, not to an individual |
| aigerim | number transferred to her five days ago; voluntary loan refusal registered (R-NB.6) |
| daniyar | Altel number, card only, a closed account and a blocked card |
| timur   | phone switched off: SMS are accepted but never delivered; his registration photo is not the face the CDAO holds |

(Each person's ``case`` field says the same; ``simulators.roster`` lists it all over HTTP and renders the
README table.) Dates are relative to the ``now`` given to :func:`build_population`, so "re-issued
yesterday" stays true whenever the simulators run. ``photo`` is the state photo the CDAO holds, a file
name in the shared faces folder (shared/fixtures/faces; the CDAO simulator is told where it is);
``portrait`` is the source (under shared/fixtures) of the person's rendered registration photo
(``simulators.portraits``: frontal, mouth closed, light background, R-6.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

Operator = Literal["Beeline", "Kcell", "Tele2", "Altel"]

# Mobile prefixes (the three digits after +7) by operator, KZ-PKI.md §5. Activ is Kcell's brand.
OPERATOR_PREFIXES: Final[dict[str, Operator]] = {
    "705": "Beeline",
    "771": "Beeline",
    "776": "Beeline",
    "777": "Beeline",
    "701": "Kcell",
    "702": "Kcell",
    "775": "Kcell",
    "778": "Kcell",
    "707": "Tele2",
    "747": "Tele2",
    "700": "Altel",
    "708": "Altel",
}

_WEIGHTS_1: Final = tuple(range(1, 12))
_WEIGHTS_2: Final = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def is_valid_iin(iin: str) -> bool:
    """12 digits whose last is the check digit (KZ-PKI.md §5; BINs follow the same rule)."""
    if len(iin) != 12 or not (iin.isascii() and iin.isdigit()):
        return False
    digits = [int(c) for c in iin[:11]]
    for weights in (_WEIGHTS_1, _WEIGHTS_2):
        value = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if value != 10:
            return value == int(iin[11])
    return False


def is_valid_iban(iban: str) -> bool:
    """A Kazakh IBAN: ``KZ`` + 2 check digits + 16 alphanumerics, mod-97 = 1 (ISO 13616)."""
    iban = iban.replace(" ", "").upper()
    if len(iban) != 20 or not iban.startswith("KZ") or not (iban.isascii() and iban.isalnum()):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def is_valid_card_number(pan: str) -> bool:
    """13 to 19 digits passing the Luhn check."""
    if not 13 <= len(pan) <= 19 or not (pan.isascii() and pan.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(pan)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def normalize_phone(phone: str) -> str | None:
    """E.164 (+7 and ten digits) for a Kazakh mobile number written as +7…, 8… or 7…; None if it is not one."""
    if not phone or any(ch not in "+0123456789 -()" for ch in phone) or "+" in phone[1:]:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.startswith("+"):
        if len(digits) != 11 or digits[0] != "7":
            return None
        digits = digits[1:]
    elif len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    if len(digits) != 10:
        return None
    return "+7" + digits if digits[:3] in OPERATOR_PREFIXES else None


def operator_of(phone: str) -> Operator | None:
    """The operator a normalised number's prefix was allocated to."""
    return OPERATOR_PREFIXES.get(phone[2:5]) if phone.startswith("+7") and len(phone) == 12 else None


@dataclass(frozen=True)
class PhoneLine:
    number: str  # E.164: +7 and ten digits
    sim_issued_at: datetime
    owner_since: datetime
    owner_bin: str | None = None  # set when the number is registered to a company, not the person
    deliverable: bool = True  # False: the handset is off, SMS never arrive

    @property
    def operator(self) -> Operator | None:
        return operator_of(self.number)


@dataclass(frozen=True)
class Account:
    iban: str
    status: Literal["active", "closed"] = "active"


@dataclass(frozen=True)
class Card:
    pan: str
    token: str  # what a lender stores instead of the number (the bank's token for the card)
    status: Literal["active", "blocked"] = "active"

    @property
    def last4(self) -> str:
        return self.pan[-4:]


@dataclass(frozen=True)
class Person:
    key: str
    iin: str
    surname: str
    first_name: str
    patronymic: str
    birth_date: date
    phone: PhoneLine
    photo: str | None = None  # file name in shared/fixtures/faces held by the CDAO
    portrait: str = ""  # path under shared/fixtures of the photo the registration photo is rendered from
    case: str = ""  # what this person exercises (README table)
    accounts: tuple[Account, ...] = ()
    cards: tuple[Card, ...] = ()
    refusal_registered_at: datetime | None = None  # voluntary loan refusal (R-NB.6)

    @property
    def full_name(self) -> str:
        return f"{self.surname} {self.first_name} {self.patronymic}".strip()


@dataclass(frozen=True)
class Population:
    people: tuple[Person, ...]
    by_iin: dict[str, Person] = field(init=False, repr=False)
    by_phone: dict[str, Person] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_iin", {p.iin: p for p in self.people})
        object.__setattr__(self, "by_phone", {p.phone.number: p for p in self.people})

    def __getitem__(self, key: str) -> Person:
        for person in self.people:
            if person.key == key:
                return person
        raise KeyError(key)

    def owner_of_iban(self, iban: str) -> tuple[Person, Account] | None:
        iban = iban.replace(" ", "").upper()
        for person in self.people:
            for account in person.accounts:
                if account.iban == iban:
                    return person, account
        return None

    def owner_of_card(self, *, pan: str | None = None, token: str | None = None) -> tuple[Person, Card] | None:
        for person in self.people:
            for card in person.cards:
                if (pan is not None and card.pan == pan) or (token is not None and card.token == token):
                    return person, card
        return None


COMPANY_BIN: Final = "150140012343"  # the NCA simulator's test company


def build_population(now: datetime | None = None) -> Population:
    """The shared population, with dates relative to ``now`` (default: the current time, UTC)."""
    now = now or datetime.now(UTC)

    def ago(days: int) -> datetime:
        return (now - timedelta(days=days)).replace(microsecond=0)

    return Population(
        (
            Person(
                key="arman",
                iin="900101300126",
                surname="СЕРІКОВ",
                first_name="АРМАН",
                patronymic="ҚАЙРАТҰЛЫ",
                birth_date=date(1990, 1, 1),
                phone=PhoneLine("+77771234567", sim_issued_at=ago(2200), owner_since=ago(2200)),
                photo="obama_1.jpg",
                portrait="faces/obama_1.jpg",
                case="the happy path: long-held Beeline number, photo on file, active account and card",
                accounts=(Account("KZ18722S000012345678"), Account("KZ42601KZT0000123456")),
                cards=(Card("4405630000123452", token="tok_arman_visa"),),
            ),
            Person(
                key="dana",
                iin="850515400343",
                surname="ЖАҚЫПОВА",
                first_name="ДАНА",
                patronymic="ЕРЛАНҚЫЗЫ",
                birth_date=date(1985, 5, 15),
                phone=PhoneLine("+77012345678", sim_issued_at=ago(1), owner_since=ago(1500)),
                portrait="faces-more/p03_1.jpg",
                case="SIM re-issued yesterday (SIM-swap risk, R-108.1); no photo on file at the CDAO",
                accounts=(Account("KZ58998KZT1234567890"),),
                cards=(Card("5100920000111226", token="tok_dana_mc"),),
            ),
            Person(
                key="nurlan",
                iin="780920300568",
                surname="ӘБДІРОВ",
                first_name="НҰРЛАН",
                patronymic="БОЛАТҰЛЫ",
                birth_date=date(1978, 9, 20),
                phone=PhoneLine("+77051112233", sim_issued_at=ago(900), owner_since=ago(900), owner_bin=COMPANY_BIN),
                photo="biden_1.jpg",
                portrait="faces/biden_1.jpg",
                case="corporate number: used by him, registered to his company, not to an individual",
                accounts=(Account("KZ11722S000098765432"),),
            ),
            Person(
                key="aigerim",
                iin="921112400783",
                surname="ОМАРОВА",
                first_name="АЙГЕРІМ",
                patronymic="САМАТҚЫЗЫ",
                birth_date=date(1992, 11, 12),
                phone=PhoneLine("+77075554433", sim_issued_at=ago(700), owner_since=ago(5)),
                portrait="faces-more/p01_1.jpg",
                case="number transferred to her five days ago; voluntary loan refusal registered (R-NB.6); "
                "no photo on file at the CDAO",
                accounts=(Account("KZ208560000005551234"),),
                refusal_registered_at=ago(200),
            ),
            Person(
                key="daniyar",
                iin="900203312342",
                surname="ОМАРОВ",
                first_name="ДАНИЯР",
                patronymic="МАРАТҰЛЫ",
                birth_date=date(1990, 2, 3),
                phone=PhoneLine("+77009876543", sim_issued_at=ago(1200), owner_since=ago(1200)),
                photo="alex_lacamoire_1.jpg",
                portrait="faces/alex_lacamoire_1.jpg",
                case="Altel number, card only, a closed account and a blocked card",
                accounts=(Account("KZ78914KZT7700011223", status="closed"),),
                cards=(
                    Card("4003030000567897", token="tok_daniyar_visa"),
                    Card("2200000000333447", token="tok_daniyar_mir", status="blocked"),
                ),
            ),
            Person(
                key="timur",
                iin="010530512347",
                surname="НҰРПЕЙІСОВ",
                first_name="ТИМУР",
                patronymic="АСҚАРҰЛЫ",
                birth_date=date(2001, 5, 30),
                phone=PhoneLine("+77471230000", sim_issued_at=ago(400), owner_since=ago(400), deliverable=False),
                photo="lin_manuel_miranda_1.png",
                # Another person's face: the CDAO, holding his state photo, answers "no match" (an impostor).
                portrait="faces-more/p04_1.jpg",
                case="phone switched off: SMS are accepted but never delivered; his registration photo is not "
                "the face the CDAO holds (no match)",
                cards=(Card("4405630000777885", token="tok_timur_visa"),),
            ),
        )
    )
