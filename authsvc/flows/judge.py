"""Judging the steps of an identification against its profile: completed, failed or still pending, and why.

Pure: the same steps under the same profile give the same verdict, so `GET` shows exactly what the
transition decided. A token (method or group) is *done* when one of its methods has a passed step and
*exhausted* when its methods failed ``max_failures`` times without passing; an alternative is impossible
once one of its tokens is exhausted, a condition once all its alternatives are, and then the
identification fails. A failed step of a *decisive* method (e.g. a voluntary refusal on the credit report
under nb-2025) fails it at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from authsvc.flows.profiles import Condition, OperationRule, Profile

Verdict = Literal["pending", "completed", "failed"]


@dataclass(frozen=True)
class Taken:
    method: str
    passed: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failure:
    code: str
    reason: str
    requirement: str | None = None


@dataclass(frozen=True)
class Alternative:
    tokens: tuple[str, ...]
    done: tuple[str, ...]
    missing: tuple[str, ...]
    exhausted: tuple[str, ...]


@dataclass(frozen=True)
class ConditionState:
    requirement: str
    label: str
    met: bool
    alternatives: tuple[Alternative, ...]

    @property
    def possible(self) -> bool:
        return self.met or any(not a.exhausted for a in self.alternatives)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    conditions: tuple[ConditionState, ...]
    next_methods: tuple[str, ...] = ()
    failure: Failure | None = None
    blockers: tuple[Failure, ...] = field(default=())


def _token_state(profile: Profile, token: str, taken: Sequence[Taken]) -> tuple[bool, bool]:
    methods = profile.methods_of(token)
    mine = [t for t in taken if t.method in methods]
    done = any(t.passed for t in mine)
    return done, not done and sum(not t.passed for t in mine) >= profile.max_failures


def _condition(profile: Profile, condition: Condition, taken: Sequence[Taken]) -> ConditionState:
    alternatives = []
    for alt in condition.any:
        states = {t: _token_state(profile, t, taken) for t in alt}
        alternatives.append(
            Alternative(
                alt,
                tuple(t for t in alt if states[t][0]),
                tuple(t for t in alt if not states[t][0]),
                tuple(t for t in alt if states[t][1]),
            )
        )
    met = any(not a.missing for a in alternatives)
    return ConditionState(condition.requirement, condition.label, met, tuple(alternatives))


def judge(profile: Profile, rule: OperationRule, taken: Sequence[Taken], blockers: Sequence[Failure] = ()) -> Judgement:
    """The verdict on ``taken`` (oldest first); ``blockers`` (a refused device, a black-listed number) fail it."""
    conditions = tuple(_condition(profile, c, taken) for c in rule.conditions)
    failure: Failure | None = blockers[0] if blockers else None
    if failure is None:
        for t in taken:
            if t.method in rule.decisive and not t.passed:
                why = ", ".join(t.reasons) or "refused"
                failure = Failure("decisive_step_failed", f"the {t.method} step failed ({why})")
                break
    if failure is None:
        for c in conditions:
            if not c.possible:
                failure = Failure(
                    "attempts_exhausted",
                    f"every way to meet '{c.label}' has used up its {profile.max_failures} attempts",
                    c.requirement,
                )
                break
    if failure is not None:
        return Judgement("failed", conditions, (), failure, tuple(blockers))
    if all(c.met for c in conditions):
        return Judgement("completed", conditions)
    useful: dict[str, None] = {}
    for c in conditions:
        if c.met:
            continue
        for a in c.alternatives:
            if a.exhausted:
                continue
            for token in a.missing:
                for m in sorted(profile.methods_of(token)):
                    if not _token_state(profile, m, taken)[1]:
                        useful[m] = None
    return Judgement("pending", conditions, tuple(useful))
