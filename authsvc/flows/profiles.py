"""Regulatory profiles: what completes an identification for each operation, kept as data (configs/profiles).

A profile file names its operations; each operation has conditions, all of which must hold. A condition
holds when every *token* of any one of its alternatives has a passed step; a token is a step method
(``eds``, ``otp_sms``…) or a group of methods (``factor``: any one of them). ``extends`` takes another
profile's groups, signals and operations and adds to them: the child's conditions are appended, its other
keys replace the parent's. An operation may be ``required``: the lender's operation it authorises (signing
the contract, for ``loan_contract``) is refused without one completed and unused. Loading checks every name,
so a typo fails the start, not an identification.

``[liveness] document_match`` says whether the liveness step must match the live face to the identity
document (R-7.3b(i)): ``"required"`` (a client without a document image cannot take the step until one is
given; ``requirement`` then names the rule, shown in the profile's explanation and in what an identification
still needs) or ``"when_given"`` (the default: matched whenever the client has one).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from authsvc import error_codes
from authsvc.errors import ConfigError

# The method of every step the service records (`identification_steps.method`).
METHODS = frozenset(
    {
        "eds",
        "liveness",
        "cdao",
        "telco",
        "otp_sms",
        "otp_voice",
        "otp_totp",
        "otp_hotp",
        "password",
        "bureau_refusal",
        "payout_account",
        "application_notice",
    }
)
OPERATIONS = ("registration", "login", "change_contact", "factor_reset", "loan_contract", "payout")
SIGNALS = frozenset({"rooted", "jailbroken", "remote_control", "emulator", "app_signature_invalid"})
DocumentMatch = Literal["when_given", "required"]
DOCUMENT_MATCH: tuple[DocumentMatch, ...] = ("when_given", "required")


@dataclass(frozen=True)
class Group:
    name: str
    label: str
    requirement: str
    methods: frozenset[str]


@dataclass(frozen=True)
class Condition:
    requirement: str
    label: str
    any: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Required:
    """The lender's own operation (signing the contract, for ``loan_contract``) is refused without a
    completed, unused identification of this kind under this profile (or one built on it), and why."""

    requirement: str
    label: str


# The operations whose identification a lender's operation of this service consults (`OperationRule.required`).
REQUIRABLE = frozenset({"loan_contract"})


@dataclass(frozen=True)
class OperationRule:
    operation: str
    conditions: tuple[Condition, ...]
    requires_registration: bool = False
    decisive: frozenset[str] = frozenset()  # a failed step of these methods fails the identification
    cooling_off: Literal["off", "next_day"] = "off"
    required: Required | None = None


@dataclass(frozen=True)
class SignalPolicy:
    refuse: frozenset[str] = frozenset()
    required_for: frozenset[str] = frozenset()
    geolocation_for: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    summary: str
    ttl_s: int
    max_failures: int
    groups: Mapping[str, Group]
    operations: Mapping[str, OperationRule]
    signals: SignalPolicy = field(default_factory=SignalPolicy)
    extends: str | None = None
    document_match: DocumentMatch = "when_given"  # [liveness] document_match
    document_requirement: str = ""  # [liveness] requirement: the rule asking for the document

    def methods_of(self, token: str) -> frozenset[str]:
        group = self.groups.get(token)
        return group.methods if group is not None else frozenset({token})

    def rule(self, operation: str) -> OperationRule:
        return self.operations[operation]


def _bad(name: str, why: str) -> ConfigError:
    return ConfigError(f"profile {name}: {why}", code=error_codes.CONFIG_ERROR)


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    merged = {**parent, **{k: v for k, v in child.items() if k not in ("groups", "operations", "signals")}}
    merged["groups"] = {**parent.get("groups", {}), **child.get("groups", {})}
    merged["signals"] = child.get("signals", parent.get("signals", {}))
    ops = {k: dict(v) for k, v in parent.get("operations", {}).items()}
    for op, spec in child.get("operations", {}).items():
        base = ops.setdefault(op, {})
        conditions = [*base.get("conditions", []), *spec.get("conditions", [])]
        base.update({k: v for k, v in spec.items() if k != "conditions"})
        base["conditions"] = conditions
    merged["operations"] = ops
    return merged


def _raw(folders: Sequence[Path], name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name in seen:
        raise _bad(name, f"extends itself through {' -> '.join(seen)}")
    found = [f / f"{name}.toml" for f in folders if (f / f"{name}.toml").is_file()]
    if not found:
        raise _bad(name, f"no file {name}.toml in {', '.join(map(str, folders))}")
    path = found[-1]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _bad(name, f"{path} is not TOML: {exc}") from exc
    if data.get("name") != name:
        raise _bad(name, f"{path} names itself {data.get('name')!r}")
    parent = data.get("extends")
    return data if parent is None else _merge(_raw(folders, parent, (*seen, name)), data)


def _required(name: str, op: str, spec: dict[str, Any]) -> Required | None:
    found = spec.get("required")
    if found is None:
        return None
    if op not in REQUIRABLE or not isinstance(found, dict) or not found.get("requirement"):
        raise _bad(name, f"{op}: 'required' (a table with requirement and label) is only for {sorted(REQUIRABLE)}")
    return Required(str(found["requirement"]), str(found.get("label", "")))


def _build(name: str, data: dict[str, Any]) -> Profile:
    groups: dict[str, Group] = {}
    for gname, g in data.get("groups", {}).items():
        methods = frozenset(g.get("methods", []))
        if not methods or methods - METHODS:
            raise _bad(name, f"group {gname} names unknown methods {sorted(methods - METHODS)}")
        groups[gname] = Group(gname, str(g.get("label", gname)), str(g.get("requirement", "")), methods)
    operations: dict[str, OperationRule] = {}
    for op, spec in data.get("operations", {}).items():
        if op not in OPERATIONS:
            raise _bad(name, f"unknown operation {op}")
        conditions = []
        for c in spec.get("conditions", []):
            alternatives = tuple(tuple(str(t) for t in alt) for alt in c.get("any", []))
            unknown = {t for alt in alternatives for t in alt} - METHODS - set(groups)
            if not alternatives or not all(alternatives) or unknown:
                raise _bad(name, f"{op}: a condition needs alternatives of known methods or groups ({sorted(unknown)})")
            conditions.append(Condition(str(c.get("requirement", "")), str(c.get("label", "")), alternatives))
        if not conditions:
            raise _bad(name, f"{op} has no conditions")
        decisive = frozenset(spec.get("decisive", []))
        cooling = spec.get("cooling_off", "off")
        if decisive - METHODS or cooling not in ("off", "next_day"):
            raise _bad(name, f"{op}: bad decisive methods or cooling_off")
        operations[op] = OperationRule(
            op, tuple(conditions), bool(spec.get("requires_registration")), decisive, cooling, _required(name, op, spec)
        )
    missing = set(OPERATIONS) - set(operations)
    if missing:
        raise _bad(name, f"operations without rules: {sorted(missing)}")
    sig = data.get("signals", {})
    policy = SignalPolicy(
        frozenset(sig.get("refuse", [])),
        frozenset(sig.get("required_for", [])),
        frozenset(sig.get("geolocation_for", [])),
    )
    if policy.refuse - SIGNALS or (policy.required_for | policy.geolocation_for) - set(OPERATIONS):
        raise _bad(name, "signals name unknown signals or operations")
    liveness = data.get("liveness", {})
    document_match = liveness.get("document_match", "when_given")
    document_requirement = str(liveness.get("requirement", ""))
    if set(liveness) - {"document_match", "requirement"} or document_match not in DOCUMENT_MATCH:
        raise _bad(name, f"[liveness] takes only document_match (one of {', '.join(DOCUMENT_MATCH)}) and requirement")
    if document_match == "required" and not document_requirement:
        raise _bad(name, '[liveness] document_match = "required" needs the requirement it implements')
    ttl, failures = int(data.get("ttl_s", 900)), int(data.get("max_failures", 3))
    if not 60 <= ttl <= 86_400 or not 1 <= failures <= 20:
        raise _bad(name, "ttl_s must be 60..86400 and max_failures 1..20")
    return Profile(
        name,
        str(data.get("title", name)),
        " ".join(str(data.get("summary", "")).split()),
        ttl,
        failures,
        groups,
        operations,
        policy,
        data.get("extends"),
        document_match,
        document_requirement,
    )


def load_profiles(*folders: Path) -> dict[str, Profile]:
    """Every ``*.toml`` profile in ``folders`` (a later folder's file wins), checked; a broken one fails the start."""
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"profiles folder {folder} does not exist", code=error_codes.CONFIG_ERROR)
    names = sorted({p.stem for folder in folders for p in folder.glob("*.toml")})
    if not names:
        raise ConfigError(f"no profiles in {', '.join(map(str, folders))}", code=error_codes.CONFIG_ERROR)
    return {n: _build(n, _raw(folders, n)) for n in names}


def explain(profile: Profile) -> dict[str, Any]:
    """The profile in words, for GET /v1/profiles/{name}."""

    def token(t: str) -> dict[str, Any]:
        g = profile.groups.get(t)
        if g is None:
            return {"token": t, "methods": [t]}
        return {"token": t, "label": g.label, "requirement": g.requirement, "methods": sorted(g.methods)}

    return {
        "name": profile.name,
        "title": profile.title,
        "summary": profile.summary,
        "extends": profile.extends,
        "ttl_s": profile.ttl_s,
        "max_failures": profile.max_failures,
        "liveness": {"document_match": profile.document_match, "requirement": profile.document_requirement or None},
        "signals": {
            "refuse": sorted(profile.signals.refuse),
            "required_for": sorted(profile.signals.required_for),
            "geolocation_for": sorted(profile.signals.geolocation_for),
        },
        "operations": {
            op: {
                "requires_registration": rule.requires_registration,
                "decisive": sorted(rule.decisive),
                "cooling_off": rule.cooling_off,
                "required": None
                if rule.required is None
                else {"requirement": rule.required.requirement, "label": rule.required.label},
                "conditions": [
                    {
                        "requirement": c.requirement,
                        "label": c.label,
                        "any": [[token(t) for t in alt] for alt in c.any],
                    }
                    for c in rule.conditions
                ],
            }
            for op, rule in profile.operations.items()
        },
    }
