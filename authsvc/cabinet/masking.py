"""Masked forms of personal data for responses and logs: enough to recognise, not enough to reuse."""

from __future__ import annotations


def mask_tail(value: str, keep: int = 4, fill: str = "*") -> str:
    if len(value) <= keep:
        return fill * len(value)
    return fill * (len(value) - keep) + value[-keep:]


def mask_name(*parts: str | None) -> str:
    return " ".join(p[0] + "*" * (len(p) - 1) for p in parts if p)


def mask_phone(e164: str) -> str:
    # +77012345678 -> +7701*****78
    return e164[:5] + "*" * (len(e164) - 7) + e164[-2:]


def mask_iban(iban: str) -> str:
    return iban[:4] + "*" * (len(iban) - 8) + iban[-4:]
