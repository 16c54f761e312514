"""A static reading of authsvc's source for the error-catalogue tests: which catalogue codes each function
names, and which functions it calls (as far as they can be resolved without running anything).

Resolved calls: a function or class of the same module, a name imported from an authsvc module, a
function of an imported authsvc module (``eds.decode_der``), a method of the enclosing class
(``self._open``). Calls on other objects (``verifier.verify_cms``) stay unresolved unless ``by_method_name``
is on: then a method name defined by exactly one authsvc class resolves to that method.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "authsvc"
CATALOGUE_MODULE = "authsvc.error_codes"
# Modules that name codes to describe them, not to answer them (the OpenAPI rendering, the catalogue).
NOT_RAISERS = frozenset({CATALOGUE_MODULE, "authsvc.api.routing"})


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@dataclass
class Func:
    module: str
    qualname: str
    node: ast.AST
    cls: str | None = None
    codes: set[str] = field(default_factory=set)  # catalogue attribute names, e.g. "BAD_CMS"
    calls: list[ast.Call] = field(default_factory=list)
    names: set[str] = field(default_factory=set)  # plain names read (module-level tables of codes)


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local -> (module, attr)
    funcs: dict[str, Func] = field(default_factory=dict)  # qualname -> Func
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    globals_codes: dict[str, set[str]] = field(default_factory=dict)  # module-level name -> codes in its value


def _codes_in(node: ast.AST) -> set[str]:
    found = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "error_codes":
            found.add(n.attr)
    return found


def _func(module: str, qualname: str, node: ast.AST, cls: str | None) -> Func:
    f = Func(module, qualname, node, cls)
    f.codes = _codes_in(node)
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f.calls.append(n)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            f.names.add(n.id)
    return f


@cache
def modules() -> dict[str, Module]:
    out: dict[str, Module] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        mod = Module(name, path, tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom):
                base = n.module or ""
                if n.level:
                    parts = package.split(".")
                    base = ".".join([*parts[: len(parts) - n.level + 1], base])
                for a in n.names:
                    mod.imports[a.asname or a.name] = (base, a.name)
            elif isinstance(n, ast.Import):
                for a in n.names:
                    mod.imports[a.asname or a.name.split(".")[0]] = (a.name if a.asname else a.name.split(".")[0], None)
        for top in tree.body:
            if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
                mod.funcs[top.name] = _func(name, top.name, top, None)
            elif isinstance(top, ast.ClassDef):
                mod.classes[top.name] = top
                for item in top.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        mod.funcs[f"{top.name}.{item.name}"] = _func(name, f"{top.name}.{item.name}", item, top.name)
            elif isinstance(top, (ast.Assign, ast.AnnAssign)):
                targets = top.targets if isinstance(top, ast.Assign) else [top.target]
                for t in targets:
                    if isinstance(t, ast.Name) and top.value is not None:
                        mod.globals_codes[t.id] = _codes_in(top.value)
        out[name] = mod
    return out


def class_code(mod: Module, cls: str) -> set[str]:
    """The catalogue code an error class declares as its default (``code = error_codes.X``)."""
    node = mod.classes.get(cls)
    if node is None:
        return set()
    found = set()
    for item in node.body:
        if isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            if any(isinstance(t, ast.Name) and t.id == "code" for t in targets) and item.value is not None:
                found |= _codes_in(item.value)
    return found


@cache
def _methods_by_name() -> dict[str, list[Func]]:
    index: dict[str, list[Func]] = {}
    for mod in modules().values():
        for f in mod.funcs.values():
            if f.cls is not None:
                index.setdefault(f.qualname.split(".")[1], []).append(f)
    return index


def _resolve_name(mod: Module, name: str) -> list[tuple[Module, str]]:
    """(module, top-level name) a plain name stands for, followed through authsvc imports."""
    seen = 0
    while seen < 10:
        seen += 1
        if name in mod.funcs or name in mod.classes:
            return [(mod, name)]
        target = mod.imports.get(name)
        if target is None or target[1] is None or not target[0].startswith("authsvc"):
            return []
        nxt = modules().get(target[0])
        if nxt is None:
            return []
        mod, name = nxt, target[1]
    return []


def callees(f: Func, *, by_method_name: bool) -> tuple[list[Func], set[str]]:
    """The resolvable functions ``f`` calls, and the codes of error classes it instantiates."""
    mod = modules()[f.module]
    out: list[Func] = []
    codes: set[str] = set()

    def take(m: Module, name: str, call: ast.Call) -> None:
        if name in m.funcs:
            out.append(m.funcs[name])
        elif name in m.classes:
            if not any(k.arg == "code" for k in call.keywords):  # the class's default code answers
                codes.update(class_code(m, name))
            init = m.funcs.get(f"{name}.__init__")
            if init is not None:
                out.append(init)

    for call in f.calls:
        fn = call.func
        if isinstance(fn, ast.Name):
            if fn.id in vars(builtins):
                continue
            for m, name in _resolve_name(mod, fn.id):
                take(m, name, call)
        elif isinstance(fn, ast.Attribute):
            base = fn.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls") and f.cls is not None:
                if f"{f.cls}.{fn.attr}" in mod.funcs:
                    out.append(mod.funcs[f"{f.cls}.{fn.attr}"])
                continue
            if isinstance(base, ast.Name) and base.id in mod.imports:
                target_mod, attr = mod.imports[base.id]
                full = f"{target_mod}.{attr}" if attr else target_mod
                sub = modules().get(full)
                if sub is not None:
                    for m, name in _resolve_name(sub, fn.attr):
                        take(m, name, call)
                    continue
                for m, name in _resolve_name(mod, base.id):  # a class imported by name: Class.method()
                    if f"{name}.{fn.attr}" in m.funcs:
                        out.append(m.funcs[f"{name}.{fn.attr}"])
                continue
            if by_method_name:
                found = _methods_by_name().get(fn.attr, [])
                if len(found) == 1:
                    out.append(found[0])
    return out, codes


def reachable_codes(module: str, qualname: str, *, by_method_name: bool = False) -> set[str]:
    """Every catalogue code named by a function or by what it calls, as far as the calls resolve."""
    start = modules()[module].funcs[qualname]
    todo, done, codes = [start], set(), set()
    while todo:
        f = todo.pop()
        if (f.module, f.qualname) in done or f.module in NOT_RAISERS:
            continue
        done.add((f.module, f.qualname))
        codes |= f.codes
        mod = modules()[f.module]
        for name in f.names:  # a module-level table of codes (e.g. ocsp._STATUS_CODES)
            codes |= mod.globals_codes.get(name, set())
        more, created = callees(f, by_method_name=by_method_name)
        codes |= created
        todo.extend(more)
    return codes


def model_codes(model: object) -> set[str]:
    """Codes a request model's own validation can answer: what its methods, and the functions its class body
    names (validators in ``Annotated`` aliases), reach; through the models of its fields too."""
    codes: set[str] = set()
    for cls in _models(model, set()):
        mod = modules().get(cls.__module__)
        node = mod.classes.get(cls.__name__) if mod is not None else None
        if mod is None or node is None:
            continue
        for q in mod.funcs:
            if q.startswith(cls.__name__ + "."):
                codes |= reachable_codes(mod.name, q)
        todo = [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for m, top in _resolve_name(mod, name):
                if top in m.funcs:
                    codes |= reachable_codes(m.name, top)
            assigned = next(
                (t for t in mod.tree.body if isinstance(t, (ast.Assign, ast.AnnAssign)) and _binds(t, name)), None
            )
            if assigned is not None and assigned.value is not None:
                todo += [n.id for n in ast.walk(assigned.value) if isinstance(n, ast.Name)]
    return codes


def _binds(node: ast.Assign | ast.AnnAssign, name: str) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def _models(model: object, seen: set[type]) -> list[type]:
    import typing

    out: list[type] = []
    if isinstance(model, type) and model.__module__.startswith("authsvc") and model not in seen:
        seen.add(model)
        out.append(model)
        for base in model.__mro__[1:]:  # validators inherited from our base models
            out += _models(base, seen)
        for f in getattr(model, "model_fields", {}).values():
            out += _models(f.annotation, seen)
    for arg in typing.get_args(model):
        out += _models(arg, seen)
    return out
