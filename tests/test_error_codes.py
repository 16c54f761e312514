"""The error catalogue (authsvc/error_codes.py) against the source: every code the service can answer is
declared there once, every entry is used, raise sites agree with the entry's status, each operation declares
what it answers, and no broad ``except`` can swallow the service's own errors.
"""

from __future__ import annotations

import ast
import builtins
import importlib
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import liveness.document  # its DocumentRejected is a LivenessError: imported so the scan sees it in every run
import liveness.errors
from authsvc import error_codes
from authsvc.api.routing import codes_of
from authsvc.app import operations
from authsvc.error_codes import CATALOGUE, Code
from authsvc.errors import AuthsvcError
from tests import code_scan

# Entries no raise site names yet, each with the reason.
# code -> why nothing raises it yet
PENDING: dict[str, str] = {}
# Names of the catalogue module that are not codes.
HELPERS = {
    "CATALOGUE",
    "Code",
    "lookup",
    "FIELD_CODES",
    "UPSTREAM_FAILURES",
    "OTP_CODE_FAULTS",
    "STEP_GATES",
    "annotations",
    "Any",
}


def _all_modules() -> list[code_scan.Module]:
    return list(code_scan.modules().values())


def _references(*, describing: bool = False) -> dict[str, list[str]]:
    """Catalogue names referenced by raisers (with ``describing``: by the OpenAPI rendering too), with where."""
    refs: dict[str, list[str]] = {}
    for mod in _all_modules():
        if mod.name in code_scan.NOT_RAISERS and not describing:
            continue
        for n in ast.walk(mod.tree):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "error_codes":
                refs.setdefault(n.attr, []).append(f"{mod.name}:{n.lineno}")
            elif isinstance(n, ast.ImportFrom) and n.module == code_scan.CATALOGUE_MODULE:
                for a in n.names:
                    refs.setdefault(a.name, []).append(f"{mod.name}:{n.lineno}")
    return refs


def test_every_code_is_declared_once_with_status_title_and_fix() -> None:
    assert len(CATALOGUE) > 150
    for name, code in CATALOGUE.items():
        assert isinstance(code, Code) and str(code) == name
        assert getattr(error_codes, name.upper()) is code, f"{name} is not bound to {name.upper()}"
        assert 400 <= code.status <= 599
        assert code.heading and code.fix.endswith("."), name
    with pytest.raises(ValueError, match="declared twice"):
        Code("replay", 409, "again", "Never.")


def test_every_referenced_name_is_a_catalogue_entry() -> None:
    for name, where in _references(describing=True).items():
        assert hasattr(error_codes, name), f"error_codes.{name} does not exist ({where})"
        value = getattr(error_codes, name)
        assert name in HELPERS or isinstance(value, Code), f"error_codes.{name} is not a code ({where})"


def test_every_catalogue_entry_is_answered_somewhere() -> None:
    used = {str(getattr(error_codes, n)) for n in _references() if isinstance(getattr(error_codes, n), Code)}
    used |= {str(c) for c in error_codes.FIELD_CODES}  # pydantic's, passed through by api/body.py
    used |= {cls.code for cls in _subclasses(liveness.errors.LivenessError)}  # by lookup in methods/liveness
    unused = set(CATALOGUE) - used - set(PENDING)
    assert not unused, f"catalogue entries nothing answers: {sorted(unused)}"
    assert not set(PENDING) & used, "a pending entry is raised now: drop it from PENDING"


def test_liveness_codes_are_in_the_catalogue() -> None:
    for cls in _subclasses(liveness.errors.LivenessError):
        assert cls.code in CATALOGUE, f"liveness/errors.py {cls.__name__}.code {cls.code!r}"


def _subclasses(cls: type) -> list[Any]:
    out: list[Any] = [cls]
    sub: type
    for sub in cls.__subclasses__():
        out += _subclasses(sub)
    return out


def test_no_code_is_a_free_string() -> None:
    """Codes are catalogue entries at every raise site, class default and code-carrying helper."""
    carriers = {"IdentifierError", "_Retryable", "PydanticCustomError", "lookup"}
    for mod in _all_modules():
        if mod.name == code_scan.CATALOGUE_MODULE:
            continue
        for n in ast.walk(mod.tree):
            where = f"{mod.name}:{getattr(n, 'lineno', '?')}"
            if isinstance(n, ast.Call):
                for k in n.keywords:
                    if k.arg == "code":
                        assert not isinstance(k.value, ast.Constant), f"code={k.value.value!r} at {where}"
                name = n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", None)
                if name in carriers and n.args and isinstance(n.args[0], ast.Constant):
                    if name == "lookup":
                        assert n.args[0].value in CATALOGUE, where
                    else:
                        raise AssertionError(f"{name}({n.args[0].value!r}) at {where}: name the catalogue entry")
            elif isinstance(n, ast.ClassDef):
                for item in n.body:
                    if isinstance(item, ast.Assign) and any(getattr(t, "id", "") == "code" for t in item.targets):
                        assert not isinstance(item.value, ast.Constant), f"class {n.name} code at {where}"


def test_raise_sites_agree_with_the_codes_status() -> None:
    """``raise Conflict(..., code=X)`` only for a 409 X: the class tree and the answer say the same."""
    checked = 0
    for mod in _all_modules():
        module = None
        for n in ast.walk(mod.tree):
            if not (isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call) and isinstance(n.exc.func, ast.Name)):
                continue
            for k in n.exc.keywords:
                if not (k.arg == "code" and isinstance(k.value, ast.Attribute)):
                    continue
                if not (isinstance(k.value.value, ast.Name) and k.value.value.id == "error_codes"):
                    continue
                module = module or importlib.import_module(mod.name)
                cls = getattr(module, n.exc.func.id)
                code = getattr(error_codes, k.value.attr)
                assert issubclass(cls, AuthsvcError), f"{mod.name}:{n.lineno}"
                assert cls.status == code.status, (
                    f"{mod.name}:{n.lineno}: {cls.__name__} ({cls.status}) raised with {code} ({code.status})"
                )
                checked += 1
    assert checked > 190


def test_error_for_picks_the_class_of_the_status() -> None:
    from authsvc.errors import Conflict, UpstreamUnavailable, ValidationFailed, error_for

    assert type(error_for(error_codes.IDENTIFICATION_CLOSED, "x")) is Conflict
    assert type(error_for(error_codes.MODELS_UNAVAILABLE, "x")) is UpstreamUnavailable
    err = error_for(error_codes.lookup("capture_out_of_order"), "frames")
    assert isinstance(err, ValidationFailed) and err.status == 422 and err.code == "capture_out_of_order"
    assert error_for(error_codes.CAPTURE_TOO_LARGE, "x").status == 413


OPERATIONS = operations().operations


@pytest.mark.parametrize("op", OPERATIONS, ids=[o.operation_id for o in OPERATIONS])
def test_each_operation_declares_the_codes_its_handler_can_raise(op: Any) -> None:
    raised = code_scan.reachable_codes(op.handler.__module__, op.handler.__qualname__)
    raised |= code_scan.model_codes(op.body) if op.body is not None else set()  # the body model's validators
    answered = {getattr(error_codes, n) for n in raised if isinstance(getattr(error_codes, n), Code)}
    missing = answered - set(codes_of(op))
    assert not missing, f"{op.operation_id} does not declare {sorted(missing)}: add them to its errors="


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return operations().openapi(title="authsvc", version="test")


@pytest.mark.parametrize("op", OPERATIONS, ids=[o.operation_id for o in OPERATIONS])
def test_the_openapi_document_lists_each_operations_codes(op: Any, document: dict[str, Any]) -> None:
    responses = document["paths"][op.path][op.method.lower()]["responses"]
    listed = {c for r in responses.values() for c in r.get("x-error-codes", [])}
    assert set(map(str, codes_of(op))) <= listed
    for status, answer in responses.items():
        for code in answer.get("x-error-codes", []):
            assert CATALOGUE[code].status == int(status), (op.operation_id, status, code)
            schema = answer["content"]["application/problem+json"]["schema"]
            assert code in schema["allOf"][1]["properties"]["code"]["enum"]


def test_the_openapi_components_describe_every_code(document: dict[str, Any]) -> None:
    table = document["components"]["x-error-codes"]
    assert set(table) == set(CATALOGUE)
    closed = table["identification_closed"]
    assert closed["status"] == 409 and closed["hint"].startswith("Open a new identification")
    consts = {e["const"]: e for e in document["components"]["schemas"]["ErrorCode"]["oneOf"]}
    assert set(consts) == set(CATALOGUE) and consts["record_tampered"]["x-status"] == 500


# --- no broad except that swallows our errors ---------------------------------------------------------
# (module, function) -> why a broad handler there may catch AuthsvcError too.
BROAD_ALLOWED = {
    ("authsvc.api.rate_limiter", "flush"): "background flush of the shared counters: logs, keeps the counts, retries",
    ("authsvc.api.rate_limiter", "run"): "the flusher's loop: logs and continues",
    ("authsvc.api.auth_failures", "run"): "the loop writing counted authentication failures: logs and retries",
    ("authsvc.audit.witness", "head_of"): "a malformed witnessed head proves nothing: skipped, never an answer",
    ("authsvc.api.system", "_database"): "a readiness probe: any failure means not ready (with its reason)",
    ("authsvc.api.system", "_keys"): "a readiness probe: any failure means not ready (with its reason)",
    ("authsvc.app", "_housekeeping"): "a background purge loop: logs and continues",
    ("authsvc.app", "_expiry_sweep"): "a background loop closing expired identifications: logs and continues",
    ("authsvc.audit.chainer", "run_chainer"): "a background loop: logs and retries",
    ("authsvc.store.leases", "_run"): "an outbox worker's loop (SMS, webhooks): logs and continues",
    ("authsvc.webhooks.worker", "_send"): "one delivery's unexpected fault: logged, counted as a failed try",
    ("authsvc.api.idempotency", "_release"): "forgetting a failed request's key: logs; the error being answered wins",
    ("authsvc.pki.crl_cache", "_run"): "the CRL refresher's loop: logs and retries later",
    ("authsvc.serving", "_started_again"): "a reload's new application: logged, the running one keeps serving",
    ("authsvc.prefork", "_fork"): "a forked process's last resort: logged, exit status 1, the supervisor forks again",
    ("authsvc.store.bells", "listen"): "the bell listener's loop: logs and reconnects (the workers poll meanwhile)",
    (
        "authsvc.store.bells",
        "_notify",
    ): "a bell is a hint: a lost one (the database unavailable) costs one poll, never the request",
    ("authsvc.store.leases", "stop"): "handing claims back at a stop: logged; the leases lapse instead",
    ("authsvc.pki.service", "_start_crls"): "start-up of an optimisation of revocation: logs, OCSP serves meanwhile",
    ("authsvc.pki.inline", "try_cms"): "the in-process fast path: on any failure the pool answers as it always did",
    ("authsvc.pki.inline", "learn"): "a cache fill after the answer: never fails a verification",
    (
        "authsvc.pki.gost.engine",
        "engine_judges_key",
    ): "a routing test for the fast path: an unreadable key goes to the pool, which answers",
}


def _namespace(mod: code_scan.Module) -> dict[str, Any]:
    """The module's globals plus the names its functions import locally (lazy imports of heavy packages)."""
    names = dict(vars(importlib.import_module(mod.name)))
    for n in ast.walk(mod.tree):
        if isinstance(n, ast.ImportFrom) and n.module and not n.level:
            for a in n.names:
                names.setdefault(a.asname or a.name, getattr(importlib.import_module(n.module), a.name))
    return names


def _handler_types(namespace: dict[str, Any], node: ast.expr | None) -> tuple[type, ...]:
    if node is None:
        return (BaseException,)
    value = eval(compile(ast.Expression(node), "<except>", "eval"), namespace)  # our own source
    return value if isinstance(value, tuple) else (value,)


def _catches_ours(types: tuple[type, ...]) -> bool:
    """Whether the handler catches some AuthsvcError class without naming our tree itself."""
    named = tuple(t for t in types if issubclass(t, AuthsvcError))
    broad = [t for t in types if not issubclass(t, AuthsvcError)]
    return any(
        issubclass(c, broad_t) and not issubclass(c, named) for c in _subclasses(AuthsvcError) for broad_t in broad
    )


def _enclosing(tree: ast.AST) -> dict[ast.AST, str]:
    owner: dict[ast.AST, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            here = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else name
            owner[child] = here
            visit(child, here)

    visit(tree, "<module>")
    return owner


@cache
def _our_method_names() -> frozenset[str]:
    return frozenset(q.split(".")[1] for m in _all_modules() for q in m.funcs if "." in q)


def _may_raise_ours(mod: code_scan.Module, body: list[ast.stmt]) -> bool:
    """Whether a try body can raise an AuthsvcError: it raises one, or calls anything that may be ours (an
    authsvc function, a callable it was handed, a method whose name any authsvc class defines). Only calls
    into the standard library and outside packages (``base64.b64decode``, ``cert.public_key().verify``
    where no class of ours has that method name) are taken as unable to."""
    for stmt in body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Raise) and n.exc is not None:
                exc = n.exc.func if isinstance(n.exc, ast.Call) else n.exc
                if not (isinstance(exc, ast.Name) and exc.id in vars(builtins)):
                    return True  # raises something not the standard library's (ours, or unknown)
                continue
            if not isinstance(n, ast.Call):
                continue
            fn = n.func
            if isinstance(fn, ast.Name):
                if fn.id in vars(builtins):
                    continue
                target = mod.imports.get(fn.id)
                if target is not None and not target[0].startswith("authsvc"):
                    continue
                return True
            if isinstance(fn, ast.Attribute):
                root = fn.value
                while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
                    root = root.func if isinstance(root, ast.Call) else root.value
                target = mod.imports.get(root.id) if isinstance(root, ast.Name) else None
                if target is not None and not target[0].startswith("authsvc"):
                    continue  # a call into an outside module (base64, asn1crypto, cryptography, ...)
                if fn.attr in _our_method_names() or (target is not None and target[0].startswith("authsvc")):
                    return True
    return False


def broad_handlers() -> list[tuple[str, str, int]]:
    found = []
    for mod in _all_modules():
        if ".migrations" in mod.name:
            continue  # Alembic scripts import only inside Alembic (and raise none of our errors)
        namespace = _namespace(mod)
        owner = _enclosing(mod.tree)
        for n in ast.walk(mod.tree):
            if not isinstance(n, ast.Try):
                continue
            lets_ours_through = False
            for h in n.handlers:
                types = _handler_types(namespace, h.type)
                if any(t is AuthsvcError for t in types):
                    lets_ours_through = True  # re-raised or handled on purpose, before anything broader
                    continue
                reraises = any(isinstance(st, ast.Raise) and st.exc is None for st in h.body)  # clean-up only
                if not lets_ours_through and not reraises and _catches_ours(types) and _may_raise_ours(mod, n.body):
                    found.append((mod.name, owner[n], h.lineno))
    return found


def test_no_broad_except_swallows_our_errors() -> None:
    """``except ValueError``/``Exception`` (and other stdlib bases of our tree) must come after an
    ``except AuthsvcError`` (or name AuthsvcError itself), unless allowed above with a reason."""
    bad = [f"{m}:{line} in {fn}()" for m, fn, line in broad_handlers() if (m, fn) not in BROAD_ALLOWED]
    assert not bad, "broad except clauses that can swallow AuthsvcError:\n" + "\n".join(bad)


def test_the_broad_except_check_finds_a_swallowing_clause(tmp_path: Path) -> None:
    """The check itself: the liveness handler's clause, without its ``except AuthsvcError``, is flagged."""
    from authsvc.api import liveness as api_liveness

    tree = ast.parse("try:\n    pass\nexcept (ValueError, RuntimeError):\n    pass\n")
    handler = tree.body[0].handlers[0]  # type: ignore[attr-defined]
    namespace = vars(api_liveness)
    assert _catches_ours(_handler_types(namespace, handler.type))
    assert not _catches_ours(_handler_types(namespace, ast.parse("KeyError", mode="eval").body))
