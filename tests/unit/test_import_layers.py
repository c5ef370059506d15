"""Dependencies point one way (docs/architecture.md "Code layout").

Every module of ``src/tradepro`` is read with ``ast`` (nothing is imported, so no side
effects), every ``import`` in it is resolved, lazy and ``TYPE_CHECKING`` ones included,
and each import from one unit of the code to another must be declared in ``ALLOWED``
below. A unit is a top-level package or module of ``tradepro`` (``engine``, ``config``), or
one process package under ``services/`` (``services.engine``): the processes do not import
one another. The declared table itself must have no cycle, and neither may the imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import tradepro

SOURCE_ROOT = Path(tradepro.__file__).resolve().parent

CORE = frozenset({"domain"})
ADAPTERS = frozenset({"bus", "db"})

ALLOWED: Mapping[str, frozenset[str]] = {
    # The pure core: no I/O, nothing of the project above it.
    "domain": frozenset(),
    "engine": CORE,
    # What every process shares; imports nothing of the project, so every layer may use it.
    "runtime": frozenset(),
    # The engine's wire contract: kinds, decoding, rendering, typed replies.
    "protocol": CORE | {"engine"},
    # Adapters. db stores the engine's snapshot and change sets, so it may read their types.
    "bus": CORE | {"runtime"},
    "db": CORE | {"engine", "runtime"},
    # Price sources (Backpack, the simulation): a source used by the poller.
    "feeds": CORE | {"runtime"},
    # Who a caller is: tokens, signed-out sessions, origins; shared by api and ws.
    "security": CORE | {"engine", "protocol", "runtime"},
    "config": CORE | {"engine", "security"},
    # The browser UI: plain files the API serves.
    "web": frozenset(),
    # The processes. The API serves the UI; no process imports another.
    "api": CORE
    | ADAPTERS
    | {"engine", "protocol", "security", "feeds", "runtime", "config", "web"},
    "services": frozenset(),
    "services.engine": CORE | ADAPTERS | {"engine", "protocol", "runtime", "config"},
    "services.poller": CORE | ADAPTERS | {"engine", "protocol", "feeds", "runtime", "config"},
    "services.ws": CORE | ADAPTERS | {"engine", "protocol", "security", "runtime", "config"},
    "services.up": ADAPTERS | {"feeds", "runtime", "config"},
    # Tools on top: the terminal demo, and the command that starts everything.
    "demo": CORE | {"engine", "protocol", "feeds", "runtime"},
    "cli": frozenset(
        {"domain", "engine", "protocol", "bus", "db", "feeds", "runtime", "config", "api"}
        | {"services.engine", "services.poller", "services.ws", "services.up", "demo"}
    ),
}
"""Which units each unit may import. ``tradepro`` itself (``__version__``) is open to all."""


@dataclass(frozen=True)
class Import:
    module: str
    """The importing module, e.g. ``tradepro.services.ws.auth``."""
    target: str
    """The imported module (or package), e.g. ``tradepro.api.security``."""
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = ["tradepro", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules(root: Path = SOURCE_ROOT) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def unit_of(module: str) -> str:
    """``tradepro.services.ws.hub`` -> ``services.ws``; ``tradepro.engine.core`` -> ``engine``."""
    parts = module.split(".")[1:]
    if not parts:
        return "tradepro"
    if parts[0] == "services" and len(parts) > 1:
        return f"services.{parts[1]}"
    return parts[0]


def imports_of(module: str, path: Path, known: Mapping[str, Path]) -> Iterator[Import]:
    """Every import of a ``tradepro`` module in ``path``, relative ones resolved."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "tradepro":
                    yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, is_package, node)
            if base.split(".")[0] != "tradepro":
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield Import(module, submodule if submodule in known else base, node.lineno)


def _resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def all_imports(root: Path = SOURCE_ROOT) -> list[Import]:
    known = source_modules(root)
    return [found for module, path in known.items() for found in imports_of(module, path, known)]


def upward_imports(imports: list[Import]) -> list[str]:
    """One line per import of a unit its unit may not import (sorted, no repeats)."""
    problems: set[str] = set()
    for found in imports:
        source, target = unit_of(found.module), unit_of(found.target)
        if target in (source, "tradepro"):
            continue
        if source not in ALLOWED:
            problems.add(f"{found.module}: its unit {source!r} is not declared in ALLOWED")
        elif target not in ALLOWED[source]:
            problems.add(
                f"{found.module} (line {found.line}) imports {found.target}: "
                f"{source} may not import {target}"
            )
    return sorted(problems)


def cycles(graph: Mapping[str, set[str] | frozenset[str]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def unit_graph(
    imports: list[Import],
) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for found in imports:
        source, target = unit_of(found.module), unit_of(found.target)
        if source != target:
            graph.setdefault(source, set()).add(target)
    return graph


def test_every_unit_is_declared() -> None:
    units = {unit_of(module) for module in source_modules()} - {"tradepro"}
    assert units <= set(ALLOWED), f"undeclared units: {sorted(units - set(ALLOWED))}"


def test_the_declared_layers_have_no_cycle() -> None:
    assert cycles(ALLOWED) == []


def test_no_module_imports_a_unit_above_it() -> None:
    problems = upward_imports(all_imports())
    assert problems == [], "imports against docs/architecture.md 'Code layout':\n" + "\n".join(
        problems
    )


def test_the_units_import_each_other_without_cycles() -> None:
    assert cycles(unit_graph(all_imports())) == []


EQUITY_CODE = frozenset(
    {"tradepro.domain.equity", "tradepro.db.queries.equity", "tradepro.db.queries.stats"}
)
"""What computes equity over time and the statistics (docs/accounts.md "Equity over
time"): in the API's request, never in the engine's process."""


def loaded_by(imports: list[Import], units: frozenset[str], known: Mapping[str, Path]) -> set[str]:
    """Every module a process made of ``units`` can load: their modules, what they import
    (lazy ones too), transitively, with the packages each import runs on the way."""
    graph: dict[str, set[str]] = {}
    for found in imports:
        graph.setdefault(found.module, set()).add(found.target)
    todo = [module for module in known if unit_of(module) in units]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for target in graph.get(module, ()):
            parts = target.split(".")
            todo += [".".join(parts[:n]) for n in range(2, len(parts) + 1)]
    return seen & set(known)


def test_the_engine_process_never_loads_the_equity_and_statistics_code() -> None:
    loaded = loaded_by(all_imports(), frozenset({"engine", "services.engine"}), source_modules())
    assert "tradepro.engine.core" in loaded and "tradepro.services.engine.main" in loaded
    assert sorted(loaded & EQUITY_CODE) == []
    assert loaded_by(all_imports(), frozenset({"api"}), source_modules()) >= EQUITY_CODE


# -- the checker itself, on a planted tree ------------------------------------------------


def plant(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / "tradepro" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "tradepro"


@pytest.mark.parametrize(
    "violation",
    [
        "from tradepro.services.ws.hub import Hub\n",  # engine -> a process
        "from ..protocol import kinds\n",  # relative, engine -> protocol
        "def lazy():\n    import tradepro.api.app\n",  # inside a function
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tradepro import bus\n",
    ],
)
def test_a_planted_upward_import_is_named(tmp_path: Path, violation: str) -> None:
    root = plant(
        tmp_path,
        {
            "__init__.py": "",
            "engine/__init__.py": "",
            "engine/core.py": "from tradepro.domain import fixed\n" + violation,
            "domain/__init__.py": "",
            "domain/fixed.py": "",
            "protocol/__init__.py": "",
            "protocol/kinds.py": "",
            "bus/__init__.py": "",
            "api/__init__.py": "",
            "api/app.py": "",
            "services/__init__.py": "",
            "services/ws/__init__.py": "",
            "services/ws/hub.py": "",
        },
    )
    problems = upward_imports(all_imports(root))
    assert len(problems) == 1
    assert problems[0].startswith("tradepro.engine.core (line ")
    assert "engine may not import" in problems[0]


def test_one_process_importing_another_is_named(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "services/__init__.py": "",
            "services/up/__init__.py": "",
            "services/up/main.py": "from tradepro.services.engine.worker import EngineWorker\n",
            "services/engine/__init__.py": "",
            "services/engine/worker.py": "",
        },
    )
    assert upward_imports(all_imports(root)) == [
        "tradepro.services.up.main (line 1) imports tradepro.services.engine.worker: "
        "services.up may not import services.engine"
    ]


def test_an_import_cycle_between_units_is_found(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "web/__init__.py": "from tradepro.api import deps\n",
            "api/__init__.py": "",
            "api/deps.py": "from tradepro.web import serve\n",
            "web/serve.py": "",
        },
    )
    assert cycles(unit_graph(all_imports(root))) == [["api", "web"]]


def test_a_planted_import_of_the_equity_code_by_the_engine_is_found(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "__init__.py": "",
            "engine/__init__.py": "",
            "engine/core.py": "def later():\n    from tradepro.db.queries import helpers\n",
            "db/__init__.py": "",
            "db/queries/__init__.py": "from tradepro.db.queries import equity\n",
            "db/queries/helpers.py": "",
            "db/queries/equity.py": "",
        },
    )
    known = source_modules(root)
    loaded = loaded_by(all_imports(root), frozenset({"engine"}), known)
    assert "tradepro.db.queries.equity" in loaded  # through the package's __init__
