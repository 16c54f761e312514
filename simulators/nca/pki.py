"""The simulator's whole PKI: both CA families, every certificate issued, revocations and CRL
publication. Persisted as one JSON file under the state directory so a restart keeps the same CA."""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import x509

from simulators.nca import ca, crl, keys, people
from simulators.nca.ca import CaFamily, KeyAndCert, Urls
from simulators.nca.issue import Holder, issue_end_entity
from simulators.nca.keys import Signer
from simulators.nca.oids import FAMILIES, Family, Identification, Role

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
STATE_FILE = "nca-state.json"
STATE_VERSION = 1
CRL_LIFETIME = timedelta(days=1)
ROOT_CRL_LIFETIME = timedelta(days=180)
LEAF_LIFETIME = timedelta(days=365)


@dataclass
class Revocation:
    reason: str
    revoked_at: datetime
    seq: int  # publication order: a base CRL covers seq <= its mark, the delta the rest


@dataclass
class Issued:
    family: Family
    certificate: x509.Certificate
    private_key: bytes  # PKCS#8 DER, kept so keystores can be handed out again
    holder: Holder
    person: str | None = None
    revocation: Revocation | None = None

    @property
    def serial(self) -> int:
        return int(self.certificate.serial_number)


@dataclass
class CrlMarks:
    """Publication state of one CA's CRLs; complete and delta CRLs share one number sequence."""

    last_number: int = 0
    base_number: int = 0
    base_time: datetime = field(default_factory=lambda: datetime.fromtimestamp(0, UTC))
    base_upto: int = 0
    delta_number: int = 0
    delta_time: datetime = field(default_factory=lambda: datetime.fromtimestamp(0, UTC))
    root_number: int = 0
    root_time: datetime = field(default_factory=lambda: datetime.fromtimestamp(0, UTC))


class Pki:
    def __init__(
        self,
        urls: Urls,
        families: dict[Family, CaFamily],
        clock: Clock,
        state_dir: Path | None,
    ) -> None:
        self.urls = urls
        self.families = families
        self.clock = clock
        self.state_dir = state_dir
        self.issued: dict[int, Issued] = {}
        self.marks: dict[Family, CrlMarks] = {f: CrlMarks() for f in FAMILIES}
        self.revocation_seq = 0
        self._crl_cache: dict[tuple[Family, str], bytes] = {}

    # --- creation and persistence -------------------------------------------------------------
    @classmethod
    def open(cls, urls: Urls, state_dir: Path | None, clock: Clock) -> Pki:
        """Load the state under `state_dir`, or create CAs and the built-in population once."""
        if state_dir is not None and (state_dir / STATE_FILE).is_file():
            return _load(urls, state_dir, clock)
        now = clock()
        pki = cls(urls, {f: ca.create_family(f, urls, now) for f in FAMILIES}, clock, state_dir)
        for person, holder in people.BUILTIN.items():
            for family in FAMILIES:
                pki.issue(holder, family, person=person, save=False)
        for family in FAMILIES:
            pki.publish(family, base=True, save=False)
        pki.save()
        return pki

    def save(self) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(_dump(self), ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_dir / STATE_FILE)  # atomic: a crash never leaves half a state

    # --- issuance and revocation ---------------------------------------------------------------
    def issue(
        self,
        holder: Holder,
        family: Family,
        *,
        person: str | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        client_auth: bool = False,
        save: bool = True,
        signer: Signer | None = None,
    ) -> Issued:
        """Issue a certificate to `holder`, with a fresh key unless `signer` brings one."""
        if signer is None:
            signer = keys.generate(family)
        elif signer.family != family:
            raise ValueError(f"a {signer.family} key cannot get a {family} certificate")
        start = not_before or self.clock() - timedelta(minutes=5)
        cert = issue_end_entity(
            self.families[family],
            holder,
            signer.public_key_info(),
            urls=self.urls,
            not_before=start,
            not_after=not_after or start + LEAF_LIFETIME,
            client_auth=client_auth,
        )
        issued = Issued(family, cert, signer.private_key_pkcs8(), holder, person)
        self.issued[issued.serial] = issued
        if save:
            self.save()
        return issued

    def revoke(self, serial: int, reason: str, revoked_at: datetime | None, *, publish_base: bool) -> Issued:
        """Record a revocation, then publish a new delta CRL (and a new complete CRL if asked)."""
        issued = self.issued.get(serial)
        if issued is None:
            raise KeyError(f"no certificate with serial {serial:x} was issued here")
        if issued.revocation is not None:
            raise ValueError(f"certificate {serial:x} is already revoked")
        self.revocation_seq += 1
        when = revoked_at or self.clock()
        issued.revocation = Revocation(crl.normalise_reason(reason), when, self.revocation_seq)
        self.publish(issued.family, base=publish_base, save=False)
        self.save()
        return issued

    # --- CRLs ----------------------------------------------------------------------------------
    def publish(self, family: Family, *, base: bool, save: bool = True) -> None:
        """Issue the next CRL number(s): a complete CRL if `base`, and always a fresh delta."""
        marks, now = self.marks[family], self.clock()
        if base:
            marks.last_number += 1
            marks.base_number, marks.base_time, marks.base_upto = marks.last_number, now, self.revocation_seq
        marks.last_number += 1
        marks.delta_number, marks.delta_time = marks.last_number, now
        self._crl_cache = {k: v for k, v in self._crl_cache.items() if k[0] != family}
        if save:
            self.save()

    def crl(self, family: Family, kind: str) -> bytes:
        """DER of the current "base", "delta" or "root" CRL; republished when past nextUpdate."""
        marks, now = self.marks[family], self.clock()
        if kind == "root" and now >= marks.root_time + ROOT_CRL_LIFETIME:
            marks.last_number += 1
            marks.root_number, marks.root_time = marks.last_number, now
            self._crl_cache.pop((family, kind), None)
            self.save()
        elif kind != "root":
            stale_base = now >= marks.base_time + CRL_LIFETIME
            if stale_base or now >= marks.delta_time + CRL_LIFETIME:
                self.publish(family, base=stale_base)
        cached = self._crl_cache.get((family, kind))
        if cached is None:
            cached = self._build_crl(family, kind)
            self._crl_cache[(family, kind)] = cached
        return cached

    def _build_crl(self, family: Family, kind: str) -> bytes:
        fam, marks = self.families[family], self.marks[family]
        if kind == "root":
            return crl.build_crl(
                fam.root,
                [],
                number=marks.root_number,
                this_update=marks.root_time,
                next_update=marks.root_time + ROOT_CRL_LIFETIME,
            )
        revoked = [(i, i.revocation) for i in self.issued.values() if i.family == family and i.revocation]
        in_base = kind == "base"
        entries = [
            crl.Entry(i.serial, rev.revoked_at, rev.reason)
            for i, rev in revoked
            if (rev.seq <= marks.base_upto) == in_base
        ]
        if in_base:
            number, this_update, delta_of = marks.base_number, marks.base_time, None
        else:
            number, this_update, delta_of = marks.delta_number, marks.delta_time, marks.base_number
        return crl.build_crl(
            fam.intermediate,
            entries,
            number=number,
            this_update=this_update,
            next_update=this_update + CRL_LIFETIME,
            delta_of=delta_of,
            freshest_url=self.urls.delta_crl(fam.stem),
        )

    # --- look-ups ------------------------------------------------------------------------------
    def family_by_stem(self, stem: str) -> tuple[CaFamily, str] | None:
        """Which CA and which certificate a /cert or /crl file stem names."""
        for fam in self.families.values():
            if stem == fam.stem:
                return fam, "intermediate"
            if stem == fam.root_stem:
                return fam, "root"
        return None

    def person_certificates(self, person: str) -> list[Issued]:
        return [i for i in self.issued.values() if i.person == person]


# --- JSON state --------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _kc_dump(kc: KeyAndCert) -> dict[str, str]:
    return {"key": _b64(kc.pkcs8), "cert": _b64(kc.certificate.dump())}


def _kc_load(family: Family, data: dict[str, str]) -> KeyAndCert:
    return KeyAndCert(x509.Certificate.load(base64.b64decode(data["cert"])), family, base64.b64decode(data["key"]))


def _dump(pki: Pki) -> dict[str, Any]:
    families = {
        f: {part: _kc_dump(getattr(fam, part)) for part in ("root", "intermediate", "ocsp", "tsa")}
        for f, fam in pki.families.items()
    }
    issued = []
    for item in pki.issued.values():
        rev = item.revocation
        issued.append(
            {
                "family": item.family,
                "cert": _b64(item.certificate.dump()),
                "key": _b64(item.private_key),
                "person": item.person,
                "holder": {k: str(v) if v is not None else None for k, v in asdict(item.holder).items()},
                "revocation": None
                if rev is None
                else {"reason": rev.reason, "revoked_at": rev.revoked_at.isoformat(), "seq": rev.seq},
            }
        )
    marks = {
        f: {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(m).items()}
        for f, m in pki.marks.items()
    }
    return {
        "version": STATE_VERSION,
        "base_url": pki.urls.base_url,
        "families": families,
        "issued": issued,
        "marks": marks,
        "revocation_seq": pki.revocation_seq,
    }


def _load(urls: Urls, state_dir: Path, clock: Clock) -> Pki:
    data = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"{state_dir / STATE_FILE}: unsupported state version {data.get('version')!r}")
    families: dict[Family, CaFamily] = {}
    for f in FAMILIES:
        parts = {p: _kc_load(f, data["families"][f][p]) for p in ("root", "intermediate", "ocsp", "tsa")}
        families[f] = CaFamily(f, **parts)
    if data["base_url"] != urls.base_url:
        # The CA certificates already carry the old URLs; new ones follow them so a chain never mixes hosts.
        log.warning(
            "state in %s was created for %s; keeping it (asked for %s)", state_dir, data["base_url"], urls.base_url
        )
    pki = Pki(Urls(data["base_url"]), families, clock, state_dir)
    for row in data["issued"]:
        h = dict(row["holder"])
        h["role"] = Role(h["role"])
        h["identification"] = Identification(h["identification"])
        item = Issued(
            row["family"],
            x509.Certificate.load(base64.b64decode(row["cert"])),
            base64.b64decode(row["key"]),
            Holder(**h),
            row["person"],
        )
        if row["revocation"] is not None:
            r = row["revocation"]
            item.revocation = Revocation(r["reason"], datetime.fromisoformat(r["revoked_at"]), r["seq"])
        pki.issued[item.serial] = item
    for f, m in data["marks"].items():
        marks = pki.marks[f]
        for name, value in m.items():
            setattr(marks, name, datetime.fromisoformat(value) if name.endswith("_time") else int(value))
    pki.revocation_seq = data["revocation_seq"]
    return pki
