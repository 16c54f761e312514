"""Password policy (length, deny list, personal data) and argon2id storage with rehash on new costs."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from authsvc.errors import ConfigError, ValidationFailed
from authsvc.methods.passwords import (
    Argon2Params,
    PasswordHasher,
    PasswordPolicy,
    PasswordRejected,
    load_deny_list,
)

# Small costs keep the suite fast; the behaviour does not depend on them.
FAST = Argon2Params(time_cost=1, memory_cost_kib=64, parallelism=1)
POLICY = PasswordPolicy()


def reason_of(password: str, policy: PasswordPolicy = POLICY, personal: tuple[str, ...] = ()) -> str:
    with pytest.raises(PasswordRejected) as err:
        policy.check(password, personal=personal)
    assert err.value.code == f"password_{err.value.reason}"
    assert isinstance(err.value, ValidationFailed) and err.value.status == 422
    return err.value.reason


def test_deny_list_ships_thousands_of_lowercase_entries() -> None:
    denied = load_deny_list()
    assert len(denied) > 4000
    assert {"123456", "password", "qwertyuiop", "1234567890", "йцукенгшщз"} <= denied
    assert all(entry == entry.lower() and not entry.startswith("#") for entry in denied)


@pytest.mark.parametrize("password", ["1234567890", "QwertyUiop", "1q2w3e4r5t", "basketball", "ЙЦУКЕНГШЩЗ"])
def test_common_passwords_are_refused_whatever_the_case(password: str) -> None:
    assert reason_of(password) == "common"


def test_length_limits_and_their_reasons() -> None:
    POLICY.check("Sh0rt!pass")  # exactly 10 characters is enough
    assert reason_of("9chars!ok") == "too_short"
    PasswordPolicy(min_length=12).check("a fine phrase")
    assert reason_of("a fine phrase"[:11], PasswordPolicy(min_length=12)) == "too_short"
    assert reason_of("aaaaaaaaaaaa") == "repetitive"


def test_long_passphrases_are_allowed() -> None:
    POLICY.check("correct horse battery staple " * 40)  # 1160 characters
    assert reason_of("x" + "y" * 5000) == "too_long"


def test_maximum_below_64_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        PasswordPolicy(max_length=63)
    with pytest.raises(ConfigError):
        PasswordPolicy(min_length=0)


def test_personal_identifiers_inside_the_password_are_refused() -> None:
    personal = ("851022300018", "+7 777 123 4567", "Akhmetov")
    assert reason_of("my851022300018pw", personal=personal) == "contains_personal_data"
    assert reason_of("call 7771234567 now", personal=personal) == "contains_personal_data"
    assert reason_of("AKHMETOV-forever", personal=personal) == "contains_personal_data"
    POLICY.check("unrelated pass phrase", personal=personal)


def test_extra_denied_entries() -> None:
    policy = PasswordPolicy(extra_denied=frozenset({"demomfo2026!"}))
    assert reason_of("DemoMFO2026!", policy) == "common"


def test_hash_verify_and_unicode_normalisation() -> None:
    hasher = PasswordHasher(FAST)
    stored = hasher.hash("Café au lait 42")
    assert stored.startswith("$argon2id$") and "Café" not in stored
    assert hasher.verify(stored, "Café au lait 42")
    # The same text with a decomposed é (e + combining acute) is the same password.
    assert hasher.verify(stored, "Cafe\u0301 au lait 42")
    assert not hasher.verify(stored, "Cafe au lait 42")
    assert hasher.hash("same") != hasher.hash("same")  # salted


def test_rehash_when_parameters_change() -> None:
    old = PasswordHasher(FAST)
    stored = old.hash("pass phrase one")
    assert not old.needs_rehash(stored)
    stronger = PasswordHasher(Argon2Params(time_cost=2, memory_cost_kib=128, parallelism=1))
    assert stronger.needs_rehash(stored)
    assert stronger.verify(stored, "pass phrase one")  # old hashes still verify
    assert not stronger.needs_rehash(stronger.hash("pass phrase one"))


def test_corrupt_stored_hash_is_a_named_failure() -> None:
    hasher = PasswordHasher(FAST)
    for bad in ("plaintext", "$argon2id$v=19$m=64,t=1,p=1$short"):
        with pytest.raises(ValidationFailed) as err:
            hasher.verify(bad, "x")
        assert err.value.code == "password_hash_invalid"
    with pytest.raises(ValidationFailed):
        hasher.needs_rehash("plaintext")


def test_impossible_parameters_fail_at_construction() -> None:
    with pytest.raises(ConfigError):
        PasswordHasher(Argon2Params(memory_cost_kib=1, parallelism=4))


def test_dummy_verify_costs_about_as_much_as_a_real_one() -> None:
    hasher = PasswordHasher(Argon2Params(time_cost=1, memory_cost_kib=4096, parallelism=1))
    stored = hasher.hash("real password")

    def fastest(run: Callable[[], object]) -> float:
        # The minimum of several runs is the measure least disturbed by other load on the machine.
        timings = []
        for _ in range(7):
            started = time.perf_counter()
            run()
            timings.append(time.perf_counter() - started)
        return min(timings)

    real = fastest(lambda: hasher.verify(stored, "wrong password"))
    dummy = fastest(hasher.verify_dummy)
    assert hasher.verify_dummy() is False
    assert real / 3 < dummy < real * 3


async def test_async_variants_run_off_the_loop() -> None:
    hasher = PasswordHasher(FAST)
    stored = await hasher.ahash("async pass phrase")
    assert await hasher.averify(stored, "async pass phrase")
    assert not await hasher.averify(stored, "other pass phrase")
    assert await hasher.averify_dummy() is False
