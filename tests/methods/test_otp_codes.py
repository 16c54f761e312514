"""HOTP/TOTP against the published RFC vectors, and the window, drift, replay and resync rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from authsvc.errors import ValidationFailed
from authsvc.methods import otp_codes
from authsvc.methods.otp_codes import (
    Algorithm,
    base32_secret,
    hash_code,
    hotp,
    otpauth_uri,
    parse_base32_secret,
    random_numeric_code,
    resync_hotp,
    resync_totp,
    totp,
    totp_step,
    verify_code_hash,
    verify_hotp,
    verify_totp,
)

DATA = Path(__file__).parent / "data"
HOTP_DATA: dict[str, Any] = json.loads((DATA / "rfc4226_hotp.json").read_text())
TOTP_DATA: dict[str, Any] = json.loads((DATA / "rfc6238_totp.json").read_text())
HOTP_KEY = HOTP_DATA["secret_ascii"].encode()
KEY = b"0123456789abcdef0123"  # 20 bytes, for the behavioural tests


@pytest.mark.parametrize("vector", HOTP_DATA["vectors"], ids=lambda v: f"counter{v['counter']}")
def test_rfc4226_appendix_d(vector: dict[str, Any]) -> None:
    assert hotp(HOTP_KEY, vector["counter"]) == vector["hotp"]


@pytest.mark.parametrize("vector", TOTP_DATA["vectors"], ids=lambda v: f"{v['algorithm']}-{v['time']}")
def test_rfc6238_appendix_b(vector: dict[str, Any]) -> None:
    key = TOTP_DATA["seeds_ascii"][vector["algorithm"]].encode()
    assert totp_step(vector["time"]) == int(vector["step_hex"], 16)
    assert totp(key, vector["time"], digits=8, algorithm=vector["algorithm"]) == vector["totp"]
    # The same code verifies at that time and names its step.
    match = verify_totp(key, vector["totp"], vector["time"], digits=8, algorithm=vector["algorithm"])
    assert match is not None and match.step == int(vector["step_hex"], 16) and match.drift == 0


def test_hotp_look_ahead_returns_matched_counter_and_refuses_old_counters() -> None:
    codes = [v["hotp"] for v in HOTP_DATA["vectors"]]
    assert verify_hotp(HOTP_KEY, codes[4], 2, look_ahead=3) == 4
    assert verify_hotp(HOTP_KEY, codes[6], 2, look_ahead=3) is None  # beyond the window
    assert verify_hotp(HOTP_KEY, codes[1], 2, look_ahead=3) is None  # already used: replay
    assert verify_hotp(HOTP_KEY, "755 224", 0) == 0  # spaces people type are accepted


def test_hotp_resync_from_two_consecutive_codes() -> None:
    codes = [v["hotp"] for v in HOTP_DATA["vectors"]]
    assert resync_hotp(HOTP_KEY, codes[7], codes[8], 0, window=20) == 9
    assert resync_hotp(HOTP_KEY, codes[7], codes[9], 0, window=20) is None  # not consecutive
    assert resync_hotp(HOTP_KEY, codes[7], codes[8], 0, window=5) is None  # out of reach


def test_totp_accepts_one_step_either_way_and_reports_drift() -> None:
    now = 1_700_000_015.0
    step = totp_step(now)
    before = hotp(KEY, step - 1)
    after = hotp(KEY, step + 1)
    two_late = hotp(KEY, step + 2)
    assert verify_totp(KEY, before, now) == otp_codes.TotpMatch(step=step - 1, drift=-1)
    assert verify_totp(KEY, after, now) == otp_codes.TotpMatch(step=step + 1, drift=1)
    assert verify_totp(KEY, two_late, now) is None
    # A remembered drift of +2 (device clock runs fast) moves the window.
    assert verify_totp(KEY, two_late, now, drift=2) == otp_codes.TotpMatch(step=step + 2, drift=2)
    # The remembered drift is capped by max_drift.
    assert verify_totp(KEY, hotp(KEY, step + 50), now, drift=50, max_drift=10) is None


def test_totp_code_is_good_once() -> None:
    now = 1_700_000_015.0
    code = totp(KEY, now)
    first = verify_totp(KEY, code, now)
    assert first is not None
    assert verify_totp(KEY, code, now + 5, last_used_step=first.step) is None
    # The next step's code is still accepted after the last used one.
    nxt = totp(KEY, now + 30)
    assert verify_totp(KEY, nxt, now + 30, last_used_step=first.step) is not None


def test_totp_resync_finds_drift_from_two_consecutive_codes() -> None:
    now = 1_700_000_015.0
    step = totp_step(now)
    match = resync_totp(KEY, hotp(KEY, step + 6), hotp(KEY, step + 7), now, max_drift=10)
    assert match == otp_codes.TotpMatch(step=step + 7, drift=7)
    assert resync_totp(KEY, hotp(KEY, step + 6), hotp(KEY, step + 8), now) is None


@pytest.mark.parametrize("bad", ["12345", "1234567", "12a456", "", "١٢٣٤٥٦"])
def test_malformed_codes_are_a_named_failure(bad: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        verify_totp(KEY, bad, 1_700_000_000.0)
    assert err.value.code == "otp_malformed"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"key": b"short"}, "otp_key_too_short"),
        ({"digits": 5}, "otp_bad_digits"),
        ({"algorithm": "MD5"}, "otp_bad_algorithm"),
        ({"counter": -1}, "otp_bad_counter"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any], code: str) -> None:
    args: dict[str, Any] = {"key": KEY, "counter": 0, "digits": 6, "algorithm": "SHA1"} | kwargs
    with pytest.raises(ValidationFailed) as err:
        hotp(args.pop("key"), args.pop("counter"), **args)
    assert err.value.code == code


def test_otpauth_uri_round_trips_the_secret_and_parameters() -> None:
    key = otp_codes.new_secret()
    uri = otpauth_uri(key, account="client-42", issuer="Demo MFO", algorithm="SHA256", digits=8)
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Demo MFO:client-42"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "secret": base32_secret(key),
        "issuer": "Demo MFO",
        "algorithm": "SHA256",
        "digits": "8",
        "period": "30",
    }
    assert "=" not in query["secret"]
    assert parse_base32_secret(query["secret"].lower()) == key
    hotp_uri = otpauth_uri(key, account="a", issuer="b", kind="hotp", counter=7)
    assert "counter=7" in hotp_uri and "period" not in hotp_uri


def test_base32_garbage_is_refused() -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_base32_secret("not base32!")
    assert err.value.code == "otp_bad_secret"


def test_random_codes_have_fixed_length_and_vary() -> None:
    codes = {random_numeric_code(6) for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190  # 200 draws from 10^6 rarely collide
    with pytest.raises(ValidationFailed):
        random_numeric_code(3)


def test_code_hash_needs_the_key_and_is_bound_to_its_challenge() -> None:
    server_key = b"k" * 32
    stored = hash_code(server_key, "042917", context="idn-1")
    assert "042917" not in stored
    assert verify_code_hash(server_key, "042 917", stored, context="idn-1")
    assert not verify_code_hash(server_key, "042918", stored, context="idn-1")
    assert not verify_code_hash(server_key, "042917", stored, context="idn-2")
    assert not verify_code_hash(b"x" * 32, "042917", stored, context="idn-1")


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
def test_enrolment_uri_is_read_the_same_by_an_independent_implementation(algorithm: Algorithm) -> None:
    """pyotp parses otpauth:// URIs as authenticator apps do; its codes must equal ours."""
    import pyotp

    key = otp_codes.new_secret(32)
    uri = otpauth_uri(key, account="client-7", issuer="Demo", algorithm=algorithm, digits=8)
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    for at in (59, 1_111_111_109, 2_000_000_000):
        assert parsed.at(at) == totp(key, at, digits=8, algorithm=algorithm)
