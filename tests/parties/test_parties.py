"""Telco, bank and credit-bureau clients against their simulators: the answers flows decide on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from authsvc.errors import Conflict, ValidationFailed
from authsvc.parties.bank import BankClient
from authsvc.parties.bureau import BureauClient, LoanApplication
from authsvc.parties.jsonapi import UpstreamRejected
from authsvc.parties.telco import TelcoClient
from simulators.bank.app import create_app as bank_app
from simulators.bureau.app import create_app as bureau_app
from simulators.population import COMPANY_BIN, build_population
from simulators.telco.app import create_app as telco_app
from tests.parties.simkit import endpoint

PEOPLE = build_population()
NOW = datetime.now(UTC)


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def telco(aiohttp_server: Any, session: Any) -> TelcoClient:
    return TelcoClient(session, endpoint(await aiohttp_server(telco_app(population=PEOPLE))))


@pytest.fixture
async def bank(aiohttp_server: Any, session: Any) -> BankClient:
    return BankClient(session, endpoint(await aiohttp_server(bank_app(population=PEOPLE))))


@pytest.fixture
async def bureau_server(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(bureau_app(population=PEOPLE))
    return server


async def test_telco_confirms_a_long_held_personal_number(telco: TelcoClient) -> None:
    arman = PEOPLE["arman"]
    check = await telco.check_subscriber(arman.iin, arman.phone.number)
    assert check.confirmed and check.operator == "Beeline"
    assert not check.sim_changed_within(timedelta(days=30), now=NOW)


async def test_telco_flags_a_fresh_sim_and_a_recent_transfer(telco: TelcoClient) -> None:
    for key in ("dana", "aigerim"):
        person = PEOPLE[key]
        check = await telco.check_subscriber(person.iin, person.phone.number)
        assert check.confirmed
        assert check.sim_changed_within(timedelta(days=7), now=NOW)


async def test_telco_corporate_number_is_not_registered_to_the_individual(telco: TelcoClient) -> None:
    nurlan = PEOPLE["nurlan"]
    check = await telco.check_subscriber(nurlan.iin, nurlan.phone.number)
    assert check.match and not check.registered_to_individual and not check.confirmed


async def test_telco_someone_elses_number_discloses_nothing(telco: TelcoClient) -> None:
    check = await telco.check_subscriber(PEOPLE["arman"].iin, PEOPLE["dana"].phone.number)
    assert not check.match and not check.confirmed
    assert (check.sim_issued_at, check.owner_since, check.operator) == (None, None, "Kcell")


async def test_telco_invalid_iin_is_a_rejected_request(telco: TelcoClient) -> None:
    with pytest.raises(UpstreamRejected) as err:
        await telco.check_subscriber("123456789011", PEOPLE["arman"].phone.number)
    assert err.value.extra["upstream_code"] == "invalid_iin" and err.value.code == "upstream_rejected"


async def test_api_key_is_sent_when_configured(aiohttp_server: Any, session: Any) -> None:
    server = await aiohttp_server(telco_app(api_key="k-123", population=PEOPLE))
    arman = PEOPLE["arman"]
    good = TelcoClient(session, endpoint(server, api_key="k-123"))
    assert (await good.check_subscriber(arman.iin, arman.phone.number)).confirmed
    with pytest.raises(UpstreamRejected) as err:
        await TelcoClient(session, endpoint(server, api_key="wrong")).check_subscriber(arman.iin, arman.phone.number)
    assert err.value.extra["upstream_status"] == 401


async def test_bank_owner_and_payability(bank: BankClient) -> None:
    arman, daniyar = PEOPLE["arman"], PEOPLE["daniyar"]
    assert (await bank.verify_owner(arman.iin, iban=arman.accounts[0].iban)).payable
    assert (await bank.verify_owner(arman.iin, card_token=arman.cards[0].token)).payable
    assert (await bank.verify_owner(arman.iin, card_number=arman.cards[0].pan)).payable
    closed = await bank.verify_owner(daniyar.iin, iban=daniyar.accounts[0].iban)
    assert closed.owner_match and closed.status == "closed" and not closed.payable
    blocked = await bank.verify_owner(daniyar.iin, card_token=daniyar.cards[1].token)
    assert blocked.owner_match and not blocked.payable


async def test_bank_someone_elses_account_is_no_match_and_hides_status(bank: BankClient) -> None:
    other = await bank.verify_owner(PEOPLE["dana"].iin, iban=PEOPLE["arman"].accounts[0].iban)
    assert (other.owner_match, other.instrument_found, other.status) == (False, True, None)
    unknown = await bank.verify_owner(PEOPLE["dana"].iin, iban="KZ86125KZT5004100100")
    assert (unknown.owner_match, unknown.instrument_found) == (False, False)


async def test_bank_input_errors(bank: BankClient) -> None:
    arman = PEOPLE["arman"]
    with pytest.raises(ValidationFailed) as err:
        await bank.verify_owner(arman.iin, iban=arman.accounts[0].iban, card_token="tok")
    assert err.value.code == "one_payment_instrument"
    with pytest.raises(UpstreamRejected) as rejected:
        await bank.verify_owner(arman.iin, iban="KZ00125KZT5004100100")
    assert rejected.value.extra["upstream_code"] == "invalid_iban"
    with pytest.raises(UpstreamRejected) as luhn:
        await bank.verify_owner(arman.iin, card_number="4405630000123453")
    assert luhn.value.extra["upstream_code"] == "invalid_card_number"


async def test_bureau_refusal_register(bureau_server: TestServer, session: Any) -> None:
    bureau = BureauClient(session, endpoint(bureau_server))
    aigerim = await bureau.refusal(PEOPLE["aigerim"].iin)
    assert aigerim.refusal and aigerim.registered_at is not None and aigerim.registered_at < NOW
    assert not (await bureau.refusal(PEOPLE["arman"].iin)).refusal
    async with session.post(
        bureau_server.make_url("/admin/refusals"), json={"iin": PEOPLE["arman"].iin, "refusal": True}
    ) as resp:
        assert resp.status == 200
    assert (await bureau.refusal(PEOPLE["arman"].iin)).refusal
    with pytest.raises(ValidationFailed):
        await bureau.refusal("../admin")


def application(app_id: str, key: str = "arman", amount: int = 200_000) -> LoanApplication:
    return LoanApplication(app_id, PEOPLE[key].iin, COMPANY_BIN, amount, datetime(2026, 11, 21, 9, 30, tzinfo=UTC))


async def test_bureau_application_report_is_idempotent(bureau_server: TestServer, session: Any) -> None:
    bureau = BureauClient(session, endpoint(bureau_server))
    first = await bureau.report_application(application("loan-42"))
    again = await bureau.report_application(application("loan-42"))
    assert first == again and first.client_notified and not first.refusal_on_file
    with pytest.raises(Conflict) as err:
        await bureau.report_application(application("loan-42", amount=999_000))
    assert err.value.code == "bureau_application_conflict"
    refused = await bureau.report_application(application("loan-43", key="aigerim"))
    assert refused.refusal_on_file
    with pytest.raises(ValidationFailed):
        await bureau.report_application(application("bad id with spaces"))


async def test_errors_do_not_carry_the_iin_in_the_url(session: Any) -> None:
    """The refusal query has the IIN in its path; a failure must not echo it to lenders or logs."""
    from authsvc.errors import UpstreamUnavailable
    from tests.parties.simkit import refused_url

    iin = PEOPLE["aigerim"].iin
    with pytest.raises(UpstreamUnavailable) as err:
        await BureauClient(session, endpoint(refused_url(), "bureau")).refusal(iin)
    assert err.value.code == "upstream_unreachable"
    assert iin not in err.value.detail and iin not in repr(err.value.extra)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert err.value.extra["upstream"] == "bureau"


def test_endpoint_settings_are_checked() -> None:
    from authsvc.errors import ConfigError
    from authsvc.parties.jsonapi import Endpoint

    with pytest.raises(ConfigError):
        Endpoint(base_url="localhost:8080")
    with pytest.raises(ConfigError):
        Endpoint(base_url="http://x", timeout=0)
