"""A client generated from the served /openapi.json works: `openapi-python-client generate` with its default
options (the generator an integrator reaches for first) builds a package from the document, and that package
registers a client (R-6.1) and opens and reads an identification against the running service, parsing the
answers, a refusal included, into its own typed models.

SQLite only: the document and the client do not depend on the database (generation takes ~10 s)."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, individual

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])
PACKAGE = "authsvc_client"


async def generate(document: dict[str, Any], work: Path) -> Path:
    """Run the generator as an integrator would; the directory holding the generated package."""
    source = work / "openapi.json"
    source.write_text(json.dumps(document))
    bin_dir = str(Path(sys.executable).parent)  # the generator's post-hooks run ruff from here
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "openapi_python_client",
        "generate",
        "--path",
        str(source),
        "--output-path",
        str(work / "client"),
        cwd=work,
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    # It generates what it can and warns about the rest: a warning is a part of the API it could not express.
    assert "Warning" not in text.replace("ruff is not in PATH", ""), text
    return work / "client"


@pytest.fixture
def imported() -> Iterator[list[str]]:
    """sys.path entries to import the generated package from; removed (with its modules) afterwards."""
    paths: list[str] = []
    yield paths
    for p in paths:
        sys.path.remove(p)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_a_generated_client_registers_and_identifies(api: Api, tmp_path: Path, imported: list[str]) -> None:
    document = await (await api.client.get("/openapi.json")).json()
    imported.append(str(await generate(document, tmp_path)))
    sys.path.insert(0, imported[-1])
    generated = importlib.import_module(PACKAGE)
    models = module("models")
    create_client = module("api.clients.create_client")
    open_identification = module("api.identifications.open_identification")
    get_identification = module("api.identifications.get_identification")

    async with generated.AuthenticatedClient(base_url=str(api.client.make_url("")), token=api.key) as client:
        # A registration: the body built from the generated model of the request.
        created = await create_client.asyncio_detailed(client=client, body=models.IndividualIn.from_dict(individual()))
        assert created.status_code == 201, created.content
        registered = created.parsed
        assert isinstance(registered, models.ClientOut)
        assert registered.kind.value == "individual" and registered.person.iin != "811201401188"  # masked

        # A refusal is parsed too: the problem document with its catalogue code, narrowed to the operation's.
        refused = await create_client.asyncio_detailed(
            client=client, body=models.IndividualIn.from_dict(individual(iin="811201401189"))
        )
        assert refused.status_code == 422
        assert refused.parsed.code.value == "bad_checksum" and refused.parsed.hint

        # An identification of that client for a login, then read back.
        body = models.IdentificationIn.from_dict({"client_id": registered.id, "operation": "registration"})
        opened = await open_identification.asyncio_detailed(client=client, body=body, idempotency_key="gen-1")
        assert opened.status_code == 201, opened.content
        ident = opened.parsed
        assert isinstance(ident, models.IdentificationOut)
        assert ident.status.value == "pending" and ident.client_id == registered.id and ident.next_methods

        read = await get_identification.asyncio(identification_id=ident.id, client=client)
        assert isinstance(read, models.IdentificationOut)
        assert read.id == ident.id and read.operation.value == "registration"
        assert [c.requirement for c in read.conditions] == [c.requirement for c in ident.conditions]

        missing = await get_identification.asyncio_detailed(identification_id="no-such-identification", client=client)
        assert missing.status_code == 404 and missing.parsed.code.value == "identification_not_found"
