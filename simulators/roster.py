"""The simulated population as a developer sees it: who exists, and what each outside party says about them.

Every party simulator (telco, CDAO, bureau, bank, SMS gateways) serves the same read-only routes, built
from ``simulators.population`` — the data those simulators answer from::

    GET /population               -> {"people": [person…]}  (see describe())
    GET /population/{iin}         -> one person             404 person_not_found
    GET /population/{iin}/photo   -> image/jpeg: the person's rendered registration photo (R-6.1)
                                     404 person_not_found | photo_source_missing; 503 face_stack_unavailable

The photo is rendered on first request (``simulators.portraits``, ~2-8 s of CPU) and kept in memory.
``python -m simulators.roster table`` prints the README's population table; ``python -m simulators.roster
photos --out DIR`` writes every person's photo as DIR/<key>.jpg (what the README's example sends).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from simulators.common import JsonError
from simulators.population import Person, Population, build_population

REPO: Final = Path(__file__).resolve().parent.parent
ROSTER: Final = web.AppKey("roster", Population)
NCA_HOLDERS: Final = {  # the NCA simulator's built-in keystores (simulators/nca/people.py) for these IINs
    "900101300126": "individual",
    "850515400343": "individual-remote",
    "780920300568": "ceo",
    "921112400783": "signer",
}

_photos: dict[Path, bytes] = {}
_photo_lock = threading.Lock()  # one render at a time: the face stack is heavy and not thread-safe


def shared_fixtures() -> Path:
    """shared/fixtures: $AUTHSVC_SHARED_DIR/fixtures, else ../shared/fixtures beside the repository."""
    return Path(os.environ.get("AUTHSVC_SHARED_DIR", REPO.parent / "shared")) / "fixtures"


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def describe(person: Person) -> dict[str, Any]:
    """One person, and the answer each party gives about them (the simulators' own rules, stated)."""
    line = person.phone
    return {
        "key": person.key,
        "iin": person.iin,
        "surname": person.surname,
        "first_name": person.first_name,
        "patronymic": person.patronymic,
        "birth_date": person.birth_date.isoformat(),
        "phone": line.number,
        "case": person.case,
        "photo_url": f"/population/{person.iin}/photo",
        "nca": {"builtin_holder": NCA_HOLDERS.get(person.iin)},
        "telco": {  # POST /v1/subscriber/check {iin, phone}
            "match": True,
            "registered_to_individual": line.owner_bin is None,
            "operator": line.operator,
            "sim_issued_at": _iso(line.sim_issued_at),
            "owner_since": _iso(line.owner_since),
        },
        "sms": {"deliverable": line.deliverable},
        "cdao": {  # POST /v1/biometric/verify {iin, image_base64}
            "photo_on_file": person.photo is not None,
            "state_photo": person.photo,
            "registration_photo_matches": person.photo is not None and Path(person.portrait).name == person.photo,
        },
        "bureau": {  # GET /v1/refusals/{iin}
            "refusal": person.refusal_registered_at is not None,
            "registered_at": _iso(person.refusal_registered_at),
        },
        "bank": {  # POST /v1/accounts/verify {iin, iban | card_number | card_token}
            "accounts": [{"iban": a.iban, "status": a.status} for a in person.accounts],
            "cards": [{"number": c.pan, "token": c.token, "last4": c.last4, "status": c.status} for c in person.cards],
        },
    }


def markdown_table(population: Population) -> str:
    """The README's table of the population (a test checks README.md holds exactly this)."""
    rows = [
        "| key | name | IIN | phone (operator) | telco | CDAO | bureau | bank | case |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in population.people:
        d = describe(p)
        telco = "registered to him/her" if d["telco"]["registered_to_individual"] else "registered to a company"
        if not p.phone.deliverable:
            telco += "; handset off"
        cdao = "no photo on file"
        if p.photo:
            cdao = "matches the rendered photo" if d["cdao"]["registration_photo_matches"] else "no match (impostor)"
        bureau = "refusal registered" if d["bureau"]["refusal"] else "no refusal"
        money = [f"{a.iban} ({a.status})" for a in p.accounts] + [f"card {c.pan} ({c.status})" for c in p.cards]
        rows.append(
            f"| {p.key} | {p.full_name} | {p.iin} | {p.phone.number} ({p.phone.operator}) | {telco} | {cdao} "
            f"| {bureau} | {'; '.join(money)} | {p.case} |"
        )
    return "\n".join(rows) + "\n"


def photo_of(person: Person, fixtures: Path | None = None) -> bytes:
    """The person's rendered registration photo (JPEG), rendered once per process."""
    from simulators.portraits import portrait_of  # cv2, numpy, the face stack: only when a photo is asked for

    source = (fixtures or shared_fixtures()) / person.portrait
    with _photo_lock:
        if source not in _photos:
            _photos[source] = portrait_of(source)
        return _photos[source]


def _person(request: web.Request) -> Person:
    person = request.app[ROSTER].by_iin.get(request.match_info["iin"])
    if person is None:
        raise JsonError(404, "person_not_found", "no such IIN in the simulated population")
    return person


async def list_people(request: web.Request) -> web.Response:
    return web.json_response({"people": [describe(p) for p in request.app[ROSTER].people]})


async def one_person(request: web.Request) -> web.Response:
    return web.json_response(describe(_person(request)))


async def photo(request: web.Request) -> web.Response:
    person = _person(request)
    if not (shared_fixtures() / person.portrait).is_file():
        raise JsonError(404, "photo_source_missing", f"{person.portrait} is not under {shared_fixtures()}")
    try:
        data = await asyncio.to_thread(photo_of, person)
    except ImportError as exc:  # the face stack (liveness: dlib, MediaPipe) is not installed
        raise JsonError(503, "face_stack_unavailable", f"cannot render photos here: {exc}") from exc
    return web.Response(body=data, content_type="image/jpeg")


def add_population_routes(app: web.Application, population: Population) -> None:
    app[ROSTER] = population
    app.router.add_get("/population", list_people)
    app.router.add_get("/population/{iin}", one_person)
    app.router.add_get("/population/{iin}/photo", photo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.roster", description=(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("table", help="print the README's population table")
    photos = sub.add_parser("photos", help="render every person's registration photo into a folder")
    photos.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    population = build_population()
    if args.command == "table":
        sys.stdout.write(markdown_table(population))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for person in population.people:
        target = args.out / f"{person.key}.jpg"
        target.write_bytes(photo_of(person))
        print(f"{person.key}: {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
