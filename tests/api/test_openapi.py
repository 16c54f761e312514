"""/openapi.json as an integrator builds on it: every request and response has an example that the service's
own models accept (and that matches the document's schema), every operation a description, the document its
servers and described tags; refusals beyond the schema are among each operation's error codes; enum
members can be named by a generator; and /docs serves the reference page from the installed Swagger UI
package, nothing from elsewhere."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
import pytest
from pydantic import TypeAdapter

from authsvc.api.body import parse
from authsvc.api.docs import ASSETS, START
from authsvc.api.routing import Operation
from authsvc.app import operations
from authsvc.error_codes import CATALOGUE
from tests.conftest import TODAY, Api

OPERATIONS = operations().operations
# The registry's validators judge a request against today's date and accept the NCA test identifiers as
# the service does in test mode (what authsvc.api.clients passes them).
CONTEXT = {"test_pki": True, "today": TODAY}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return operations().openapi(title="authsvc", version="test")


def entry(document: dict[str, Any], op: Operation) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][op.path][op.method.lower()]
    return found


def media_examples(media: dict[str, Any], document: dict[str, Any]) -> list[Any]:
    if "example" in media:
        return [media["example"]]
    named = media.get("examples", {})
    refs = document["components"]["examples"]
    return [refs[e["$ref"].rsplit("/", 1)[-1]]["value"] if "$ref" in e else e["value"] for e in named.values()]


@pytest.mark.parametrize("op", OPERATIONS, ids=[o.operation_id for o in OPERATIONS])
def test_each_request_example_is_one_the_handler_accepts(op: Operation, document: dict[str, Any]) -> None:
    body = entry(document, op).get("requestBody")
    if body is None:
        return
    for media_type, media in body["content"].items():
        assert "example" in media, (op.operation_id, media_type)
    if op.body is not None:  # parsed as the handler parses it: the same model, strict, the same context
        example = body["content"]["application/json"]["example"]
        parse(op.body, json.dumps(example).encode(), CONTEXT)


@pytest.mark.parametrize("op", OPERATIONS, ids=[o.operation_id for o in OPERATIONS])
def test_each_response_has_an_example_its_model_accepts(op: Operation, document: dict[str, Any]) -> None:
    responses = entry(document, op)["responses"]
    for status, answer in responses.items():
        for media_type, media in answer.get("content", {}).items():
            if media.get("schema", {}).get("format") == "binary":
                continue
            examples = media_examples(media, document)
            assert examples, (op.operation_id, status, media_type)
            if media_type == "application/problem+json":  # one per code the answer can carry
                assert [e["code"] for e in examples] == answer["x-error-codes"]
                assert {e["status"] for e in examples} == {int(status)}
    for status, model in op.responses.items():
        if model is not None:
            example = responses[str(status)]["content"]["application/json"]["example"]
            TypeAdapter(model).validate_json(json.dumps(example))


def test_every_example_matches_the_documents_own_schema(document: dict[str, Any]) -> None:
    """What schemathesis and a generated client read: the examples hold against the schema as written."""
    checked = 0
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            contents = [(f"{method} {path} request", op.get("requestBody", {}).get("content", {}))]
            contents += [(f"{method} {path} {s}", r.get("content", {})) for s, r in op["responses"].items()]
            contents += [
                (f"{method} {path} {p['name']}", p["content"]) for p in op.get("parameters", []) if "content" in p
            ]
            for where, content in contents:
                for media in content.values():
                    schema = {**media.get("schema", {}), "components": document["components"]}
                    validator = jsonschema_rs.Draft202012Validator(schema)
                    for example in media_examples(media, document):
                        if media.get("schema", {}).get("format") == "binary":
                            continue
                        errors = [e.message for e in validator.iter_errors(example)]
                        assert not errors, (where, example, errors)
                        checked += 1
            for p in op.get("parameters", []):
                if "schema" in p:
                    assert jsonschema_rs.Draft202012Validator(p["schema"]).is_valid(p["example"]), (path, p)
    assert checked > 500


@pytest.mark.parametrize("op", OPERATIONS, ids=[o.operation_id for o in OPERATIONS])
def test_each_operation_is_described_with_its_refusals(op: Operation, document: dict[str, Any]) -> None:
    found = entry(document, op)
    assert found["description"].startswith(op.description or op.summary)
    beyond = found.get("x-refused-beyond-schema", [])
    assert beyond == sorted(map(str, op.beyond_schema))
    listed = {c for s in ("400", "422") for c in found["responses"].get(s, {}).get("x-error-codes", [])}
    assert set(beyond) <= listed, op.operation_id
    for code in beyond:
        assert CATALOGUE[code].status in (400, 422) and f"`{code}`" in found["description"]


def test_the_document_names_its_servers_tags_and_security(document: dict[str, Any]) -> None:
    assert document["servers"] and document["servers"][0]["url"] == "/"
    assert "Bearer" in document["info"]["description"] and "x-refused-beyond-schema" in document["info"]["description"]
    tags = {t["name"]: t["description"] for t in document["tags"]}
    assert {t for o in OPERATIONS for t in o.tags} == set(tags) and all(tags.values())
    assert set(document["components"]["examples"]) == {f"problem-{c}" for c in CATALOGUE}


def test_enum_members_can_be_named_by_a_generator(document: dict[str, Any]) -> None:
    """openapi-python-client names a member by its upper-cased value: where two values collide (OCSP and
    ocsp, the NCANode spelling beside ours) the document gives the names (x-enum-varnames)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("enum"), list) and all(isinstance(v, str) for v in node["enum"]):
                found.append(node)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(document)
    revocation = [n for n in found if "OCSP" in n["enum"] and "ocsp" in n["enum"]]
    assert revocation and all(
        n["x-enum-varnames"] == ["OCSP", "CRL", "OCSP_LOWERCASE", "CRL_LOWERCASE"] for n in revocation
    )
    for node in found:
        names = node.get("x-enum-varnames") or [re.sub(r"\W+", "_", v).strip("_").upper() for v in node["enum"]]
        assert len(set(names)) == len(names), node["enum"]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_docs_page_is_served_from_the_installed_package(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "http" not in csp  # nothing from another origin, no inline script
    assert "<script>" not in html and not re.search(r"(src|href)=\"(https?:)?//", html)
    loaded = re.findall(r"(?:src|href)=\"(/docs/static/[^\"]+)\"", html)
    assert {u.rsplit("/", 1)[-1] for u in loaded} == {*ASSETS, START}
    for url in loaded:
        resp = await api.client.get(url)
        assert resp.status == 200, url
        name = url.rsplit("/", 1)[-1]
        assert resp.content_type == ASSETS.get(name, "text/javascript")
        assert len(await resp.read()) > (20 if name == START else 500), url
    bundle = await (await api.client.get("/docs/static/swagger-ui-bundle.js")).text()
    assert "SwaggerUIBundle" in bundle and "openapi.json" in await (await api.client.get("/docs/static/docs.js")).text()
    assert (await api.client.get("/docs/static/index.html")).status == 404  # only the files the page loads
    assert (await api.client.get("/docs/static/..%2Fpyproject.toml")).status == 404
