"""The import contract of `authsvc` (DESIGN.md §2): data flows one way, from the HTTP layer down.

Every ``import`` in every module of `authsvc` (also those inside functions and under TYPE_CHECKING) is read
with `ast`; a module may import its own unit and units below it, never one above, and the units must not
import each other in a cycle (siblings of one layer may depend on one another only one way). `authsvc`
never imports `drivers` or `simulators`: it reaches them over HTTP. To change the order, edit `LAYERS`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "authsvc"

# Top to bottom. A unit is a subpackage or top-level module of authsvc, or a top-level package beside it.
LAYERS: list[set[str]] = [
    {
        "app",
        "cli",
        "hsm",
        "prefork",
        "serving",
    },  # the composition root and the commands: builds every resource and hands it to what needs it
    {"api"},
    {"flows"},
    {"incidents"},
    {"contracts"},
    {"methods", "hosted"},
    {"lists"},
    {"cabinet"},
    {"webhooks"},
    {"pki", "liveness", "parties", "audit", "attestation"},
    {"store"},
    {"crypto"},
    {"config", "errors", "error_codes", "logs", "metrics", "pool", "roles"},
]
NEVER = {"drivers", "simulators"}
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _modules(package_dir: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Absolute names of what ``module`` imports, with the line."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            yield prefix, node.lineno
            for alias in node.names:  # "from authsvc import api" imports the unit api
                yield f"{prefix}.{alias.name}", node.lineno


def units_in(package_dir: Path) -> set[str]:
    """The package's subpackages and top-level modules."""
    return {
        p.stem
        for p in package_dir.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")
    }


def unit_of(name: str, units: set[str]) -> str | None:
    """The unit an absolute module name belongs to; None for the package's own attributes (``__version__``),
    the standard library and third parties."""
    parts = name.split(".")
    if parts[0] == PACKAGE:
        return parts[1] if len(parts) > 1 and parts[1] in units else None
    return parts[0] if parts[0] in RANK or parts[0] in NEVER else None


def edges(package_dir: Path = ROOT / PACKAGE) -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> where ("module:line"), for imports between different units."""
    found: dict[tuple[str, str], list[str]] = {}
    units = units_in(package_dir)
    for module, path in _modules(package_dir):
        source = unit_of(module, units)
        if source is None:
            continue
        for name, line in _imported(module, path):
            target = unit_of(name, units)
            where = f"{module}:{line}"
            if target is not None and target != source and where not in found.get((source, target), []):
                found.setdefault((source, target), []).append(where)
    return found


def violations(found: dict[tuple[str, str], list[str]]) -> list[str]:
    wrong = []
    for (source, target), where in sorted(found.items()):
        if source not in RANK:
            wrong.append(f"{source} is in no layer (add it to LAYERS): {where[0]}")
        elif target in NEVER:
            wrong.append(f"{source} imports {target}, which authsvc reaches only over HTTP: {', '.join(where)}")
        elif target not in RANK:
            wrong.append(f"{target} is in no layer (add it to LAYERS): {where[0]}")
        elif RANK[target] < RANK[source]:
            wrong.append(f"{source} imports {target}, a layer above it: {', '.join(where)}")
    return wrong


def cycles(found: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one unit (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for source, target in found:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        on_stack.add(unit)
        for nxt in sorted(graph[unit]):
            if nxt not in index:
                visit(nxt)
                low[unit] = min(low[unit], low[nxt])
            elif nxt in on_stack:
                low[unit] = min(low[unit], index[nxt])
        if low[unit] == index[unit]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == unit:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for unit in sorted(graph):
        if unit not in index:
            visit(unit)
    return groups


def test_no_import_goes_up_a_layer() -> None:
    assert violations(edges()) == []


def test_no_units_import_each_other_in_a_cycle() -> None:
    found = edges()
    described = [
        " -> ".join(group)
        + ": "
        + "; ".join(f"{a}->{b} at {found[(a, b)][0]}" for a in group for b in group if (a, b) in found)
        for group in cycles(found)
    ]
    assert described == []


def test_the_contract_catches_a_wrong_import(tmp_path: Path) -> None:
    """The checks themselves: a store module importing the HTTP layer, and two siblings importing each other."""
    pkg = tmp_path / PACKAGE
    for unit in ("store", "api", "pki", "parties"):
        (pkg / unit).mkdir(parents=True)
        (pkg / unit / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "store" / "db.py").write_text("from authsvc.api import state\n")
    (pkg / "pki" / "service.py").write_text("def wire():\n    from authsvc.parties.nca import NcaClient\n")
    (pkg / "parties" / "nca.py").write_text("from ..pki import der\n")
    found = edges(pkg)
    assert violations(found) == ["store imports api, a layer above it: authsvc.store.db:1"]
    assert cycles(found) == [["parties", "pki"]]
